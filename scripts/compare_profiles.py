"""What the robot budget mode costs in answers: the replay clips through the composed runner
with the default parameters and with --profile robot, frame by frame.

Each clip (default: single_face.mp4 and WolfgangLanger_Pexels.mp4, the replay
tests' clips) becomes a bag (bags.video_to_bag) played in lockstep into the
`pipeline` (demo.start_pipeline) once per profile; the /emotions labels of
each frame are compared: the share of frames whose label is the same in
both, and each profile's labels per third of the clip (what test_replay
and test_robot_profile check). Writes results/robot_profile_replay.json.

    python scripts/compare_profiles.py [--clips single_face.mp4 ...] [--profiles default robot]

A profile may carry parameters over its file: `default:full_detection_interval:=0.0` is the
default profile with the whole frame looked at on every frame (`NAME:param:=value,...`).
"""
import argparse
import collections
import json
import shutil
import sys
from pathlib import Path

import rclpy
from demo import NAMESPACE, SAMPLES, parameter_overrides, start_pipeline
from rclpy.executors import SingleThreadedExecutor

from emotion_ros import bags
from emotion_ros.bag_tools import BagPlayer, collect_answers

ROOT = Path(__file__).resolve().parent.parent


def profile_spec(spec: str) -> tuple[str, dict]:
    """'NAME' or 'NAME:param:=value,...' -> (NAME, {param: value})."""
    name, _, overrides = spec.partition(':')
    return name, parameter_overrides(item for item in overrides.split(',') if item)


def labels_per_frame(node, executor, input_bag, profile, log_dir):
    """The /emotions label of the first face of each frame (None: no face), in order."""
    name, params = profile_spec(profile)
    processes = start_pipeline(f'{NAMESPACE}/camera/image_raw', False, False, log_dir,
                               max_frame_age=0.0, behaviour=False,
                               profile='' if name == 'default' else name, params=params)
    answers = collect_answers(node, f'{NAMESPACE}/emotions')
    player = BagPlayer(node, input_bag)
    try:
        if not player.wait_for_subscribers(executor, 60):
            raise RuntimeError(f'the pipeline did not come up (logs in {log_dir})')
        while node.count_publishers(f'{NAMESPACE}/emotions') == 0:
            executor.spin_once(timeout_sec=0.05)
        unanswered = player.play_lockstep(executor, answers)
    finally:
        for process in processes:
            process.send_signal(2)
        for process in processes:
            process.wait(15)
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec)
              for *_, m in bags.read_messages(input_bag)]
    labels = [answers[key].faces[0].label if key in answers and answers[key].faces else None
              for key in stamps]
    return labels, unanswered


def thirds(labels):
    third = len(labels) // 3
    return [dict(collections.Counter(labels[i * third:(i + 1) * third]).most_common())
            for i in range(3)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--clips', nargs='+',
                        default=['single_face.mp4', 'WolfgangLanger_Pexels.mp4'])
    parser.add_argument('--profiles', nargs=2, default=['default', 'robot'])
    parser.add_argument('--out', type=Path, default=ROOT / 'results' / 'robot_profile_replay.json')
    args = parser.parse_args(argv)
    work = ROOT / 'output' / 'compare_profiles'
    work.mkdir(parents=True, exist_ok=True)
    rclpy.init()
    node = rclpy.create_node('compare_profiles')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    clips = {}
    try:
        for clip in args.clips:
            input_bag = work / f'{clip}_bag'
            shutil.rmtree(input_bag, ignore_errors=True)
            bags.video_to_bag(SAMPLES / clip, input_bag, f'{NAMESPACE}/camera/image_raw')
            runs = {profile: labels_per_frame(node, executor, input_bag, profile, work)
                    for profile in args.profiles}
            (first, _), (second, _) = runs.values()
            same = sum(a == b for a, b in zip(first, second))
            clips[clip] = {'frames': len(first),
                           'same_label_share': round(same / max(len(first), 1), 4),
                           **{profile: {'unanswered': unanswered, 'thirds': thirds(labels)}
                              for profile, (labels, unanswered) in runs.items()}}
            print(clip, json.dumps(clips[clip]), flush=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    report = {'command': ' '.join(['python scripts/compare_profiles.py',
                                   *(sys.argv[1:] if argv is None else argv)]),
              'profiles': args.profiles, 'clips': clips}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
