"""CPU the pipeline takes at camera rate: ms of CPU per frame and % of one core, per process.

A robot's camera gives 15-30 frames/s and the same CPU runs the robot's own
software, so what counts there is not throughput but the CPU time taken at
the camera's rate. Frames of 640x480 (benchmark_pipeline.make_frames: tiles
of single_face.mp4, 1 or 3 faces) are published at --rate frames/s, each
stamped with the time it is sent (as a live camera's), into the composed
runner (`pipeline`) or the separate node processes (face_detector,
au_estimator, emotion), started as demo.start_pipeline starts them, with
--profile default or robot (config/robot.yaml: the robot budget mode).
After --warmup s, the CPU time of each process (all its threads: utime +
stime of /proc/<pid>/stat) is read over a window of --seconds s; reported
per process and in total as CPU ms per frame sent and % of one core, with
the frames sent in the window and how many of them /emotions answered (by
their stamps); and, over each whole run (warm-up and window), where the frames
not processed went by the face detector's /diagnostics counters: lost in
transport (never received), superseded (a newer frame came before the stage
took it) or stale (past max_frame_age). With --repeats N each case is measured in N windows one after
the other, and the table gives their median (this shared machine swings by
a third between windows of the same code). Writes a JSON (default
results/benchmark_cpu.json): every window in `runs`, each case's median in `medians`.

    python scripts/benchmark_cpu.py [--rate 15 30] [--faces 1 3] [--seconds 30] [--repeats 1] \
        [--mode composed|nodes|both] [--profile default|robot] [--receive-only] \
        [--set NAME:=VALUE ...] [--out results/benchmark_cpu.json]

--set gives every node a parameter over the profile's (e.g. full_detection_interval:=0.0:
the whole frame looked at on every frame).

With --receive-only the face detector lets one frame in RECEIVE_ONLY_S through
(its max_rate) and drops the others as they arrive: what remains is the cost of
receiving a frame at all (DDS, the executor, taking and decoding the 0.9 MB
message), the part of every mode's figure that no setting of the stages
removes; /emotions then answers almost no frame.

The sending process's own CPU is not counted. On a machine where other work
runs beside it, the figures are higher than on a quiet one.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import rclpy
from benchmark_pipeline import make_frames
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from demo import NAMESPACE, parameter_overrides, start_pipeline
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from emotion_ros.bag_tools import collect_answers, stamp_key
from emotion_ros.ros_messages import bgr_to_image_msg

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf('SC_CLK_TCK')
MODES = {'composed': False, 'nodes': True}     # mode -> separate processes
RECEIVE_ONLY_S = 1000.0     # --receive-only: s between two frames the face detector processes


def cpu_seconds(pid: int) -> float:
    """CPU time of a process so far, all its threads (utime + stime of /proc/<pid>/stat)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS     # fields 14 and 15 of stat(5)


def usage(cpu: float, frames: int, seconds: float) -> dict:
    return {'cpu_s': round(cpu, 3), 'cpu_ms_per_frame': round(1000 * cpu / max(frames, 1), 2),
            'core_percent': round(100 * cpu / seconds, 1)}


class DetectorInput:
    """The face detector's input counters, from its /diagnostics status (over the node's run):
    where a frame that /emotions did not answer went (never received: lost in transport;
    superseded by a newer frame before the stage took it; stale)."""

    KEYS = {'received': 'frames received', 'superseded': 'dropped: superseded',
            'stale': 'dropped: stale'}

    def __init__(self, node):
        self.latest, self.updates = dict.fromkeys(self.KEYS, 0), 0
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)

    def _on_diagnostics(self, msg):
        for status in msg.status:
            if status.name.endswith(f'{NAMESPACE}/face_detector'):
                values = {kv.key: kv.value for kv in status.values}
                self.latest = {name: int(values.get(key) or 0) for name, key in self.KEYS.items()}
                self.updates += 1

    def counts(self, executor, timeout=5.0) -> dict:
        """The counters of a status sent after this call (the second one received from now:
        the first may have been on its way; a status comes every diagnostics.period, 1 s)."""
        wanted, deadline = self.updates + 2, time.monotonic() + timeout
        while self.updates < wanted and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        return dict(self.latest)


