"""emotion node: Action Units in, smoothed emotions and sustained-emotion events out.

Subscribes  action_units (emotion_ros_msgs/ActionUnitsArray)
Publishes   emotions (emotion_ros_msgs/EmotionArray), one per AU message,
            with the image header: per face the smoothed label, the
            distribution, the smoothed pain score, valence and arousal;
            emotion_events (emotion_ros_msgs/EmotionEvent): START once a
            watched emotion has lasted `event_min_duration` s, END when it stops,
            and, beside those, a `pain` episode while the smoothed pain score
            stays at or above the calibration's threshold as long (`pain_events`)
            or a k-NN with a `pain` label reads pain (one pain episode per
            face from both),
            the face is gone for `face_timeout` s or the node stops. Reliable and
            transient local (node_common.EVENTS_QOS): a behaviour node that
            starts late still gets the START of an ongoing episode.
When the input stops (camera or upstream node down) for `face_timeout` s,
every face is dropped: episodes end and one empty EmotionArray says that no
face is in view, so a stale face is never reported as present. The same
happens when the node is deactivated or shut down.
Time is the node clock's (ROS time): under use_sim_time a paused bag stops
the clock too, and no face times out while it stands still.
A lifecycle node (node_support.PipelineStage).
"""
import numpy as np
from builtin_interfaces.msg import Duration, Time
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, EmotionEvent, FaceEmotion

from .affect import SHIPPED_PAIN_CALIBRATION, PSPI_MAX, PainCalibration, valence_arousal
from .alignment import CROP_MARGIN
from .emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from .emotion_smoothing import EmotionSmoother
from .node_common import EVENTS_QOS
from .node_support import LastFrameAnswers, PipelineStage, run_stage
from .parameter_checks import Param, at_least, between, greater_than
from .ros_messages import face_id_problem, stamp_to_seconds
from .sustained_emotion import (EVENT_EMOTIONS, EVENT_MIN_CONFIDENCE, PAIN, START,
                                PainEpisodeDetector, SustainedEmotionDetector)

PARAMETERS = {
    'classifier_path': Param('', description="k-NN .npz; '' = the one shipped in the package"),
    'half_life': Param(0.5, greater_than(0.0),
                       's: weight of the past in the smoothed distribution'),
    'switch_margin': Param(0.1, between(0.0, 1.0),
                           'lead another emotion needs to take over the label'),
    'face_timeout': Param(1.0, greater_than(0.0), 's without AUs after which a face is dropped '
                          '(ends its episode)'),
    'event_emotions': Param(list(EVENT_EMOTIONS),
                            description='labels whose lasting episodes get START/END events'),
    'event_min_confidence': Param(EVENT_MIN_CONFIDENCE, between(0.0, 1.0),
                                  'lowest smoothed confidence that counts towards an episode'),
    'event_min_duration': Param(3.0, at_least(0.0), 's an emotion must last before a START event'),
    'pain_calibration_path': Param('', description="pain score calibration .json; '' = the one "
                                   'shipped in the package'),
    'pain_events': Param(True, description='pain episodes from the smoothed pain score, whatever '
                         'the k-NN labels'),
    'pain_threshold': Param(0.0, between(0.0, PSPI_MAX), "pain score for pain events; 0 = the "
                            "calibration's (fitted so that calm and smiling faces rarely reach it)"),
}


def _time(seconds: float) -> Time:
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 10 ** 9, nanosec=nanoseconds % 10 ** 9)


