"""The composed pipeline: face_detector, au_estimator, emotion (and optionally care_speaker) in one process.

    ros2 run emotion_ros pipeline [--behaviour] --ros-args -r image:=/camera/image_raw

One executor spins the same node classes the separate executables run, with
the same parameters: the installed config/pipeline.yaml unless a
`--params-file` is given. One process saves a DDS hop's serialisation per
stage, and it is how the pipeline runs where `ros2 launch` is not installed.
Remappings and `-r __ns:=/robot` apply to every node.
"""
import os
import sys

import rclpy
from ament_index_python.packages import get_package_share_directory
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.utilities import remove_ros_args

from .au_estimator_node import AUEstimatorNode
from .care_speaker_node import CareSpeakerNode
from .emotion_node import EmotionNode
from .face_detector_node import FaceDetectorNode


def default_params_file() -> str:
    return os.path.join(get_package_share_directory('emotion_ros'), 'config', 'pipeline.yaml')


def with_default_params(args: list[str]) -> list[str]:
    """`args` plus the installed pipeline.yaml, unless they name a params file already."""
    if '--params-file' in args:
        return args
    if '--ros-args' not in args:
        args = [*args, '--ros-args']
    return [*args, '--params-file', default_params_file()]


def main(args=None):
    args = list(sys.argv if args is None else args)
    behaviour = '--behaviour' in remove_ros_args(args)
    rclpy.init(args=with_default_params(args))
    executor = SingleThreadedExecutor()
    nodes = []
    try:
        node_classes = [FaceDetectorNode, AUEstimatorNode, EmotionNode]
        if behaviour:
            node_classes.append(CareSpeakerNode)
        for node_class in node_classes:
            nodes.append(node_class())
            executor.add_node(nodes[-1])
        nodes[0].get_logger().info(
            f"pipeline composed in one process: {', '.join(n.get_name() for n in nodes)}")
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
