"""hri_publisher: the pipeline's faces, Action Units and emotions as ROS4HRI (REP-155) topics,
so that robots and tools that speak ROS4HRI (pyhri/libhri, the hri_* nodes, PAL's ARI and
TIAGo) use them without glue code.

Subscribes  faces (FaceArray), action_units (ActionUnitsArray), emotions (EmotionArray)
Publishes   /humans/faces/tracked (hri_msgs/IdsList): the faces of each faces message;
            per tracked face, <id> = hri_mapping.face_hri_id (e.g. f1733112345):
            /humans/faces/<id>/roi         hri_msgs/NormalizedRegionOfInterest2D
            /humans/faces/<id>/expression  hri_msgs/Expression (label, valence, arousal)
            /humans/faces/<id>/facs        hri_msgs/FacialActionUnits
            /humans/faces/<id>/aligned     sensor_msgs/Image, the aligned crop, only while
                                           someone subscribes
A face's topics are created when it appears in `faces` and destroyed when it leaves
`tracked`; when the node stops (Ctrl-C, SIGTERM) it publishes an empty `tracked` first.
There is no `cropped` topic: the detector keeps only the aligned crop, not the source
image. hri_msgs is optional for the package: this node imports it at start and,
without it, says in one line what to install and exits with 1.
"""
import functools
import os
import sys

from emotion_ros_msgs.msg import ActionUnitsArray, EmotionArray, FaceArray
from rclpy.duration import Duration
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from .hri_mapping import expression_of, expression_values, face_hri_id, facs_arrays, \
    normalized_roi
from .node_common import QOS_OVERRIDES, ErrorLog, run_node

FACES_NS = '/humans/faces'


def import_hri_msgs():
    """The hri_msgs.msg module, or None where hri_msgs is not installed."""
    try:
        import hri_msgs.msg
    except ImportError:
        return None
    return hri_msgs.msg


def missing_hri_msgs() -> str:
    distro = os.environ.get('ROS_DISTRO') or '<distro>'
    return (f'hri_msgs is not installed; the ROS4HRI output needs it: install '
            f'ros-{distro}-hri-msgs (rosdep install --from-paths ...), or for development '
            f'../shared/vendor/ros2/install.sh')


def report_missing_hri_msgs(node_name: str = 'hri_publisher'):
    """The one line a user sees, in the format of rclpy's log lines (rclpy may not be up)."""
    print(f'[ERROR] [{node_name}]: {missing_hri_msgs()}', file=sys.stderr, flush=True)


class FaceTopics:
    """The publishers of one tracked face."""

    def __init__(self, node: Node, hri, hri_id: str):
        prefix = f'{FACES_NS}/{hri_id}'
        self.roi = node.create_publisher(hri.NormalizedRegionOfInterest2D, f'{prefix}/roi', 10)
        self.expression = node.create_publisher(hri.Expression, f'{prefix}/expression', 10)
        self.facs = node.create_publisher(hri.FacialActionUnits, f'{prefix}/facs', 10)
        self.aligned = node.create_publisher(Image, f'{prefix}/aligned', 10)

    def destroy(self, node: Node):
        for publisher in (self.roi, self.expression, self.facs, self.aligned):
            node.destroy_publisher(publisher)


class HriPublisherNode(Node):
    def __init__(self, hri, **kwargs):
        super().__init__('hri_publisher', **kwargs)
        self.hri = hri
        self.errors = ErrorLog(self.get_logger())
        self.faces = {}   # REP-155 id -> FaceTopics, of the faces tracked now
        self.tracked_pub = self.create_publisher(hri.IdsList, f'{FACES_NS}/tracked', 10,
                                                 qos_overriding_options=QOS_OVERRIDES)
        self.create_subscription(FaceArray, 'faces', self.on_faces, 10,
                                 qos_overriding_options=QOS_OVERRIDES)
        self.create_subscription(ActionUnitsArray, 'action_units', self.on_action_units, 10,
                                 qos_overriding_options=QOS_OVERRIDES)
        self.create_subscription(EmotionArray, 'emotions', self.on_emotions, 10,
                                 qos_overriding_options=QOS_OVERRIDES)
        self.get_logger().info(f'publishing ROS4HRI faces under {FACES_NS}/ from '
                               f"{self.resolve_topic_name('faces')}")

    def _track(self, ids: list[str]):
        """Per-face topics for the faces that appeared, none left for those that are gone."""
        for gone in [i for i in self.faces if i not in ids]:
            self.faces.pop(gone).destroy(self)
            self.get_logger().info(f'face {gone} left')
        for new in [i for i in ids if i not in self.faces]:
            self.faces[new] = FaceTopics(self, self.hri, new)
            self.get_logger().info(f'face {new} tracked')

    def on_faces(self, msg: FaceArray):
        ids = list(dict.fromkeys(face_hri_id(face.id) for face in msg.faces))
        self._track(ids)
        for face in msg.faces:
            topics = self.faces[face_hri_id(face.id)]
            try:
                roi = normalized_roi(face.box.x, face.box.y, face.box.width, face.box.height,
                                     msg.image_width, msg.image_height)
            except ValueError as error:
                self.errors.error('bad_faces', f'no ROI for face {face.id}: {error}')
                continue
            topics.roi.publish(self.hri.NormalizedRegionOfInterest2D(
                header=msg.header, xmin=roi[0], ymin=roi[1], xmax=roi[2], ymax=roi[3],
                c=float(face.confidence)))
            if face.crop.width and topics.aligned.get_subscription_count():
                topics.aligned.publish(face.crop)
        self.tracked_pub.publish(self.hri.IdsList(header=msg.header, ids=ids))

    def finish(self):
        """Say that no face is tracked any more (the node is stopping)."""
        self._track([])
        self.tracked_pub.publish(self.hri.IdsList(
            header=Header(stamp=self.get_clock().now().to_msg()), ids=[]))
        self.tracked_pub.wait_for_all_acked(Duration(seconds=0.5))

    def on_action_units(self, msg: ActionUnitsArray):
        for face in msg.faces:
            topics = self.faces.get(face_hri_id(face.face_id))
            if topics is None:   # gone already, or faces not seen yet
                continue
            if len(face.probabilities) != len(face.au_codes):
                self.errors.error('bad_action_units', f'face {face.face_id}: '
                                  f'{len(face.au_codes)} AU codes but '
                                  f'{len(face.probabilities)} probabilities')
                continue
            intensity, confidence = facs_arrays(face.au_codes, face.probabilities,
                                                face.intensities)
            topics.facs.publish(self.hri.FacialActionUnits(
                header=msg.header, intensity=intensity, confidence=confidence))

    def on_emotions(self, msg: EmotionArray):
        for face in msg.faces:
            topics = self.faces.get(face_hri_id(face.face_id))
            if topics is None:
                continue
            valence, arousal, confidence = expression_values(face.valence, face.arousal,
                                                             face.confidence)
            topics.expression.publish(self.hri.Expression(
                header=msg.header, expression=expression_of(face.label), valence=valence,
                arousal=arousal, confidence=confidence))


def main(args=None):
    hri = import_hri_msgs()
    if hri is None:
        report_missing_hri_msgs()
        sys.exit(1)
    run_node(functools.partial(HriPublisherNode, hri), args, stop=HriPublisherNode.finish)


if __name__ == '__main__':
    main()