def _duration(seconds: float) -> Duration:
    nanoseconds = max(0, int(round(seconds * 1e9)))
    return Duration(sec=nanoseconds // 10 ** 9, nanosec=nanoseconds % 10 ** 9)


class EmotionNode(PipelineStage):
    PARAMETERS = PARAMETERS
    IDLE_PERIOD = 0.1   # s between checks for a stopped input

    def __init__(self, **kwargs):
        super().__init__('emotion', **kwargs)
        self.classifier = None

    def configure_stage(self, p):
        path = p['classifier_path'] or str(SHIPPED_CLASSIFIER_PATH)
        self.classifier = AUEmotionClassifier.load(path)
        pain_path = p['pain_calibration_path'] or str(SHIPPED_PAIN_CALIBRATION)
        self.pain = PainCalibration.load(pain_path)
        pain_threshold = p['pain_threshold'] or self.pain.threshold
        self.smoother = EmotionSmoother(self.classifier.labels, p['half_life'], p['switch_margin'],
                                        p['face_timeout'])
        labels = [label for label in p['event_emotions'] if label != PAIN]
        self.episodes = SustainedEmotionDetector(labels, p['event_min_confidence'],
                                                 p['event_min_duration'])
        self.pain_episodes = PainEpisodeDetector(pain_threshold if p['pain_events'] else None,
                                                 PAIN in p['event_emotions'],
                                                 p['event_min_confidence'], p['event_min_duration'])
        self.last_seen = {}          # face id -> stamp of its last AUs
        self._last_read = LastFrameAnswers()  # (distribution, pain score) of each face
        self.last_stamp = None       # of the last message processed
        self.last_input = None       # node clock time of the last message processed
        self.frame_id = ''
        self.emotions_pub = self.stage_publisher(EmotionArray, 'emotions')
        self.events_pub = self.stage_publisher(EmotionEvent, 'emotion_events', EVENTS_QOS)
        self.get_logger().info(f"k-NN {path}: {', '.join(self.classifier.labels)}; events for "
                               f"{', '.join(p['event_emotions'])} after {p['event_min_duration']} s; "
                               f"pain calibration {pain_path}: "
                               + (f'pain events at score >= {pain_threshold}' if p['pain_events']
                                  else 'no pain events from the score'))

    def release_stage(self):
        self.classifier = None

    def stage_input(self):
        return ActionUnitsArray, 'action_units', 5

    def stage_diagnostics(self):
        return {'faces in view': len(self.last_seen) if self.classifier else 0,
                'sustained episodes': len(self.episodes.active_faces())
                + len(self.pain_episodes.active_faces()) if self.classifier else 0}

    def _valid_faces(self, msg):
        """Faces with an id, the classifier's AUs (others, e.g. AU43, may come too) and
        probabilities in 0..1; the others are counted as errors."""
        faces, ids = [], set()
        for face in msg.faces:
            problem = face_id_problem(face.face_id, ids)
            if problem:
                self.errors.error('bad_face_id', problem)
            elif self._last_read.seen(face.face_id, face):     # checked in the last frame
                faces.append(face)
                ids.add(face.face_id)
            elif not set(self.classifier.au_codes) <= set(face.au_codes):
                self.errors.error('au_mismatch', f'face {face.face_id}: AUs {tuple(face.au_codes)} '
                                  f'lack some of the classifier\'s {self.classifier.au_codes}')
            else:
                p = np.asarray(face.probabilities, np.float32)
                if p.shape != (len(face.au_codes),) or not np.all((p >= 0) & (p <= 1)):
                    self.errors.error('bad_au_vector', f'face {face.face_id}: AU probabilities '
                                      'must be one per AU, each in 0..1 (no NaN or inf)')
                else:
                    faces.append(face)
                    ids.add(face.face_id)
        return faces

    def process(self, msg: ActionUnitsArray):
        stamp = stamp_to_seconds(msg.header.stamp) or self.now_seconds()
        if self.last_stamp is not None and stamp < self.last_stamp:
            if self.last_stamp - stamp <= self.settings['face_timeout']:
                self.errors.error('out_of_order', f'dropped AUs stamped {stamp:.3f}, before the '
                                  f'last one processed ({self.last_stamp:.3f})')
                return None
            # A jump back in time (a bag played again, a clock reset): a new stream.
            self.get_logger().warning(f'time jumped back {self.last_stamp - stamp:.1f} s: '
                                      'starting afresh')
            for face_id in list(self.last_seen):
                self._forget(face_id, stamp)
        self.last_stamp, self.frame_id = stamp, msg.header.frame_id
        # ROS time 0: a sim clock before its first /clock message, no time to count from.
        self.last_input = self.now_seconds() or None
        faces = self._valid_faces(msg)
        readings = self._readings(faces)
        out = EmotionArray(header=msg.header, image_width=msg.image_width,
                           image_height=msg.image_height)
        for face, (distribution, pain) in zip(faces, readings):
            smoothed = self.smoother.update(face.face_id, distribution, stamp, pain)
            valence, arousal = valence_arousal(self.classifier.labels, smoothed.probabilities)
            out.faces.append(FaceEmotion(
                face_id=face.face_id, box=face.box, label=smoothed.label,
                confidence=smoothed.confidence, labels=list(self.classifier.labels),
                probabilities=smoothed.probabilities.tolist(),
                pain_score=smoothed.pain_score, valence=valence,
                arousal=arousal, frame_count=smoothed.frame_count, time_span=smoothed.time_span))
            self.last_seen[face.face_id] = stamp
            for event in [*self.episodes.update(face.face_id, smoothed.label, smoothed.confidence,
                                                stamp),
                          *self.pain_episodes.update(face.face_id, smoothed.label,
                                                     smoothed.confidence, smoothed.pain_score, stamp)]:
                self._publish_event(event, stamp)
        for face_id, seen in list(self.last_seen.items()):
            if not 0 <= stamp - seen <= self.settings['face_timeout']:
                self._forget(face_id, stamp)
        if self.too_old(stamp):   # the last gate: /emotions is never older than max_frame_age
            return None
        self.emotions_pub.publish(out)
        return len(out.faces)

    def _readings(self, faces) -> list:
        """(emotion distribution, pain score) of each face. A face whose AU message is the
        very one of the last frame (the composed runner's frames given the last look's faces,
        AUs not due) gets the last frame's again."""
        readings = [self._last_read.answer(face.face_id, face) for face in faces]
        new = [face for face, reading in zip(faces, readings) if reading is None]
        # Small faces (a few metres away) get the k-NN's points and temperature factor of their
        # size, by the width of the crop the AU model read: the box and the detector's default
        # margin (a face without a box, width 0, is read as full size).
        distributions = iter(self.classifier.predict_proba(
            [self._classifier_input(f) for f in new],
            face_widths=[f.box.width * (1 + 2 * CROP_MARGIN) for f in new]) if new else [])
        for i, face in enumerate(faces):
            if readings[i] is None:
                distribution = next(distributions)
                readings[i] = (distribution, self.pain.score(
                    face.au_codes, face.probabilities, self.classifier.labels, distribution))
        self._last_read.keep((face.face_id, face, reading, None)
                             for face, reading in zip(faces, readings))
        return readings

    def _classifier_input(self, face):
        column = {code: i for i, code in enumerate(face.au_codes)}
        return [face.probabilities[column[code]] for code in self.classifier.au_codes]

    def idle(self):
        """No input for face_timeout s (node clock): nobody is known to be in view any more."""
        now = self.now_seconds()
        if (self.classifier is None or self.last_input is None
                or now - self.last_input < self.settings['face_timeout']):
            return
        self.last_stamp = None   # whatever comes next starts a new stream
        if not self.last_seen:
            return
        self.get_logger().warning(f"no input for {self.settings['face_timeout']} s: dropping "
                                  f'{len(self.last_seen)} face(s)')
        self._nobody_in_view(now)

    def finish(self):
        """Stopping (deactivate, shutdown): every open episode ends and one empty EmotionArray
        says that nobody is in view, so no consumer keeps believing in a watched face."""
        if self.last_seen:
            self.get_logger().info(f'stopping: dropping {len(self.last_seen)} face(s)')
        self._nobody_in_view(self.now_seconds())
        self.last_stamp = self.last_input = None

    def _nobody_in_view(self, now):
        for face_id in list(self.last_seen):
            self._forget(face_id, now)
        out = EmotionArray()
        out.header.stamp, out.header.frame_id = _time(now), self.frame_id
        self.emotions_pub.publish(out)

    def _forget(self, face_id, stamp):
        del self.last_seen[face_id]
        self.smoother.forget(face_id)
        for event in [*self.episodes.face_lost(face_id), *self.pain_episodes.face_lost(face_id)]:
            self._publish_event(event, stamp)

    def _publish_event(self, event, stamp):
        msg = EmotionEvent(type=EmotionEvent.START if event.kind == START else EmotionEvent.END,
                           face_id=event.face_id, emotion=event.emotion, since=_time(event.since),
                           duration=_duration(event.duration), confidence=event.confidence)
        msg.header.stamp = _time(stamp)
        msg.header.frame_id = self.frame_id
        self.events_pub.publish(msg)
        self.get_logger().info(f'{event.kind.upper()}: face {event.face_id} {event.emotion} for '
                               f'{event.duration:.1f} s')


def main(args=None):
    run_stage(EmotionNode, args)


if __name__ == '__main__':
    main()
