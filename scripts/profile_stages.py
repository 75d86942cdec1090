"""Where a frame's CPU goes inside the composed runner: each stage's own CPU time per frame,
for frames with a look for faces and frames given the last look's faces (robot mode).

benchmark_cpu.py measures the whole process at camera rate; this script
splits the part spent in the stages. The face_detector, au_estimator and
emotion stages are built in this process as the `pipeline` runner builds
them (pipeline.yaml, then --profile's file), with a node subscribed to
`emotions` so that it is published. Frames of 640x480 (benchmark_pipeline's
tiles of single_face.mp4, 1 or 3 faces) are serialised once, then fed to the
detector as its input subscription's callback takes them, without DDS:
decoded by the stage's input decoder, stamped --rate frames/s apart, and
processed; the in-process chain then runs the AU and emotion stages. Per
frame the main thread's CPU time (time.thread_time) is read in total and
for each stage's own work (its `process`, less the stages it calls), with
the k-NN and the `/emotions` publish apart; a frame is a "look" when the
detector ran a network on it (whole frame or regions) and "held" when it was
given the last look's faces (detection_interval). What benchmark_cpu
measures beyond these totals is the executor's, DDS's and rclpy's per-frame
work: taking the 0.9 MB frame, waking the thread, delivering /emotions.

    python scripts/profile_stages.py [--profile default robot] [--faces 1 3] [--frames 600]

Writes results/profile_stages.json (each profile and face count: frames of
each kind, mean and median ms per frame, and each part's mean ms).
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import rclpy
from benchmark_pipeline import make_frames
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from emotion_ros.au_estimator_node import AUEstimatorNode
from emotion_ros.emotion_node import EmotionNode
from emotion_ros.face_detector_node import FaceDetectorNode
from emotion_ros.node_support import bring_up, shut_down
from emotion_ros.pipeline import with_default_params
from emotion_ros.ros_messages import bgr_to_image_msg
from emotion_ros_msgs.msg import EmotionArray

ROOT = Path(__file__).resolve().parent.parent
WARMUP_FRAMES = 60


class OwnTime:
    """Thread CPU time of wrapped calls, each less the wrapped calls it makes."""

    def __init__(self):
        self.seconds = {}
        self._inner = []

    def wrap(self, obj, method: str, part: str):
        call = getattr(obj, method)

        def timed(*args, **kwargs):
            start = time.thread_time()
            self._inner.append(0.0)
            try:
                return call(*args, **kwargs)
            finally:
                inner, spent = self._inner.pop(), time.thread_time() - start
                if self._inner:
                    self._inner[-1] += spent
                self.seconds[part] = self.seconds.get(part, 0.0) + spent - inner
        setattr(obj, method, timed)


def profile_stages(profile: str, faces: int, count: int, rate: float) -> dict:
    args = with_default_params(['profile_stages', '--ros-args', '-p', 'max_frame_age:=0.0'],
                               '' if profile == 'default' else profile)
    rclpy.init(args=args)
    stages, listener = [], None
    try:
        stages.append(FaceDetectorNode())
        stages.append(AUEstimatorNode(upstream=stages[-1]))
        stages.append(EmotionNode(upstream=stages[-1]))
        for stage in stages:
            bring_up(stage)
        listener = rclpy.create_node('profile_stages_listener')
        listener.create_subscription(EmotionArray, 'emotions', lambda msg: None, 10)
        detector, au_stage, emotion_stage = stages
        deadline = time.monotonic() + 10
        while emotion_stage.emotions_pub.publisher.get_subscription_count() == 0:
            if time.monotonic() > deadline:
                raise RuntimeError('the listener did not match /emotions')
            time.sleep(0.05)
        frames = [serialize_message(bgr_to_image_msg(frame, Header(frame_id='camera')))
                  for frame in make_frames(faces, 90)]
        decode = detector.input_decoder()
        perception = detector.perception

        def feed(i):
            msg = decode(frames[i % len(frames)])
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(round(i * 1e9 / rate), 10 ** 9)
            # The path of the input subscription's callback (PipelineStage._on_input), minus
            # the take.
            detector._process_safely(msg)

        for i in range(WARMUP_FRAMES):
            feed(i)
        own = OwnTime()
        own.wrap(detector, 'process', 'face_detector')
        own.wrap(au_stage, 'process', 'au_estimator')
        own.wrap(emotion_stage, 'process', 'emotion')
        own.wrap(emotion_stage.classifier, 'predict_proba', 'k-NN')
        own.wrap(emotion_stage.emotions_pub, 'publish', 'publish /emotions')
        kinds = {'look': [], 'held': []}
        parts = {'look': {}, 'held': {}}
        for i in range(WARMUP_FRAMES, WARMUP_FRAMES + count):
            held, before = perception.held_frames, dict(own.seconds)
            start = time.thread_time()
            feed(i)
            spent = time.thread_time() - start
            kind = 'held' if perception.held_frames != held else 'look'
            kinds[kind].append(spent)
            for part, seconds in own.seconds.items():
                parts[kind][part] = parts[kind].get(part, 0.0) + seconds - before.get(part, 0.0)
        result = {'profile': profile, 'faces': faces, 'rate': rate, 'frames': count}
        for kind, spent in kinds.items():
            if not spent:
                continue
            shares = {part: round(1000 * seconds / len(spent), 3)
                      for part, seconds in parts[kind].items()}
            shares['rest (decoding, glue)'] = round(
                1000 * np.mean(spent) - sum(shares.values()), 3)
            result[kind] = {'frames': len(spent), 'mean_ms': round(1000 * float(np.mean(spent)), 3),
                            'median_ms': round(1000 * float(np.median(spent)), 3),
                            'parts_mean_ms': shares}
        all_frames = kinds['look'] + kinds['held']
        result['mean_ms_per_frame'] = round(1000 * float(np.mean(all_frames)), 3)
        return result
    finally:
        for stage in stages:
            shut_down(stage)
            stage.destroy_node()
        if listener is not None:
            listener.destroy_node()
        rclpy.try_shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--profile', nargs='+', default=['default', 'robot'],
                        choices=['default', 'robot'])
    parser.add_argument('--faces', nargs='+', type=int, default=[1], choices=[1, 3, 5])
    parser.add_argument('--frames', type=int, default=600, help='measured frames per case')
    parser.add_argument('--rate', type=float, default=30.0, help='frames/s of the stamps')
    parser.add_argument('--out', default=str(ROOT / 'results' / 'profile_stages.json'))
    options = parser.parse_args()
    runs = [profile_stages(profile, faces, options.frames, options.rate)
            for profile in options.profile for faces in options.faces]
    print('| profile | faces | frame | frames | CPU ms mean (median) | parts, ms mean |')
    print('|---|---|---|---|---|---|')
    for run in runs:
        for kind in ('look', 'held'):
            if kind in run:
                row = run[kind]
                parts = ', '.join(f'{part} {ms}' for part, ms in row['parts_mean_ms'].items())
                print(f"| {run['profile']} | {run['faces']} | {kind} | {row['frames']} | "
                      f"{row['mean_ms']} ({row['median_ms']}) | {parts} |")
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        'command': 'python scripts/profile_stages.py ' + ' '.join(
            ['--profile', *options.profile, '--faces', *map(str, options.faces),
             '--frames', str(options.frames), '--rate', str(options.rate)]),
        'machine': {'cpu': platform.processor() or platform.machine(), 'cores': os.cpu_count(),
                    'load_average_at_end': os.getloadavg()},
        'runs': runs}, indent=2) + '\n')
    print(f'written to {out}')


if __name__ == '__main__':
    main()
