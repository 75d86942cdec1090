"""rosbag2 bags without a ROS install: videos to image bags, reading, and emotion summaries.

Built on `rosbags` (rosbag2 format, MCAP storage by default, playable by
`ros2 bag play`). emotion_ros_msgs types are registered from the package's
installed .msg files, so recorded pipeline output reads back typed. No rclpy
here: bag_tools.py does the playing into and recording from live topics.
"""
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from .image_conversion import bgr_to_compressed, bgr_to_raw

IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'


def emotion_msgs_dir() -> Path:
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('emotion_ros_msgs')) / 'msg'


def typestore(msg_dir: Path | None = None):
    """The ROS 2 message types plus emotion_ros_msgs (from `msg_dir`, default: the installed ones)."""
    store = get_typestore(Stores.LATEST)
    types = {}
    for path in sorted(Path(msg_dir or emotion_msgs_dir()).glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(), f'emotion_ros_msgs/msg/{path.stem}'))
    store.register(types)
    return store


def video_to_bag(video, bag, topic: str = '/camera/image_raw', frame_id: str = 'camera',
                 compressed: bool = False, start_ns: int = 1_700_000_000 * 10 ** 9,
                 size: tuple[int, int] | None = None, max_frames: int | None = None,
                 scale: float = 1.0) -> int:
    """Write a video's frames to a new bag as sensor_msgs Image (bgr8) or CompressedImage (JPEG).

    Frame i is stamped start_ns + i / fps (header and bag time alike); with
    compressed, the topic gets '/compressed' appended as image_transport does.
    size: (width, height) of the frames written; scale: the clip's frames
    scaled by this (< 1: shrunk and centred on a plain wall of their mean
    colour, so a face appears as from further away). Returns the number of
    frames written.
    """
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise FileNotFoundError(f'cannot open video {video}')
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    store = typestore()
    Image, CompressedImage = store.types[IMAGE_TYPE], store.types[COMPRESSED_TYPE]
    Header, Time = store.types['std_msgs/msg/Header'], store.types['builtin_interfaces/msg/Time']
    msgtype = COMPRESSED_TYPE if compressed else IMAGE_TYPE
    topic = topic.rstrip('/') + '/compressed' if compressed else topic
    count = 0
    with Writer(Path(bag), version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection(topic, msgtype, typestore=store)
        while max_frames is None or count < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            frame = _framed(frame, size, scale)
            stamp_ns = start_ns + int(round(count * 1e9 / fps))
            header = Header(stamp=Time(sec=stamp_ns // 10 ** 9, nanosec=stamp_ns % 10 ** 9),
                            frame_id=frame_id)
            if compressed:
                msg = CompressedImage(header=header, format='bgr8; jpeg compressed bgr8',
                                      data=np.frombuffer(bgr_to_compressed(frame), np.uint8))
            else:
                step, data = bgr_to_raw(frame, 'bgr8')
                msg = Image(header=header, height=frame.shape[0], width=frame.shape[1],
                            encoding='bgr8', is_bigendian=0, step=step,
                            data=np.frombuffer(data, np.uint8))
            writer.write(connection, stamp_ns, store.serialize_cdr(msg, msgtype))
            count += 1
    capture.release()
    return count


def _framed(frame: np.ndarray, size: tuple[int, int] | None, scale: float) -> np.ndarray:
    """The frame resized to `size`; or, with a `scale` != 1, scaled by it (aspect kept) and
    centred on a `size` (default: the frame's own) canvas of its mean colour."""
    if scale == 1.0:
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if size else frame
    width, height = size or (frame.shape[1], frame.shape[0])
    picture = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    picture = picture[:height, :width]
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = frame.reshape(-1, 3).mean(0)
    top, left = (height - picture.shape[0]) // 2, (width - picture.shape[1]) // 2
    canvas[top:top + picture.shape[0], left:left + picture.shape[1]] = picture
    return canvas


def read_messages(bag, topics=None):
    """(topic, msgtype, bag time ns, message) of a bag, in time order; `topics` filters."""
    with AnyReader([Path(bag)], default_typestore=typestore()) as reader:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        for connection, timestamp, raw in reader.messages(connections=connections):
            yield connection.topic, connection.msgtype, timestamp, reader.deserialize(
                raw, connection.msgtype)


def stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def emotion_timelines(bag, topic: str = '/emotions') -> dict:
    """Per face id, from a bag's EmotionArray messages: stamps, labels, confidences, pain, distributions."""
    faces = defaultdict(lambda: {'t': [], 'label': [], 'confidence': [], 'pain': [],
                                 'probabilities': []})
    labels = ()
    for _, _, _, msg in read_messages(bag, [topic]):
        t = stamp_seconds(msg.header.stamp)
        for face in msg.faces:
            timeline = faces[int(face.face_id)]
            timeline['t'].append(t)
            timeline['label'].append(face.label)
            timeline['confidence'].append(float(face.confidence))
            timeline['pain'].append(float(face.pain_score))
            timeline['probabilities'].append(np.asarray(face.probabilities, float))
            labels = tuple(face.labels)
    return {'labels': labels, 'faces': dict(faces)}


def summarise(timelines: dict, window: float = 1.0) -> dict:
    """Per face: time span, frames, the share of each label, and the dominant label per `window` s."""
    if not timelines['faces']:
        return {'faces': {}}
    start = min(f['t'][0] for f in timelines['faces'].values())
    summary = {}
    for face_id, f in timelines['faces'].items():
        t = np.array(f['t']) - start
        windows = []
        for w0 in np.arange(np.floor(t[0] / window) * window, t[-1] + 1e-9, window):
            inside = [label for ti, label in zip(t, f['label']) if w0 <= ti < w0 + window]
            if inside:
                windows.append({'from': round(float(w0), 3), 'to': round(float(w0 + window), 3),
                                'dominant': Counter(inside).most_common(1)[0][0],
                                'frames': len(inside)})
        shares = Counter(f['label'])
        summary[str(face_id)] = {
            'first_seen': round(float(t[0]), 3), 'last_seen': round(float(t[-1]), 3),
            'frames': len(t),
            'label_share': {k: round(v / len(t), 3) for k, v in shares.most_common()},
            'mean_pain': round(float(np.mean(f['pain'])), 3), 'windows': windows}
    return {'start_stamp': start, 'window': window, 'faces': summary}


def plot_timelines(timelines: dict, png, title: str = ''):
    """One panel per face: smoothed probability of each label and the pain score over time."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    faces = timelines['faces']
    count = max(1, len(faces))
    fig, axes = plt.subplots(count, 1, figsize=(10, 2.6 * count), squeeze=False)
    start = min((f['t'][0] for f in faces.values()), default=0.0)
    for ax, (face_id, f) in zip(axes[:, 0], sorted(faces.items())):
        t = np.array(f['t']) - start
        probabilities = np.array(f['probabilities'])
        for i, label in enumerate(timelines['labels']):
            ax.plot(t, probabilities[:, i], '.', markersize=2, label=label)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f'face {face_id}\nprobability')
        pain = ax.twinx()
        pain.plot(t, f['pain'], 'k-', linewidth=1, label='pain (PSPI)')
        pain.set_ylim(0, 15)
        pain.set_ylabel('PSPI 0..15')
        ax.legend(fontsize=7, ncol=4, loc='upper left', markerscale=4)
    axes[-1, 0].set_xlabel('s')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
