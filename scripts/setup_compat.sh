#!/usr/bin/env bash
# The compatibility job's libraries: requirements-minimum.txt (the oldest numpy, SciPy,
# scikit-learn, OpenCV and OpenVINO emotion_ros supports) installed into .cache/compat.
# `make test-compat` puts that folder first on PYTHONPATH, ahead of .venv's site-packages,
# so the tests and the nodes they start (whose scripts run .venv's python) import the old
# versions, and everything else (the ROS 2 wheels, rosbags, pytest) from .venv. A folder,
# not a second venv: the nodes' entry points are bound to .venv's interpreter.
# Running it again only redoes what changed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=$ROOT/.cache/compat
hash=$(sha256sum "$ROOT/requirements-minimum.txt" | cut -d' ' -f1)
if [ "$(cat "$TARGET/.requirements.sha256" 2>/dev/null)" != "$hash" ]; then
  echo "[setup_compat] installing requirements-minimum.txt into $TARGET"
  rm -rf "$TARGET"
  # pip then says that .venv's TensorFlow (ml-dtypes) wants numpy 2: the compatibility
  # job does not load TensorFlow.
  "$ROOT/.venv/bin/pip" install --quiet --disable-pip-version-check --target "$TARGET" \
    -r "$ROOT/requirements-minimum.txt"
  echo "$hash" > "$TARGET/.requirements.sha256"
fi
