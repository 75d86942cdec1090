"""face_detector node: camera images in, tracked faces (with aligned crops) out.

Subscribes  image (sensor_msgs/Image), or image/compressed
            (sensor_msgs/CompressedImage) when `input_compressed` is true.
Publishes   faces (emotion_ros_msgs/FaceArray), one per processed image;
            faces/debug_image (sensor_msgs/Image), only while subscribed.
A lifecycle node (node_support.PipelineStage): when behind, it processes
the newest frame and the one before it, drops older ones and counts them on
/diagnostics. Track ids
are unique over the node's run, across reconfigures, and across restarts
(tracking.run_face_ids).
"""
import numpy as np
from emotion_ros_msgs.msg import Face, FaceArray
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from .alignment import CROP_MARGIN, CROP_SIZE
from .face_detection import DETECTORS, REGION_PRECISION, make_detector, make_region_detector
from .face_landmarks import FaceMesh
from .face_perception import FacePerception, draw_faces
from .image_conversion import ImageConversionError
from .node_support import PipelineStage, run_stage
from .openvino_runtime import INFERENCE_THREADS
from .parameter_checks import Param, at_least, between, greater_than, one_of
from .ros_messages import (bgr_to_image_msg, decode_image, face_msg, header_msg, image_msg_to_bgr,
                           stamp_to_seconds)
from .tracking import FaceTracker, run_face_ids

PARAMETERS = {
    'detector': Param('blazeface', one_of(*DETECTORS), 'blazeface (full-range BlazeFace: small '
                      'and turned faces, eye keypoints), blazeface_short (faces within ~2 m) or '
                      'haar (OpenCV frontal cascade, no keypoints)'),
    'device': Param('CPU', description='OpenVINO device for BlazeFace and FaceMesh: CPU, GPU, NPU'),
    'inference_threads': Param(INFERENCE_THREADS, at_least(0), 'CPU threads per OpenVINO '
                               'network; 0 = one per core (a little faster, far more CPU)'),
    'close_face_fallback': Param(True, description='blazeface: on frames where it finds no '
                                 'face, the short-range model looks for one filling the picture'),
    'score_threshold': Param(0.5, between(0.0, 1.0), 'lowest detection score kept'),
    'new_track_score': Param(0.7, between(0.0, 1.0), 'lowest score that starts a new track'),
    'nms_threshold': Param(0.3, between(0.0, 1.0),
                           'IoU above which overlapping detections merge'),
    'max_faces': Param(10, at_least(1), 'most faces per frame'),
    'min_face_size': Param(0.0, at_least(0.0), 'px; smaller faces are dropped'),
    'max_rate': Param(0.0, at_least(0.0), 'Hz cap on processed frames (ROS time); '
                      '0 = every frame'),
    'full_detection_interval': Param(0.2, at_least(0.0), 's between looks at the whole frame '
                                     '(new faces); between two, the short-range model finds '
                                     'the last frame\'s faces (up to 2) around where they were; '
                                     '0 = the whole frame every frame'),
    'region_precision': Param(REGION_PRECISION, one_of('f32', 'bf16', 'f16', ''), 'CPU '
                              'inference precision of the short-range network that finds '
                              'followed faces again (full_detection_interval); a CPU without '
                              'bf16 or f16 runs it in f32; \'\' = the device\'s default'),
    'detection_interval': Param(0.0, at_least(0.0), 's: the least time between two looks for '
                                'faces (whole frame or regions); a frame sooner gets the last '
                                'look\'s faces again (boxes, crops, ids), no network run; '
                                '0 = a look on every frame'),
    'max_image_pixels': Param(3840 * 2160, at_least(1), 'larger images are dropped'),
    'input_compressed': Param(False, description='true: subscribe image/compressed (JPEG/PNG)'),
    'input_reliability': Param('best_effort', one_of('best_effort', 'reliable'),
                               'best_effort (sensor data) or reliable'),
    'landmarks': Param(False, description='MediaPipe FaceMesh: 468 points per tracked face in '
                       'Face.landmarks (LANDMARKS_FACEMESH_468), for AU 43; false = the '
                       'detector\'s keypoints only (one more network call per face)'),
    'crop_size': Param(CROP_SIZE, between(0, 512),
                       'px of the aligned face crops (AU model input); 0 = none'),
    'crop_margin': Param(CROP_MARGIN, between(0.0, 1.0),
                         'border around the box, fraction of its size'),
    'track_max_age': Param(1.0, at_least(0.0), 's a face may go undetected and keep its id'),
    'track_min_iou': Param(0.2, between(0.0, 1.0),
                           'overlap that lets a detection continue a track'),
    'track_max_centre_distance': Param(0.6, at_least(0.0), '... or centre distance, in face '
                                       'sizes'),
    'track_max_size_change': Param(1.5, greater_than(1.0), '... and a face size within this '
                                   'factor of the track\'s'),
}


