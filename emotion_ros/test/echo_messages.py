"""Echoes every emotion_ros_msgs type: <Type>/in -> <Type>/out (for the round-trip test)."""
import rclpy
from rclpy.executors import ExternalShutdownException

import emotion_ros_msgs.msg as msgs

TYPES = ('BoundingBox', 'Face', 'FaceArray', 'FaceActionUnits', 'ActionUnitsArray',
         'FaceEmotion', 'EmotionArray', 'EmotionEvent')


def main():
    rclpy.init()
    node = rclpy.create_node('echo_messages')
    for name in TYPES:
        publisher = node.create_publisher(getattr(msgs, name), f'roundtrip/{name}/out', 10)
        node.create_subscription(getattr(msgs, name), f'roundtrip/{name}/in',
                                 publisher.publish, 10)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
