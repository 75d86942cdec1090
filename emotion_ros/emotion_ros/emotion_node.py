"""emotion node: Action Units in, smoothed emotions and sustained-emotion events out.

Subscribes  action_units (emotion_ros_msgs/ActionUnitsArray)
Publishes   emotions (emotion_ros_msgs/EmotionArray), one per AU message,
            with the image header: per face the smoothed label, the
            distribution, PSPI pain score, valence and arousal;
            emotion_events (emotion_ros_msgs/EmotionEvent): START once a
            watched emotion has lasted `event_min_duration` s, END when it stops
            or the face is gone for `face_timeout` s.
"""
from builtin_interfaces.msg import Duration, Time
from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, EmotionEvent, FaceEmotion
from rclpy.node import Node

from .affect import pspi, valence_arousal
from .emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from .emotion_smoothing import EmotionSmoother
from .node_support import ErrorLog, declare_parameters, run_node
from .ros_messages import stamp_to_seconds
from .sustained_emotion import START, SustainedEmotionDetector

PARAMETERS = {
    'classifier_path': '',          # k-NN .npz; '' = the one shipped in the package
    'half_life': 0.5,               # s, weight of the past in the smoothed distribution
    'switch_margin': 0.1,           # lead another emotion needs to take over the label
    'face_timeout': 1.0,            # s without AUs after which a face's state is dropped
    'event_emotions': ['sad', 'fear', 'angry', 'pain'],
    'event_min_confidence': 0.5,
    'event_min_duration': 3.0,      # s
}


def _time(seconds: float) -> Time:
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 10 ** 9, nanosec=nanoseconds % 10 ** 9)


def _duration(seconds: float) -> Duration:
    nanoseconds = max(0, int(round(seconds * 1e9)))
    return Duration(sec=nanoseconds // 10 ** 9, nanosec=nanoseconds % 10 ** 9)


class EmotionNode(Node):
    def __init__(self, **kwargs):
        super().__init__('emotion', **kwargs)
        p = declare_parameters(self, PARAMETERS)
        path = p['classifier_path'] or str(SHIPPED_CLASSIFIER_PATH)
        self.classifier = AUEmotionClassifier.load(path)
        self.smoother = EmotionSmoother(self.classifier.labels, p['half_life'], p['switch_margin'],
                                        p['face_timeout'])
        self.episodes = SustainedEmotionDetector(p['event_emotions'], p['event_min_confidence'],
                                                 p['event_min_duration'])
        self.face_timeout = p['face_timeout']
        self.last_seen = {}
        self.errors = ErrorLog(self.get_logger())
        self.emotions_pub = self.create_publisher(EmotionArray, 'emotions', 10)
        self.events_pub = self.create_publisher(EmotionEvent, 'emotion_events', 10)
        self.create_subscription(ActionUnitsArray, 'action_units', self.on_action_units, 1)
        self.get_logger().info(f"k-NN {path}: {', '.join(self.classifier.labels)}; events for "
                               f"{', '.join(p['event_emotions'])} after {p['event_min_duration']} s")

    def on_action_units(self, msg: ActionUnitsArray):
        stamp = stamp_to_seconds(msg.header.stamp)
        out = EmotionArray(header=msg.header, image_width=msg.image_width,
                           image_height=msg.image_height)
        faces = []
        for face in msg.faces:
            if tuple(face.au_codes) != self.classifier.au_codes:
                self.errors.error('au_mismatch', f'face {face.face_id}: AUs {tuple(face.au_codes)} '
                                  f'do not match the classifier\'s {self.classifier.au_codes}')
                continue
            faces.append(face)
        try:
            distributions = self.classifier.predict_proba([f.probabilities for f in faces]) \
                if faces else []
        except ValueError as error:
            self.errors.error('bad_au_vector', f'dropped AU message: {error}')
            return
        for face, distribution in zip(faces, distributions):
            smoothed = self.smoother.update(face.face_id, distribution, stamp)
            valence, arousal = valence_arousal(self.classifier.labels, smoothed.probabilities)
            out.faces.append(FaceEmotion(
                face_id=face.face_id, box=face.box, label=smoothed.label,
                confidence=smoothed.confidence, labels=list(self.classifier.labels),
                probabilities=smoothed.probabilities.tolist(),
                pain_score=pspi(face.au_codes, face.probabilities), valence=valence,
                arousal=arousal, frame_count=smoothed.frame_count, time_span=smoothed.time_span))
            self.last_seen[face.face_id] = stamp
            for event in self.episodes.update(face.face_id, smoothed.label, smoothed.confidence, stamp):
                self._publish_event(event, msg.header.frame_id, stamp)
        for face_id, seen in list(self.last_seen.items()):
            if not 0 <= stamp - seen <= self.face_timeout:
                del self.last_seen[face_id]
                self.smoother.forget(face_id)
                for event in self.episodes.face_lost(face_id):
                    self._publish_event(event, msg.header.frame_id, stamp)
        self.emotions_pub.publish(out)

    def _publish_event(self, event, frame_id, stamp):
        msg = EmotionEvent(type=EmotionEvent.START if event.kind == START else EmotionEvent.END,
                           face_id=event.face_id, emotion=event.emotion, since=_time(event.since),
                           duration=_duration(event.duration), confidence=event.confidence)
        msg.header.stamp = _time(stamp)
        msg.header.frame_id = frame_id
        self.events_pub.publish(msg)
        self.get_logger().info(f'{event.kind.upper()}: face {event.face_id} {event.emotion} for '
                               f'{event.duration:.1f} s')


def main(args=None):
    run_node(EmotionNode, args)


if __name__ == '__main__':
    main()
