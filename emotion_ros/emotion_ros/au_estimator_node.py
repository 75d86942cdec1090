"""au_estimator node: tracked faces (with their aligned crops) in, Action Units out.

Subscribes  faces (emotion_ros_msgs/FaceArray), from face_detector with crop_size > 0.
Publishes   action_units (emotion_ros_msgs/ActionUnitsArray), one per faces
            message, with the image's header; all faces of a frame go
            through the network in one batch. With `eyes_closed` on, a face
            with FaceMesh landmarks (the face detector's `landmarks`) also
            gets AU 43, eyes closed, from its eyelids (face_landmarks.au43).
            Each tracked face is read at most `au_rate` times a second (15 by
            default: every other frame of a 30 frames/s camera; 5 in the robot
            budget mode; reading_rate.ReadingSchedule); between two readings a
            face is published with its last AUs, at camera rate.
A lifecycle node (node_support.PipelineStage): configure loads the model,
cleanup frees it; when behind, it processes the newest faces message and the one
before it, and drops the older ones (node_support).
"""
import math

import numpy as np
from emotion_ros_msgs.msg import ActionUnitsArray, Face, FaceActionUnits, FaceArray

from .au_model import BACKENDS, AUModel
from .face_landmarks import AU43, FACEMESH_POINTS, au43
from .image_conversion import ImageConversionError
from .node_support import LastFrameAnswers, PipelineStage, run_stage
from .openvino_runtime import INFERENCE_THREADS
from .parameter_checks import Param, at_least, between, one_of
from .reading_rate import ReadingSchedule
from .ros_messages import face_id_problem, image_msg_to_bgr, stamp_to_seconds

MAX_CROP_PIXELS = 512 * 512

PARAMETERS = {
    'model_path': Param('', description="AU model directory; '' = the model shipped in the "
                        'package'),
    'backend': Param('openvino', one_of(*BACKENDS), 'openvino (fastest) or tensorflow (CPU, the '
                     'reference the model is trained in; slow to start)'),
    'device': Param('CPU', description='openvino: CPU, GPU, NPU, MYRIAD (OpenVINO 2022.3 only), '
                    'AUTO'),
    'precision': Param('f32', one_of('f32', 'bf16', 'f16', ''), "openvino CPU/GPU: f32, bf16, "
                       "f16, '' = device default"),
    'fallback_device': Param('', description="openvino: used when `device` is missing; '' = fail"),
    'inference_threads': Param(INFERENCE_THREADS, at_least(0), 'openvino CPU: threads per '
                               'network call; 0 = one per core (a little faster, far more CPU)'),
    'presence_threshold': Param(0.5, between(0.0, 1.0),
                                'probability at which an AU is listed in `present`'),
    'max_batch': Param(16, at_least(1), 'most images per network call (a face and its mirror '
                       'image are two)'),
    'au_rate': Param(15.0, at_least(0.0), 'Hz: AU readings a second per tracked face; between '
                     'two, a face keeps its last AUs (still published every frame); 0 = every '
                     'face on every frame'),
    'eyes_closed': Param(False, description='append AU 43 (eyes closed, probability and 0..5 '
                         'intensity) from the eyelids to faces with FaceMesh landmarks'),
}


