"""saliency_view: a debug picture of where the AU model looked, made only while someone watches.

Subscribes  faces (emotion_ros_msgs/FaceArray, from face_detector with crop_size > 0), only
            while faces/saliency has a subscriber
Publishes   faces/saliency (sensor_msgs/Image, bgr8): a row per face (at most `max_faces`):
            its aligned crop, then the `method` map of each of its `top_aus` most probable AUs
            over it, captioned with the AU and its probability; at most `rate` pictures a
            second, from the newest faces.
Its own process, apart from the pipeline: the gradients run on TensorFlow here, never on the
pipeline's path. While nobody subscribes it takes no input, so the face detector serialises
no faces for it (results: README, "Why the robot thinks so").
"""
from emotion_ros_msgs.msg import FaceArray
from rclpy.node import Node
from sensor_msgs.msg import Image

from .au_model import AUModel
from .image_conversion import ImageConversionError
from .node_common import QOS_OVERRIDES, ErrorLog, declare_checked_parameters, run_node
from .parameter_checks import Param, between, greater_than, one_of
from .ros_messages import bgr_to_image_msg, image_msg_to_bgr
from .saliency import DEFAULT_METHOD, METHODS, Saliency, live_view

MAX_CROP_PIXELS = 512 * 512

PARAMETERS = {
    'rate': Param(1.0, greater_than(0.0), 'Hz: most pictures a second (and how often it looks '
                  'for a subscriber)'),
    'method': Param(DEFAULT_METHOD, one_of(*METHODS), 'saliency method (saliency.py)'),
    'top_aus': Param(3, between(1, 17), 'maps per face: its most probable AUs'),
    'max_faces': Param(4, between(1, 16), 'most faces per picture (the first in the message)'),
    'model_path': Param('', description="AU model directory; '' = the model shipped in the "
                        'package (TensorFlow: it needs gradients)'),
}


class SaliencyViewNode(Node):
    def __init__(self, **kwargs):
        super().__init__('saliency_view', **kwargs)
        self.errors = ErrorLog(self.get_logger())
        self.settings = declare_checked_parameters(self, PARAMETERS, self.errors)
        self.saliency = Saliency(AUModel(self.settings['model_path'] or None, backend='tensorflow'))
        self.view_pub = self.create_publisher(Image, 'faces/saliency', 1,
                                              qos_overriding_options=QOS_OVERRIDES)
        self.faces_sub = None
        self.newest = None
        self.create_timer(1.0 / self.settings['rate'], self.on_tick)
        self.get_logger().info(f"{self.settings['method']} maps on {self.view_pub.topic_name} "
                               f"while subscribed, at most {self.settings['rate']:g} a second")

    def on_tick(self):
        watched = self.view_pub.get_subscription_count() > 0
        if watched and self.faces_sub is None:
            self.faces_sub = self.create_subscription(FaceArray, 'faces', self.on_faces, 1,
                                                      qos_overriding_options=QOS_OVERRIDES)
            self.get_logger().info('watched: listening on faces')
        elif not watched and self.faces_sub is not None:
            self.destroy_subscription(self.faces_sub)
            self.faces_sub, self.newest = None, None
            self.get_logger().info('no longer watched: not listening')
        if watched and self.newest is not None:
            self.publish_view(self.newest)
            self.newest = None

    def on_faces(self, msg: FaceArray):
        self.newest = msg

    def publish_view(self, msg: FaceArray):
        crops = []
        for face in msg.faces[:self.settings['max_faces']]:
            try:
                crops.append(image_msg_to_bgr(face.crop, MAX_CROP_PIXELS))
            except ImageConversionError as error:
                self.errors.error(error.kind, f'face {face.id}: no usable crop: {error}')
        if not crops:
            return
        try:
            picture = live_view(self.saliency, crops, self.settings['method'],
                                self.settings['top_aus'])
        except Exception as error:  # a debug view must never take the node down
            self.errors.error('view_failed', f'no picture: {type(error).__name__}: {error}')
            return
        self.view_pub.publish(bgr_to_image_msg(picture, msg.header))


def main(args=None):
    run_node(SaliencyViewNode, args)


if __name__ == '__main__':
    main()
