"""au_estimator node: tracked faces (with their aligned crops) in, Action Units out.

Subscribes  faces (emotion_ros_msgs/FaceArray), from face_detector with crop_size > 0.
Publishes   action_units (emotion_ros_msgs/ActionUnitsArray), one per faces
            message, with the image's header; all faces of a frame go
            through the network in one batch.
The input queue holds one message: when the network falls behind, it
works on the newest frame and skips the rest.
"""
from emotion_ros_msgs.msg import ActionUnitsArray, FaceActionUnits, FaceArray
from rclpy.node import Node

from .au_model import BACKENDS, AUModel
from .image_conversion import ImageConversionError
from .node_support import ErrorLog, declare_parameters, run_node
from .ros_messages import image_msg_to_bgr

PARAMETERS = {
    'model_path': '',               # model directory; '' = the shipped model
    'backend': 'tensorflow',        # tensorflow (CPU) or openvino
    'device': 'CPU',                # openvino: CPU, GPU, NPU, MYRIAD, AUTO
    'precision': 'f32',             # openvino CPU/GPU: f32 (parity), bf16, f16, '' = device default
    'fallback_device': '',          # openvino: device to use when `device` is missing ('' = fail)
    'presence_threshold': 0.5,      # probability at which an AU counts as present
    'max_batch': 16,                # most faces per network call
}


class AUEstimatorNode(Node):
    def __init__(self, **kwargs):
        super().__init__('au_estimator', **kwargs)
        p = declare_parameters(self, PARAMETERS)
        if p['backend'] not in BACKENDS:
            raise ValueError(f"parameter backend='{p['backend']}' is not one of {tuple(BACKENDS)}")
        self.model = AUModel(p['model_path'] or None, p['backend'], p['device'], p['max_batch'],
                             **({'precision': p['precision'], 'fallback_device': p['fallback_device']}
                                if p['backend'] == 'openvino' else {}))
        if self.model.backend.note:
            self.get_logger().warning(self.model.backend.note)
        self.threshold = float(p['presence_threshold'])
        self.errors = ErrorLog(self.get_logger())
        self.au_pub = self.create_publisher(ActionUnitsArray, 'action_units', 10)
        self.create_subscription(FaceArray, 'faces', self.on_faces, 1)
        self.get_logger().info(
            f"AU model {self.model.model_dir} ({len(self.model.au_codes)} AUs) on "
            f"{p['backend']}/{self.model.backend.device}, listening on faces")

    def on_faces(self, msg: FaceArray):
        faces, crops = [], []
        for face in msg.faces:
            if face.crop.width == 0:
                self.errors.error('no_crop', f'face {face.id} has no crop: set the face '
                                  'detector\'s crop_size > 0')
                continue
            try:
                crops.append(image_msg_to_bgr(face.crop))
                faces.append(face)
            except ImageConversionError as error:
                self.errors.error(error.kind, f'face {face.id}: bad crop: {error}')
        try:
            probabilities = self.model.predict_proba(crops)
        except Exception as error:  # one bad batch must not take the node down
            self.errors.error('inference', f'AU inference failed: {error!r}')
            return
        codes = list(self.model.au_codes)
        out = ActionUnitsArray(header=msg.header, image_width=msg.image_width,
                               image_height=msg.image_height)
        for face, p in zip(faces, probabilities):
            out.faces.append(FaceActionUnits(
                face_id=face.id, box=face.box, au_codes=codes, probabilities=p.tolist(),
                present=[code for code, value in zip(codes, p) if value >= self.threshold]))
        self.au_pub.publish(out)


def main(args=None):
    run_node(AUEstimatorNode, args)


if __name__ == '__main__':
    main()