def play(node, executor, processes, frames, rate, warmup, seconds, detector_input):
    """Publish `frames` (cycled) at `rate` for warmup + seconds s; the CPU of `processes`
    ({name: Popen}) over the last `seconds`, with the frames sent and answered in them, and
    what the face detector's input counters say of the whole run (warm-up and window)."""
    answers = collect_answers(node, f'{NAMESPACE}/emotions', depth=200)
    publisher = node.create_publisher(Image, f'{NAMESPACE}/camera/image_raw',
                                      QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    deadline = time.monotonic() + 120
    while (publisher.get_subscription_count() == 0
           or node.count_publishers(f'{NAMESPACE}/emotions') == 0):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes.values()):
            raise RuntimeError('the pipeline did not come up (logs in output/benchmark_logs)')
        executor.spin_once(timeout_sec=0.05)
    # Once the stages are up: a status of this run's face detector, not of a runner before it.
    counted = detector_input.counts(executor)
    messages = [bgr_to_image_msg(frame, Header(frame_id='camera')) for frame in frames]
    start = time.monotonic()
    window_start, window_end = start + warmup, start + warmup + seconds
    before, sent, i = None, [], 0
    while (now := time.monotonic()) < window_end:
        due = start + i / rate
        if now < due:
            executor.spin_once(timeout_sec=due - now)
            continue
        if before is None and now >= window_start:
            before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
            window_start = now
        msg = messages[i % len(messages)]
        stamp = time.time_ns()
        msg.header.stamp = Time(sec=stamp // 10 ** 9, nanosec=stamp % 10 ** 9)
        publisher.publish(msg)
        if before is not None:
            sent.append(stamp_key(msg.header.stamp))
        i += 1
    after = {name: cpu_seconds(p.pid) for name, p in processes.items()}
    elapsed = time.monotonic() - window_start
    settle = time.monotonic() + 2.0           # answers to the last frames still on their way
    while time.monotonic() < settle and not all(key in answers for key in sent[-5:]):
        executor.spin_once(timeout_sec=0.05)
    node.destroy_publisher(publisher)
    counters = detector_input.counts(executor)
    answered = sum(key in answers for key in sent)
    run_input = {'frames_sent': i, 'lost_in_transport': i - (counters['received'] - counted['received'])}
    run_input |= {kind: counters[kind] - counted[kind] for kind in ('superseded', 'stale')}
    per_process = {name: usage(after[name] - before[name], len(sent), elapsed)
                   for name in processes}
    total = usage(sum(after[name] - before[name] for name in processes), len(sent), elapsed)
    return {'window_s': round(elapsed, 2), 'frames_sent': len(sent), 'frames_answered': answered,
            'processes': per_process, 'total': total, 'detector_input_whole_run': run_input}


def medians(runs) -> list[dict]:
    """Each case's (mode, faces, rate) median window by total CPU per frame, with every
    window's figure and the frames sent and answered in all of them."""
    cases = {}
    for run in runs:
        cases.setdefault((run['mode'], run['faces'], run['rate']), []).append(run)
    out = []
    for windows in cases.values():
        ordered = sorted(windows, key=lambda r: r['total']['cpu_ms_per_frame'])
        middle = ordered[(len(ordered) - 1) // 2]
        out.append({key: middle[key] for key in ('mode', 'profile', 'faces', 'rate')} | {
            'cpu_ms_per_frame': middle['total']['cpu_ms_per_frame'],
            'core_percent': middle['total']['core_percent'],
            'windows_cpu_ms_per_frame': [r['total']['cpu_ms_per_frame'] for r in windows],
            'frames_sent': sum(r['frames_sent'] for r in windows),
            'frames_answered': sum(r['frames_answered'] for r in windows),
            'detector_input_whole_runs': {kind: sum(r['detector_input_whole_run'][kind]
                                                    for r in windows)
                                          for kind in windows[0]['detector_input_whole_run']}})
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rate', type=float, nargs='+', default=[15.0, 30.0],
                        help='frames/s sent (camera rates)')
    parser.add_argument('--faces', type=int, nargs='+', default=[1, 3], choices=[1, 3, 5])
    parser.add_argument('--seconds', type=float, default=30.0, help='measured window per run')
    parser.add_argument('--warmup', type=float, default=5.0, help='s sent before the window')
    parser.add_argument('--repeats', type=int, default=1,
                        help='windows per case, one after the other; the table gives the median')
    parser.add_argument('--mode', choices=[*MODES, 'both'], default='both')
    parser.add_argument('--profile', choices=['default', 'robot'], default='default')
    parser.add_argument('--receive-only', action='store_true',
                        help='the face detector drops (nearly) every frame as it arrives: the '
                             'cost of receiving frames alone')
    parser.add_argument('--set', nargs='+', default=[], metavar='NAME:=VALUE',
                        help='parameters of every node, over the profile\'s')
    parser.add_argument('--out', type=Path, default=ROOT / 'results' / 'benchmark_cpu.json')
    args = parser.parse_args(argv)
    params = parameter_overrides(args.set)
    if args.receive_only:
        params['max_rate'] = 1.0 / RECEIVE_ONLY_S
    profile = ' '.join([args.profile + ', receive only' * args.receive_only, *args.set])
    modes = list(MODES) if args.mode == 'both' else [args.mode]
    frames = {n: make_frames(n, 150) for n in args.faces}
    log_dir = ROOT / 'output' / 'benchmark_logs'
    log_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    rclpy.init()
    node = rclpy.create_node('cpu_benchmark')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    detector_input = DetectorInput(node)
    try:
        for mode in modes:
            started = start_pipeline(f'{NAMESPACE}/camera/image_raw', False, MODES[mode], log_dir,
                                     behaviour=False,
                                     profile='' if args.profile == 'default' else args.profile,
                                     params=params)
            processes = {Path(p.args[0]).name: p for p in started}
            try:
                for faces in args.faces:
                    for rate in args.rate:
                        for repeat in range(args.repeats):
                            run = {'mode': mode, 'profile': profile, 'faces': faces,
                                   'rate': rate, 'repeat': repeat,
                                   **play(node, executor, processes, frames[faces], rate,
                                          args.warmup, args.seconds, detector_input)}
                            runs.append(run)
                            print(json.dumps(run), flush=True)
            finally:
                for process in started:
                    process.send_signal(2)
                for process in started:
                    process.wait(15)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    report = {'command': ' '.join(['python scripts/benchmark_cpu.py',
                                   *(sys.argv[1:] if argv is None else argv)]),
              'frames': '640x480, tiles of single_face.mp4 (benchmark_pipeline.make_frames), sent '
                        'at the rate, stamped when sent; CPU of the pipeline processes only',
              'machine': {'cpu': platform.processor() or platform.machine(),
                          'cores': os.cpu_count(), 'load_average_at_end': os.getloadavg()},
              'runs': runs, 'medians': medians(runs)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')
    print('| mode | profile | faces | frames/s in | answered | CPU ms/frame (median; each '
          'window) | % of one core | whole runs: sent, lost, superseded, stale |')
    print('|---|---|---|---|---|---|---|---|')
    for m in report['medians']:
        whole = m['detector_input_whole_runs']
        print(f"| {m['mode']} | {m['profile']} | {m['faces']} | {m['rate']:g} | "
              f"{m['frames_answered']}/{m['frames_sent']} | {m['cpu_ms_per_frame']} "
              f"({', '.join(map(str, m['windows_cpu_ms_per_frame']))}) | {m['core_percent']} | "
              f"{whole['frames_sent']}, {whole['lost_in_transport']}, {whole['superseded']}, "
              f"{whole['stale']} |")
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
