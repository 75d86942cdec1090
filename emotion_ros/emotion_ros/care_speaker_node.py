"""care_speaker: an example behaviour node, as a Pepper app would consume emotion_ros.

Subscribes  emotion_events (emotion_ros_msgs/EmotionEvent), reliable and transient
            local: started late, it still gets the START of an ongoing episode;
            emotions (EmotionArray)
Publishes   /speech (std_msgs/String): a short phrase when someone's sadness,
            pain, fear or anger has lasted (naoqi_driver speaks what it gets on
            /speech; absolute, so also under a namespace; remap `/speech` to change it),
            at most once per `min_interval` s, only to faces in view.
Its parameters apply at once when set at run time. It imports messages and
node_common only, not the perception stack.
"""
from emotion_ros_msgs.msg import EmotionArray, EmotionEvent
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from std_msgs.msg import String

from .care_responses import DEFAULT_RESPONSES, CareResponder, parse_responses
from .node_common import EVENTS_QOS, QOS_OVERRIDES, ErrorLog, declare_checked_parameters, \
    run_node, watch_parameters
from .parameter_checks import Param, at_least, greater_than

def _responses_problem(entries) -> str | None:
    try:
        parse_responses(entries)
    except ValueError as error:
        return str(error)
    return None


PARAMETERS = {
    'responses': Param(list(DEFAULT_RESPONSES), _responses_problem,
                       "'emotion: phrase', said on a START event of that emotion"),
    'min_interval': Param(30.0, at_least(0.0), 's between two phrases'),
    'max_age': Param(1.0, greater_than(0.0),
                     's a face counts as in view after its last /emotions message'),
}


class CareSpeakerNode(Node):
    def __init__(self, **kwargs):
        super().__init__('care_speaker', **kwargs)
        p = declare_checked_parameters(self, PARAMETERS, ErrorLog(self.get_logger()))
        self.responder = CareResponder(parse_responses(p['responses']), p['min_interval'],
                                       p['max_age'])
        watch_parameters(self, PARAMETERS, self._on_parameter_change)
        self.speech_pub = self.create_publisher(String, '/speech', 10,
                                                qos_overriding_options=QOS_OVERRIDES)
        self.create_subscription(EmotionArray, 'emotions', self.on_emotions, 10,
                                 qos_overriding_options=QOS_OVERRIDES)
        self.create_subscription(EmotionEvent, 'emotion_events', self.on_event, EVENTS_QOS,
                                 qos_overriding_options=QOS_OVERRIDES)
        self.get_logger().info(f"speaking on {self.speech_pub.topic_name} for "
                               f"{', '.join(self.responder.responses)}")

    def _on_parameter_change(self, changes) -> SetParametersResult:
        """Every parameter applies at once (checked already by watch_parameters)."""
        for change in changes:
            if change.name == 'responses':
                self.responder.responses = parse_responses(change.value)
            elif change.name == 'min_interval':
                self.responder.min_interval = float(change.value)
            elif change.name == 'max_age':
                self.responder.max_age = float(change.value)
        return SetParametersResult(successful=True)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_emotions(self, msg: EmotionArray):
        now = self._now()
        self.responder.faces_seen([face.face_id for face in msg.faces], now)
        waiting = self.responder.waiting_start(now)
        if waiting:
            self._say(*waiting)

    def on_event(self, msg: EmotionEvent):
        if msg.type == EmotionEvent.END:
            self.responder.on_end(msg.face_id, msg.emotion)
        elif msg.type == EmotionEvent.START:
            self._say(msg.face_id, msg.emotion,
                      self.responder.on_start(msg.face_id, msg.emotion, self._now()))

    def _say(self, face_id: int, emotion: str, phrase: str | None):
        if phrase:
            self.speech_pub.publish(String(data=phrase))
            self.get_logger().info(f'face {face_id} {emotion}: "{phrase}"')


def main(args=None):
    run_node(CareSpeakerNode, args)


if __name__ == '__main__':
    main()
