"""Soak: the pipeline as three processes fed a looping clip like a live camera; RSS per node.

    python scripts/soak.py [--minutes 10] [--rate 1.0] [--output results/soak.json]

WolfgangLanger_Pexels.mp4 at 640x480 is played by `bag_tools play --restamp`
(stamped as a live camera would) again and again at --rate times its 24
frames/s. Each node's resident memory (VmRSS) is read after a warm-up
minute and at the end; their growth is the soak's result, with the frames
each node processed (from /diagnostics). Not run in CI (it takes the minutes
it is given).
"""
import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import rclpy
from ament_index_python.packages import get_package_prefix
from diagnostic_msgs.msg import DiagnosticArray
from emotion_ros_msgs.msg import EmotionArray

from emotion_ros import bags

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / '.cache' / 'samples'

NAMESPACE = '/soak'
NODES = ('face_detector', 'au_estimator', 'emotion')
WARM_UP = 60.0


def rss_mib(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f'no VmRSS for {pid}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=1.0, help='playback speed of the 24 fps clip')
    parser.add_argument('--output', default=str(ROOT / 'results' / 'soak.json'))
    args = parser.parse_args()
    work = ROOT / 'output' / 'soak'
    work.mkdir(parents=True, exist_ok=True)
    bag = work / 'wolfgang_640x480'
    if not bag.exists():
        bags.video_to_bag(SAMPLES / 'WolfgangLanger_Pexels.mp4', bag, f'{NAMESPACE}/image',
                          size=(640, 480))
    lib = Path(get_package_prefix('emotion_ros')) / 'lib' / 'emotion_ros'
    logs = {name: open(work / f'{name}.log', 'w') for name in (*NODES, 'player')}
    processes = {name: subprocess.Popen([str(lib / name), '--ros-args', '-r', f'__ns:={NAMESPACE}'],
                                        stdout=logs[name], stderr=subprocess.STDOUT)
                 for name in NODES}
    duration = args.minutes * 60
    repeats = int(duration * args.rate / 19.7) + 2
    processes['player'] = subprocess.Popen(
        [str(lib / 'bag_tools'), 'play', str(bag), '--rate', str(args.rate), '--restamp',
         '--repeat', str(repeats)], stdout=logs['player'], stderr=subprocess.STDOUT)

    rclpy.init()
    node = rclpy.create_node('soak_monitor')
    diagnostics, emotions = {}, [0, 0]

    def on_diagnostics(msg):
        for status in msg.status:
            diagnostics[status.name] = {kv.key: kv.value for kv in status.values}

    def on_emotions(msg):
        emotions[0] += 1
        emotions[1] += bool(msg.faces)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 50)
    node.create_subscription(EmotionArray, f'{NAMESPACE}/emotions', on_emotions, 50)
    start = time.monotonic()

    def spin_for(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
            dead = [n for n, p in processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f'{dead} exited early; see {work}')
    try:
        spin_for(WARM_UP)
        rss_start = {name: rss_mib(processes[name].pid) for name in NODES}
        emotions_start = list(emotions)
        print(f'warm: {rss_start}', flush=True)
        samples = []
        while time.monotonic() - start < duration:
            spin_for(30)
            samples.append({name: round(rss_mib(processes[name].pid), 1) for name in NODES})
            print(f'{(time.monotonic() - start) / 60:.1f} min: {samples[-1]}', flush=True)
        rss_end = {name: rss_mib(processes[name].pid) for name in NODES}
    finally:
        for process in processes.values():
            process.send_signal(2)
        for process in processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        node.destroy_node()
        rclpy.try_shutdown()
    results = {}
    for name in NODES:
        status = diagnostics.get(f'emotion_ros: {NAMESPACE}/{name}', {})
        results[name] = {'rss_start_mib': round(rss_start[name], 1),
                         'rss_end_mib': round(rss_end[name], 1),
                         'growth_percent': round(100 * (rss_end[name] / rss_start[name] - 1), 2),
                         'frames_processed': int(status.get('frames processed', 0)),
                         'frames_dropped': int(status.get('frames dropped', 0))}
    report = {'command': f'python scripts/soak.py --minutes {args.minutes:g} --rate {args.rate:g}',
              'input': f'WolfgangLanger_Pexels.mp4 640x480 at {24 * args.rate:g} frames/s, looped',
              'minutes_measured': round((duration - WARM_UP) / 60, 2),
              'emotions_messages': emotions[0] - emotions_start[0],
              'emotions_with_faces': emotions[1] - emotions_start[1],
              'nodes': results, 'rss_samples_mib': samples, 'cores': os.cpu_count()}
    Path(args.output).write_text(json.dumps(report, indent=2) + '\n')
    for name, r in results.items():
        print(f"{name}: {r['rss_start_mib']} -> {r['rss_end_mib']} MiB ({r['growth_percent']:+.2f}%), "
              f"{r['frames_processed']} frames processed")
    print(f'written to {args.output}')


if __name__ == '__main__':
    main()
