"""Bags in and out of a running pipeline, with rosbags (no rosbag2 install needed).

    ros2 run emotion_ros bag_tools from-video clip.mp4 clip_bag [--compressed] [--size 640x480] [--scale 0.16]
    ros2 run emotion_ros bag_tools play clip_bag [--rate 1.0 | --lockstep] [--restamp | --clock] [--repeat N]
    ros2 run emotion_ros bag_tools record out_bag [--duration 10]
    ros2 run emotion_ros bag_tools summarise out_bag [--window 1.0]

`play` publishes the bag's messages as recorded (serialized bytes, so any
type plays) at recorded speed times --rate, or --lockstep: each image waits
for the pipeline's /emotions answer with its stamp (as fast as the pipeline
takes it, no frame dropped). Replayed frames carry their recorded stamps, older than
the nodes' clock: either --restamp them with the time of publishing, or --clock:
publish the bag's time on /clock (as `ros2 bag play --clock` does) for nodes run
with use_sim_time true. `record` writes the pipeline's outputs (faces,
action units, emotions, events) to an MCAP bag; `summarise` turns a recorded
bag into a JSON of each face's emotions over time and a timeline PNG.
"""
import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.utilities import remove_ros_args
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from builtin_interfaces.msg import Time

from . import bags

# The pipeline's outputs and their types, as record takes them by default.
PIPELINE_TOPICS = {
    'faces': 'emotion_ros_msgs/msg/FaceArray',
    'action_units': 'emotion_ros_msgs/msg/ActionUnitsArray',
    'emotions': 'emotion_ros_msgs/msg/EmotionArray',
    'emotion_events': 'emotion_ros_msgs/msg/EmotionEvent',
}


CLOCK_TYPE = 'rosgraph_msgs/msg/Clock'


def message_class(msgtype: str):
    """The rclpy message class of 'package/msg/Name'."""
    package, _, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def stamp_key(stamp) -> tuple[int, int]:
    return int(stamp.sec), int(stamp.nanosec)


def collect_answers(node, topic: str, depth: int = 100) -> dict:
    """The pipeline's EmotionArray answers on `topic`, by image stamp (filled while spinning):
    what BagPlayer.play_lockstep waits on."""
    answers = {}
    node.create_subscription(message_class(PIPELINE_TOPICS['emotions']), topic,
                             lambda m: answers.__setitem__(stamp_key(m.header.stamp), m), depth)
    return answers


