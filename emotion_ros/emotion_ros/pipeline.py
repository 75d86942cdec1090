"""The composed pipeline: face_detector, au_estimator, emotion (and optionally care_speaker) in one process.

    ros2 run emotion_ros pipeline [--behaviour] [--hri] [--au-backend tensorflow] [--au-device NPU] \
        [--profile robot] --ros-args -r image:=/camera/image_raw [--params-file my_pipeline.yaml]

One executor spins the same node classes the separate executables run, with
the same parameters: the installed config/pipeline.yaml unless a
`--params-file` is given; --profile NAME adds the installed config/NAME.yaml
over it (robot: the robot budget mode, see config/robot.yaml; pepper), and a
`--params-file` of your own, given after, over both. It is how the pipeline runs where `ros2 launch` is
not installed, and it is faster: the detector feeds the AU stage, and that
the emotion stage, in-process (node_support.StageOutput), so faces and
action_units are serialised only for other subscribers (rosbag record) and
a frame needs one executor wake-up, not three. The stages of that chain share
one lock (node_support.one_at_a_time), so they may also be spun by a
MultiThreadedExecutor; this runner uses node_common.make_executor's (events-driven where
the distro has one, else single-threaded).
Each stage is a lifecycle node brought up to active unless its `autostart`
is false (then a lifecycle manager drives it through its services).
--hri adds hri_publisher (ROS4HRI topics under /humans/faces; needs hri_msgs).
Ctrl-C or SIGTERM shuts the stages down (the emotion stage ends its episodes first).
Remappings and `-r __ns:=/robot` apply to every node; --au-backend and
--au-device set the au_estimator's `backend` and `device` (as the launch
file's au_backend and au_device arguments do), over the YAML.
"""
import argparse
import os
import sys

import rclpy
from ament_index_python.packages import get_package_share_directory
from rclpy.executors import ExternalShutdownException
from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args

from .au_estimator_node import AUEstimatorNode
from .care_speaker_node import CareSpeakerNode
from .emotion_node import EmotionNode
from .face_detector_node import FaceDetectorNode
from .hri_publisher_node import HriPublisherNode, import_hri_msgs, report_missing_hri_msgs
from .node_common import init_stoppable, make_executor, spin_until_stopped
from .node_support import bring_up, shut_down


def default_params_file() -> str:
    return os.path.join(get_package_share_directory('emotion_ros'), 'config', 'pipeline.yaml')


def profile_params_file(profile: str) -> str:
    """The installed config/<profile>.yaml (robot, pepper, ...)."""
    path = os.path.join(os.path.dirname(default_params_file()), f'{profile}.yaml')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'no profile {profile!r}: {path} is not installed')
    return path


def with_default_params(args: list[str], profile: str = '') -> list[str]:
    """`args` with the installed pipeline.yaml first, unless they name a params file already,
    and then the profile's file.

    First, so that the user's own params file and `-p` settings, which come later, win.
    """
    files = [] if '--params-file' in args else [default_params_file()]
    files += [profile_params_file(profile)] if profile else []
    if not files:
        return args
    return [args[0], '--ros-args', *(part for path in files for part in ('--params-file', path)),
            '--', *args[1:]]


def main(args=None):
    args = list(sys.argv if args is None else args)
    parser = argparse.ArgumentParser(prog='pipeline', description=__doc__.splitlines()[0])
    parser.add_argument('--behaviour', action='store_true', help='also run care_speaker')
    parser.add_argument('--au-backend', help='au_estimator backend: tensorflow or openvino')
    parser.add_argument('--au-device', help='au_estimator device: CPU, GPU, NPU, MYRIAD, AUTO')
    parser.add_argument('--hri', action='store_true',
                        help='also publish ROS4HRI topics (hri_publisher; needs hri_msgs)')
    parser.add_argument('--profile', default='',
                        help='parameters over pipeline.yaml from the installed config/PROFILE.yaml: '
                             'robot (the robot budget mode: AUs of a face 5 times a second), pepper')
    options = parser.parse_args(remove_ros_args(args)[1:])
    hri = import_hri_msgs() if options.hri else None
    if options.hri and hri is None:
        report_missing_hri_msgs('pipeline')
        sys.exit(1)
    au_overrides = [Parameter(name, value=value) for name, value in
                    (('backend', options.au_backend), ('device', options.au_device)) if value]
    try:
        args = with_default_params(args, options.profile)
    except FileNotFoundError as error:
        parser.error(str(error))
    init_stoppable(args)
    executor = make_executor()
    nodes = []
    try:
        nodes.append(FaceDetectorNode())
        nodes.append(AUEstimatorNode(upstream=nodes[-1], parameter_overrides=au_overrides))
        nodes.append(EmotionNode(upstream=nodes[-1]))
        if options.behaviour:
            nodes.append(CareSpeakerNode())
        if hri is not None:
            nodes.append(HriPublisherNode(hri))
        for node in nodes:
            bring_up(node)
            executor.add_node(node)
        nodes[0].get_logger().info(
            f"pipeline composed in one process: {', '.join(n.get_name() for n in nodes)}")
        spin_until_stopped(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        if rclpy.ok():   # stopped by a signal: the stages shut down, upstream first
            for node in nodes:
                shut_down(node)
                if isinstance(node, HriPublisherNode):
                    node.finish()
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
