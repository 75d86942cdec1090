# Sourced by `make test` after env.sh: the ROS 2 command line and launch (ros2 launch, ros2 run,
# ros2 lifecycle, ...) and hri_msgs, which have no PyPI wheels, from ../shared/vendor/ros2 when it
# is beside the checkout (test-only: the package itself never needs ../shared). Installs them into
# .venv and .cache/ros2_tools (idempotent, ~2 minutes the first time) and puts them on the path.
# On a ROS install they come from the distribution; without either, the tests that need them skip.
_ros2_vendor="$(pwd)/../shared/vendor/ros2"
if [ -f "$_ros2_vendor/install.sh" ]; then
  bash "$_ros2_vendor/install.sh" "$VIRTUAL_ENV" "$(pwd)/.cache/ros2_tools" >/dev/null
  . "$(pwd)/.cache/ros2_tools/setup.sh" 2>/dev/null
elif ! python -c 'import launch_ros' 2>/dev/null; then
  echo "[test] no ROS 2 command line (ros2 launch) here: the tests that need it skip"
fi
unset _ros2_vendor
