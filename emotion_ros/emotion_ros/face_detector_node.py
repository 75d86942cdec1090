"""face_detector node: camera images in, tracked faces (with aligned crops) out.

Subscribes  image (sensor_msgs/Image), or image/compressed
            (sensor_msgs/CompressedImage) when `input_compressed` is true.
Publishes   faces (emotion_ros_msgs/FaceArray), one per processed image;
            faces/debug_image (sensor_msgs/Image), only while subscribed.
A lifecycle node (node_support.PipelineStage): it always works on the
newest frame, drops the others and counts them on /diagnostics.
"""
import time

from emotion_ros_msgs.msg import FaceArray
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from .alignment import CROP_MARGIN, CROP_SIZE
from .face_detection import DETECTORS, make_detector
from .face_perception import FacePerception, draw_faces
from .image_conversion import ImageConversionError
from .node_support import PipelineStage, run_node
from .parameter_checks import Param, at_least, between, greater_than, one_of
from .ros_messages import (bgr_to_image_msg, decode_image, face_msg, header_msg, image_msg_to_bgr,
                           stamp_to_seconds)
from .tracking import FaceTracker

PARAMETERS = {
    'detector': Param('blazeface', one_of(*DETECTORS)),   # blazeface | blazeface_short | haar
    'device': Param('CPU'),                     # OpenVINO device for BlazeFace
    'close_face_fallback': Param(True),         # blazeface: short range where full range finds none
    'score_threshold': Param(0.5, between(0.0, 1.0)),     # lowest detection score kept
    'new_track_score': Param(0.7, between(0.0, 1.0)),     # lowest score that starts a new track
    'nms_threshold': Param(0.3, between(0.0, 1.0)),
    'max_faces': Param(10, at_least(1)),
    'min_face_size': Param(0.0, at_least(0.0)),           # px, smaller faces are dropped
    'max_rate': Param(0.0, at_least(0.0)),                # Hz, 0 = process every frame
    'max_image_pixels': Param(3840 * 2160, at_least(1)),  # larger images are dropped
    'input_compressed': Param(False),
    'input_reliability': Param('best_effort', one_of('best_effort', 'reliable')),
    'crop_size': Param(CROP_SIZE, between(0, 512)),       # px of the aligned crops, 0 = none
    'crop_margin': Param(CROP_MARGIN, between(0.0, 1.0)),  # border, fraction of the face size
    'track_max_age': Param(1.0, at_least(0.0)),           # s a lost face keeps its id
    'track_min_iou': Param(0.2, between(0.0, 1.0)),
    'track_max_centre_distance': Param(0.6, at_least(0.0)),   # face sizes
    'track_max_size_change': Param(1.5, greater_than(1.0)),   # factor
}


class FaceDetectorNode(PipelineStage):
    PARAMETERS = PARAMETERS
    LIVE_PARAMETERS = {'max_rate', 'max_image_pixels'}

    def __init__(self, **kwargs):
        super().__init__('face_detector', **kwargs)
        self.perception = None

    def configure_stage(self, p):
        detector = make_detector(p['detector'], p['score_threshold'], p['nms_threshold'],
                                 p['max_faces'], p['min_face_size'], p['device'],
                                 p['close_face_fallback'])
        tracker = FaceTracker(p['track_min_iou'], p['track_max_centre_distance'],
                              p['track_max_age'], p['new_track_score'], p['track_max_size_change'])
        self.perception = FacePerception(detector, tracker, p['crop_size'], p['crop_margin'])
        self.last_processed = -float('inf')
        self.faces_pub = self.stage_publisher(FaceArray, 'faces')
        self.debug_pub = self.stage_publisher(Image, 'faces/debug_image', 1)
        self.get_logger().info(f"detector={p['detector']} device={p['device']} "
                               f"crops={p['crop_size']}px")

    def release_stage(self):
        self.perception = None

    def stage_input(self):
        # Sensor-data QoS (best effort, keep last 5): the worker takes the newest.
        qos = QoSProfile(depth=qos_profile_sensor_data.depth,
                         history=qos_profile_sensor_data.history,
                         durability=qos_profile_sensor_data.durability,
                         reliability=qos_profile_sensor_data.reliability)
        if self.settings['input_reliability'] == 'reliable':
            qos.reliability = ReliabilityPolicy.RELIABLE
        if self.settings['input_compressed']:
            return CompressedImage, 'image/compressed', qos
        return Image, 'image', qos

    def input_decoder(self):
        # Raw frames are decoded by rosbags (numpy views), compressed ones by rclpy (small).
        return None if self.settings['input_compressed'] else decode_image

    def stage_diagnostics(self):
        tracks = self.perception.tracker.tracks if self.perception else ()
        return {'detector': self.settings['detector'], 'device': self.settings['device'],
                'tracked faces': len(tracks)}

    def process(self, msg):
        now = time.monotonic()
        max_rate = self.settings['max_rate']
        if max_rate > 0 and now - self.last_processed < 1.0 / max_rate:
            return None
        self.last_processed = now
        try:
            image = image_msg_to_bgr(msg, self.settings['max_image_pixels'])
        except ImageConversionError as error:
            self.errors.error(error.kind, f'dropped image: {error}')
            return None
        stamp = stamp_to_seconds(msg.header.stamp) or self.now_seconds()
        try:
            faces = self.perception.process(image, stamp)
        except Exception as error:  # a bad frame must not take the node down
            self.errors.error('processing', f'face detection failed: {error!r}')
            return None
        header = header_msg(msg.header)
        out = FaceArray(header=header, image_width=image.shape[1], image_height=image.shape[0])
        out.faces = [face_msg(face, header) for face in faces]
        self.faces_pub.publish(out)
        if self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(bgr_to_image_msg(draw_faces(image, faces), header))
        return len(faces)


def main(args=None):
    run_node(FaceDetectorNode, args)


if __name__ == '__main__':
    main()
