"""face_detector node: camera images in, tracked faces (with aligned crops) out.

Subscribes  image (sensor_msgs/Image), or image/compressed
            (sensor_msgs/CompressedImage) when `input_compressed` is true.
Publishes   faces (emotion_ros_msgs/FaceArray), one per processed image;
            faces/debug_image (sensor_msgs/Image), only while subscribed.
The input has sensor-data QoS with depth 1: the node always works on the
newest frame and never queues a backlog.
"""
import time

from emotion_ros_msgs.msg import FaceArray
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from .alignment import CROP_MARGIN, CROP_SIZE
from .face_detection import DETECTORS, make_detector
from .face_perception import FacePerception, draw_faces
from .image_conversion import ImageConversionError
from .node_support import ErrorLog, declare_parameters, run_node
from .ros_messages import bgr_to_image_msg, face_msg, image_msg_to_bgr, stamp_to_seconds
from .tracking import FaceTracker

PARAMETERS = {
    'detector': 'blazeface',        # blazeface | blazeface_short | haar
    'device': 'CPU',                # OpenVINO device for BlazeFace
    'score_threshold': 0.5,         # lowest detection score kept
    'new_track_score': 0.7,         # lowest score that starts a new track
    'nms_threshold': 0.3,
    'max_faces': 10,
    'min_face_size': 0.0,           # px, smaller faces are dropped
    'max_rate': 0.0,                # Hz, 0 = process every frame
    'input_compressed': False,
    'input_reliability': 'best_effort',   # best_effort | reliable
    'crop_size': CROP_SIZE,         # px of the aligned crops (the AU model's input), 0 = none
    'crop_margin': CROP_MARGIN,     # border around the face box, fraction of its size
    'track_max_age': 1.0,           # s a lost face keeps its id
    'track_min_iou': 0.2,
    'track_max_centre_distance': 0.6,   # face sizes
    'track_max_size_change': 1.5,       # factor
}


class FaceDetectorNode(Node):
    def __init__(self, **kwargs):
        super().__init__('face_detector', **kwargs)
        p = declare_parameters(self, PARAMETERS)
        if p['detector'] not in DETECTORS:
            raise ValueError(f"parameter detector='{p['detector']}' is not one of {DETECTORS}")

        detector = make_detector(p['detector'], p['score_threshold'], p['nms_threshold'],
                                 p['max_faces'], p['min_face_size'], p['device'])
        tracker = FaceTracker(p['track_min_iou'], p['track_max_centre_distance'],
                              p['track_max_age'], p['new_track_score'], p['track_max_size_change'])
        self.perception = FacePerception(detector, tracker, p['crop_size'], p['crop_margin'])
        self.min_period = 1.0 / p['max_rate'] if p['max_rate'] > 0 else 0.0
        self.last_processed = -float('inf')
        self.errors = ErrorLog(self.get_logger())

        self.faces_pub = self.create_publisher(FaceArray, 'faces', 10)
        self.debug_pub = self.create_publisher(Image, 'faces/debug_image', 1)
        qos = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability,
                         history=qos_profile_sensor_data.history,
                         durability=qos_profile_sensor_data.durability)
        if p['input_reliability'] == 'reliable':
            qos.reliability = ReliabilityPolicy.RELIABLE
        if p['input_compressed']:
            self.create_subscription(CompressedImage, 'image/compressed', self.on_image, qos)
        else:
            self.create_subscription(Image, 'image', self.on_image, qos)
        self.get_logger().info(
            f"detector={p['detector']} device={p['device']} crops={p['crop_size']}px, "
            f"listening on {'image/compressed' if p['input_compressed'] else 'image'}")

    def on_image(self, msg):
        now = time.monotonic()
        if now - self.last_processed < self.min_period:
            return
        self.last_processed = now
        try:
            image = image_msg_to_bgr(msg)
        except ImageConversionError as error:
            self.errors.error(error.kind, f'dropped image: {error}')
            return
        stamp = stamp_to_seconds(msg.header.stamp) or self.get_clock().now().nanoseconds * 1e-9
        try:
            faces = self.perception.process(image, stamp)
        except Exception as error:  # a bad frame must not take the node down
            self.errors.error('processing', f'face detection failed: {error!r}')
            return
        out = FaceArray(header=msg.header, image_width=image.shape[1],
                        image_height=image.shape[0])
        out.faces = [face_msg(face, msg.header) for face in faces]
        self.faces_pub.publish(out)
        if self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(bgr_to_image_msg(draw_faces(image, faces), msg.header))


def main(args=None):
    run_node(FaceDetectorNode, args)


if __name__ == '__main__':
    main()