class FaceDetectorNode(PipelineStage):
    PARAMETERS = PARAMETERS
    LIVE_PARAMETERS = {'max_rate', 'max_image_pixels'}

    def __init__(self, **kwargs):
        super().__init__('face_detector', **kwargs)
        self.perception = None
        self._last_faces = ([], [])     # (tracked faces, their Face messages) of the last frame
        # One id sequence for the node's run, handed to every tracker it creates.
        self.face_ids = run_face_ids()

    def configure_stage(self, p):
        detector = make_detector(p['detector'], p['score_threshold'], p['nms_threshold'],
                                 p['max_faces'], p['min_face_size'], p['device'],
                                 p['close_face_fallback'], p['inference_threads'])
        tracker = FaceTracker(p['track_min_iou'], p['track_max_centre_distance'],
                              p['track_max_age'], p['new_track_score'], p['track_max_size_change'],
                              self.face_ids)
        face_mesh = FaceMesh(p['device'], threads=p['inference_threads']) if p['landmarks'] else None
        regions = make_region_detector(detector, p['inference_threads'], p['device'],
                                       p['region_precision']) \
            if p['full_detection_interval'] > 0 else None
        self.perception = FacePerception(detector, tracker, p['crop_size'], p['crop_margin'],
                                         face_mesh, regions, p['full_detection_interval'],
                                         detection_interval=p['detection_interval'])
        self.last_processed = -float('inf')
        self.faces_pub = self.stage_publisher(FaceArray, 'faces')
        self.debug_pub = self.stage_publisher(Image, 'faces/debug_image', 1)
        self.get_logger().info(f"detector={p['detector']} device={p['device']} "
                               f"region_precision={p['region_precision'] or 'default'} "
                               f"crops={p['crop_size']}px landmarks={p['landmarks']}")

    def release_stage(self):
        self.perception = None
        self._last_faces = ([], [])

    def _face_messages(self, faces, header) -> list:
        """The Face messages of a frame's tracked faces. A frame given the last look's faces
        (detection_interval) gets that look's messages again, only their crops' header this
        frame's: the downstream stages of the composed runner then see the same message objects
        and skip what they did for them (AU readings not due, validation, the k-NN)."""
        last_faces, last_messages = self._last_faces
        if faces and len(faces) == len(last_faces) and \
                all(face is last for face, last in zip(faces, last_faces)):
            for message in last_messages:
                message.crop.header = header
            return last_messages
        messages = [with_mesh(face_msg(face, header), face) for face in faces]
        self._last_faces = (faces, messages)
        return messages

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
        looks = (self.perception.whole_frame_looks, self.perception.region_looks,
                 self.perception.held_frames) if self.perception else (0, 0, 0)
        return {'detector': self.settings['detector'], 'device': self.settings['device'],
                'tracked faces': len(tracks),
                'whole-frame looks': looks[0], 'region looks': looks[1],
                'frames given the last look': looks[2]}

    def process(self, msg):
        now = self.now_seconds()
        max_rate = self.settings['max_rate']
        # A clock that went back (a bag played again) does not hold the input up.
        if max_rate > 0 and 0 <= now - self.last_processed < 1.0 / max_rate:
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
        out.faces = self._face_messages(faces, header)
        self.faces_pub.publish(out)
        if self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(bgr_to_image_msg(draw_faces(image, faces), header))
        return len(faces)


def with_mesh(msg: Face, face) -> Face:
    """The face message with the face's FaceMesh points, then its keypoints (Face.msg)."""
    if face.mesh is not None:
        points = face.mesh if face.keypoints is None else np.concatenate([face.mesh,
                                                                          face.keypoints])
        msg.landmark_type = Face.LANDMARKS_FACEMESH_468
        msg.landmarks = points.astype(np.float32).ravel().tolist()
    return msg


def main(args=None):
    run_stage(FaceDetectorNode, args)


if __name__ == '__main__':
    main()