class AUEstimatorNode(PipelineStage):
    PARAMETERS = PARAMETERS
    LIVE_PARAMETERS = {'presence_threshold', 'eyes_closed', 'au_rate'}

    def __init__(self, **kwargs):
        super().__init__('au_estimator', **kwargs)
        self.model = None
        self.schedule = ReadingSchedule()
        self._last_output = LastFrameAnswers()  # the FaceActionUnits published for each face
        self._read_crops = {}       # face id -> the pixels (crop data) it last read

    def configure_stage(self, p):
        options = ({'precision': p['precision'], 'fallback_device': p['fallback_device'],
                    'threads': p['inference_threads']}
                   if p['backend'] == 'openvino' else {})
        self.schedule = ReadingSchedule()
        self._last_output, self._read_crops = LastFrameAnswers(), {}
        self.model = AUModel(p['model_path'] or None, p['backend'], p['device'], p['max_batch'],
                             **options)
        if self.model.backend.note:
            self.get_logger().warning(self.model.backend.note)
        self.au_pub = self.stage_publisher(ActionUnitsArray, 'action_units')
        self.get_logger().info(
            f"AU model {self.model.model_dir} ({len(self.model.au_codes)} AUs) on "
            f"{p['backend']}/{self.model.backend.device}")

    def release_stage(self):
        self.model = None

    def stage_input(self):
        return FaceArray, 'faces', 5

    def stage_diagnostics(self):
        return {'backend': self.settings['backend'],
                'device': self.model.backend.device if self.model else self.settings['device']}

    def process(self, msg: FaceArray):
        # Every crop is checked, due or not (a 48 px view, cheap): a face with a bad crop is
        # dropped before its id counts, as a face without one is. A face message this stage
        # had in the last frame (the detector's frames given the last look's faces, handed on
        # in-process) was checked then: its crop is decoded only when it is due.
        faces, face_crops, ids = [], [], set()
        for face in msg.faces:
            problem = face_id_problem(face.id, ids)
            if problem:
                self.errors.error('bad_face_id', problem)
                continue
            crop = None
            if not self._last_output.seen(face.id, face):
                if face.crop.width == 0:
                    self.errors.error('no_crop', f'face {face.id} has no crop: set the face '
                                      'detector\'s crop_size > 0')
                    continue
                try:
                    crop = image_msg_to_bgr(face.crop, MAX_CROP_PIXELS)
                except ImageConversionError as error:
                    self.errors.error(error.kind, f'face {face.id}: bad crop: {error}')
                    continue
            faces.append(face)
            face_crops.append(crop)
            ids.add(face.id)
        self.schedule.rate = self.settings['au_rate']
        stamp = stamp_to_seconds(msg.header.stamp) or self.now_seconds()
        # A face whose crop is the one read last (a frame given the last look's faces) has
        # nothing new to read: it stays due until a new crop comes.
        due = [now and not self._read_already(face) for face, now in
               zip(faces, self.schedule.due([face.id for face in faces], stamp))]
        read = [face for face, now in zip(faces, due) if now]
        crops = [image_msg_to_bgr(face.crop, MAX_CROP_PIXELS) if crop is None else crop
                 for face, crop, now in zip(faces, face_crops, due) if now]
        try:
            probabilities = self.model.predict_proba(crops)
        except Exception as error:  # one bad batch must not take the node down
            self.errors.error('inference', f'AU inference failed: {error!r}')
            return None
        for face, p in zip(read, probabilities):
            self.schedule.read(face.id, stamp, p.tolist())
        self._read_crops = {face.id: self._read_crops.get(face.id) for face in faces} | \
            {face.id: face.crop.data for face in read}
        settings = (self.settings['presence_threshold'], self.settings['eyes_closed'])
        out = ActionUnitsArray(header=msg.header, image_width=msg.image_width,
                               image_height=msg.image_height)
        for face, now in zip(faces, due):
            # The same face message, not read again, the same settings: the same answer.
            face_aus = None if now else self._last_output.answer(face.id, face, settings)
            if face_aus is None:
                face_aus = self._face_action_units(face, self.schedule.last(face.id))
            out.faces.append(face_aus)
        self._last_output.keep((face.id, face, face_aus, settings)
                               for face, face_aus in zip(faces, out.faces))
        self.au_pub.publish(out)
        return len(out.faces)

    def _read_already(self, face) -> bool:
        """Whether the face's crop is the one its last reading, still kept, read (the same
        pixels). A face the schedule forgot (gone for a while, a bag played again) is read."""
        last = self._read_crops.get(face.id)
        return last is not None and self.schedule.last(face.id) is not None and \
            (last is face.crop.data or last == face.crop.data)

    def _face_action_units(self, face, probabilities) -> FaceActionUnits:
        codes, p, intensities = list(self.model.au_codes), list(probabilities), []
        eyes = self.eyes_closed(face)
        if eyes is not None:
            codes.append(AU43)
            p.append(eyes[0])
            intensities = [math.nan] * (len(codes) - 1) + [eyes[1]]
        threshold = self.settings['presence_threshold']
        return FaceActionUnits(face_id=face.id, box=face.box, au_codes=codes, probabilities=p,
                               intensities=intensities,
                               present=[code for code, value in zip(codes, p) if value >= threshold])

    def eyes_closed(self, face):
        """(probability, intensity) of AU43 from the face's FaceMesh points, or None."""
        if (not self.settings['eyes_closed'] or face.landmark_type != Face.LANDMARKS_FACEMESH_468
                or len(face.landmarks) < 2 * FACEMESH_POINTS):
            return None
        points = np.asarray(face.landmarks[:2 * FACEMESH_POINTS], np.float32).reshape(-1, 2)
        return au43(points) if np.all(np.isfinite(points)) else None


def main(args=None):
    run_stage(AUEstimatorNode, args)


if __name__ == '__main__':
    main()