class BagRecorder:
    """Subscribes `topics` ({name: msgtype}) on `node` and writes what arrives to a bag on close()."""

    def __init__(self, node, topics: dict, bag):
        self.bag = Path(bag)
        self.received = []
        self.types = {}
        for topic, msgtype in topics.items():
            name = node.resolve_topic_name(topic)
            self.types[name] = msgtype
            node.create_subscription(
                message_class(msgtype), topic,
                lambda raw, name=name: self.received.append((name, time.time_ns(), bytes(raw))),
                QoSProfile(depth=100), raw=True)

    def close(self) -> int:
        """Write the bag; returns the number of messages."""
        store = bags.typestore()
        with Writer(self.bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            connections = {topic: writer.add_connection(topic, msgtype, typestore=store)
                           for topic, msgtype in self.types.items()}
            for topic, stamp, raw in sorted(self.received, key=lambda m: m[1]):
                writer.write(connections[topic], stamp, raw)
        return len(self.received)


class BagPlayer:
    """Publishes a bag's messages on `node`, each topic under its recorded name (or `remap`)."""

    def __init__(self, node, bag, remap: dict | None = None):
        self.node = node
        self.bag = Path(bag)
        self.remap = remap or {}
        self.publishers = {}

    def messages(self):
        """(topic, msgtype, bag time ns, serialized bytes) in time order."""
        with AnyReader([self.bag], default_typestore=bags.typestore()) as reader:
            for connection, timestamp, raw in reader.messages():
                yield connection.topic, connection.msgtype, timestamp, bytes(raw)

    def publisher(self, topic: str, msgtype: str):
        if topic not in self.publishers:
            # Reliable so that nothing is lost on the way; a best-effort
            # (sensor data) subscriber still matches.
            self.publishers[topic] = self.node.create_publisher(
                message_class(msgtype), self.remap.get(topic, topic),
                QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        return self.publishers[topic]

    def wait_for_subscribers(self, executor, timeout: float = 30.0) -> bool:
        """Create the publishers and spin until each has a subscriber."""
        with AnyReader([self.bag], default_typestore=bags.typestore()) as reader:
            for connection in reader.connections:
                self.publisher(connection.topic, connection.msgtype)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in self.publishers.values()):
                return True
            executor.spin_once(timeout_sec=0.05)
        return False

    def play(self, executor, rate: float = 1.0, on_message=None, restamp: bool = False,
             clock: bool = False):
        """At recorded speed times `rate` (0 = as fast as possible).

        restamp: images get the node clock's time of publishing as their header
        stamp, as from a live camera (so age limits and latency apply as on a robot).
        clock: before each message, the bag's time of it on /clock, for nodes that
        run on sim time (use_sim_time true): the recorded stamps are then current.
        """
        clock_publisher = self.publisher('/clock', CLOCK_TYPE) if clock else None
        deadline = time.monotonic() + 10.0    # the nodes' clocks subscribed /clock at start
        while clock and clock_publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        start_wall, start_bag = time.monotonic(), None
        for topic, msgtype, timestamp, raw in self.messages():
            start_bag = timestamp if start_bag is None else start_bag
            if rate > 0:
                due = start_wall + (timestamp - start_bag) * 1e-9 / rate
                while time.monotonic() < due:
                    executor.spin_once(timeout_sec=max(0.0, min(0.01, due - time.monotonic())))
            if restamp and msgtype in (bags.IMAGE_TYPE, bags.COMPRESSED_TYPE):
                msg = deserialize_message(raw, message_class(msgtype))
                msg.header.stamp = self.node.get_clock().now().to_msg()
                raw = serialize_message(msg)
            if clock_publisher is not None:
                clock_publisher.publish(message_class(CLOCK_TYPE)(clock=Time(
                    sec=timestamp // 10 ** 9, nanosec=timestamp % 10 ** 9)))
            self.publisher(topic, msgtype).publish(raw)
            if on_message:
                on_message(topic, msgtype, raw)
            executor.spin_once(timeout_sec=0)

    def play_lockstep(self, executor, answers: dict, timeout: float = 5.0, on_message=None):
        """Each image waits for an answer with its stamp in `answers` (filled by a subscription).

        Returns the number of images that got no answer within `timeout` s
        (the image is sent again once, halfway).
        """
        unanswered = 0
        for topic, msgtype, _, raw in self.messages():
            publisher = self.publisher(topic, msgtype)
            publisher.publish(raw)
            if msgtype in (bags.IMAGE_TYPE, bags.COMPRESSED_TYPE):
                key = stamp_key(deserialize_message(raw, message_class(msgtype)).header.stamp)
                sent, resent = time.monotonic(), False
                while key not in answers and time.monotonic() - sent < timeout:
                    if not resent and time.monotonic() - sent > timeout / 2:
                        publisher.publish(raw)
                        resent = True
                    executor.spin_once(timeout_sec=0.01)
                unanswered += key not in answers
            if on_message:
                on_message(topic, msgtype, raw)
        return unanswered


def _spin_node(name, ros_args):
    rclpy.init(args=ros_args)
    node = rclpy.create_node(name)
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(node)
    return node, executor


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('from-video', help='a video file to a bag of images')
    p.add_argument('video')
    p.add_argument('bag')
    p.add_argument('--topic', default='/camera/image_raw')
    p.add_argument('--frame-id', default='camera')
    p.add_argument('--compressed', action='store_true', help='JPEG CompressedImage')
    p.add_argument('--size', help='WxH, e.g. 640x480')
    p.add_argument('--scale', type=float, default=1.0,
                   help="the clip's frames scaled by this and centred on a plain wall (< 1: "
                        'faces as from further away)')
    p.add_argument('--max-frames', type=int)
    p = sub.add_parser('play', help='publish a bag into the running pipeline')
    p.add_argument('bag')
    p.add_argument('--rate', type=float, default=1.0, help='speed factor; 0 = as fast as possible')
    p.add_argument('--lockstep', action='store_true',
                   help='send each image when the pipeline answered the last one on --answers')
    p.add_argument('--answers', default='emotions', help='topic of the answers for --lockstep')
    p.add_argument('--repeat', type=int, default=1, help='play the bag this many times')
    stamps = p.add_mutually_exclusive_group()
    stamps.add_argument('--clock', action='store_true',
                        help="publish the bag's time on /clock (for nodes with use_sim_time true)")
    stamps.add_argument('--restamp', action='store_true',
                   help='stamp images with the time of publishing, as a live camera does')
    p.add_argument('--remap', nargs='*', default=[], metavar='FROM:=TO')
    p = sub.add_parser('record', help="record the pipeline's outputs")
    p.add_argument('bag')
    p.add_argument('--topics', nargs='*', help='of PIPELINE_TOPICS; default all')
    p.add_argument('--duration', type=float, help='s; default until Ctrl-C')
    p = sub.add_parser('summarise', help='emotions per face over time, JSON and PNG')
    p.add_argument('bag')
    p.add_argument('--topic', default='/emotions')
    p.add_argument('--window', type=float, default=1.0)
    p.add_argument('--json', help='default: <bag>_summary.json')
    p.add_argument('--png', help='default: <bag>_timeline.png')
    argv = sys.argv if argv is None else ['bag_tools', *argv]
    args = parser.parse_args(remove_ros_args(argv)[1:])

    if args.command == 'from-video':
        size = tuple(int(v) for v in args.size.split('x')) if args.size else None
        count = bags.video_to_bag(args.video, args.bag, args.topic, args.frame_id, args.compressed,
                                  size=size, max_frames=args.max_frames, scale=args.scale)
        print(f'wrote {count} frames to {args.bag}')
    elif args.command == 'summarise':
        timelines = bags.emotion_timelines(args.bag, args.topic)
        summary = bags.summarise(timelines, args.window)
        json_path = Path(args.json or f'{args.bag.rstrip("/")}_summary.json')
        png_path = Path(args.png or f'{args.bag.rstrip("/")}_timeline.png')
        json_path.write_text(json.dumps(summary, indent=2) + '\n')
        bags.plot_timelines(timelines, png_path, Path(args.bag).name)
        for face_id, face in summary['faces'].items():
            print(f"face {face_id}: {face['frames']} frames, {face['first_seen']}-{face['last_seen']} s, "
                  f"{', '.join(f'{k} {v:.0%}' for k, v in face['label_share'].items())}")
        print(f'wrote {json_path} and {png_path}')
    elif args.command == 'record':
        node, executor = _spin_node('emotion_bag_recorder', argv)
        topics = {t: PIPELINE_TOPICS[t] for t in (args.topics or PIPELINE_TOPICS)}
        recorder = BagRecorder(node, topics, args.bag)
        deadline = time.monotonic() + args.duration if args.duration else float('inf')
        try:
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
        except KeyboardInterrupt:
            pass
        print(f'wrote {recorder.close()} messages to {args.bag}')
        rclpy.try_shutdown()
    elif args.command == 'play':
        node, executor = _spin_node('emotion_bag_player', argv)
        remap = dict(r.split(':=') for r in args.remap)
        player = BagPlayer(node, args.bag, remap)
        if not player.wait_for_subscribers(executor):
            print('warning: not every topic has a subscriber; playing anyway')
        if args.lockstep:
            missed = player.play_lockstep(executor, collect_answers(node, args.answers, 10))
            print(f'played {args.bag}; {missed} image(s) got no answer on {args.answers}')
        else:
            for _ in range(args.repeat):
                player.play(executor, args.rate, restamp=args.restamp, clock=args.clock)
            print(f'played {args.bag}')
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
