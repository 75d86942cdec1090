"""Time per face of the emotion stage's k-NN (the shipped neighbourhood) at batch 1, 3 and 8.

Queries: AU vectors the shipped AU model gives for the aligned face crops
of single_face.mp4 (as in benchmark_au.py), a different frame's faces on
each call. Each timing is the median (and 95th percentile) of --runs calls,
divided by the batch size, of:
  knn           AUEmotionClassifier.predict_proba, every call searched (as a
                face freshly read by the AU model);
  knn_repeated  the same with the faces' vectors of the call before (as
                between two readings of a face in the robot budget mode,
                au_rate: the classifier remembers recent answers);
  scikit_learn  scikit-learn's KNeighborsClassifier.predict_proba on the same
                points and settings, the way the classifier answered before
                it searched a frame's faces itself (one OpenMP thread);
  node_step     the whole per-frame step the emotion node runs per face
                (k-NN, smoothing, pain score, valence/arousal).
Writes results/benchmark_emotion.json.

    python scripts/benchmark_emotion.py [--runs 300]
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from benchmark_au import sample_crops
from sklearn import config_context
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import ThreadpoolController

from emotion_ros.affect import pspi, valence_arousal
from emotion_ros.au_model import AUModel
from emotion_ros.emotion_classifier import QUERY_CONFIG, SHIPPED_CLASSIFIER_PATH, \
    AUEmotionClassifier
from emotion_ros.emotion_smoothing import EmotionSmoother

ROOT = Path(__file__).resolve().parent.parent


def median_ms_per_face(step, batch, runs):
    for _ in range(20):
        step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000 / batch)
    return {'median_ms_per_face': round(float(np.median(times)), 3),
            'p95_ms_per_face': round(float(np.percentile(times, 95)), 3), 'runs': runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=300)
    parser.add_argument('--output', default=str(ROOT / 'results' / 'benchmark_emotion.json'))
    args = parser.parse_args()
    model = AUModel()
    vectors = model.predict_proba(sample_crops(count=64))
    classifier = AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH, model.au_codes)
    searching = AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH, model.au_codes)
    searching.recent_answers = 0
    reference = KNeighborsClassifier(classifier.n_neighbors, weights='distance',
                                     metric=classifier.metric).fit(
        classifier.points.astype(np.float64), classifier.point_labels)
    threads = ThreadpoolController()
    smoother = EmotionSmoother(classifier.labels)
    clock = iter(range(10 ** 9))

    def faces(batch):
        """The faces of the next frame: `batch` vectors, a different set on each call."""
        start = next(clock) * batch % (len(vectors) - batch)
        return vectors[start:start + batch]

    def scikit_learn(batch):
        with threads.limit(limits=1, user_api='openmp'), config_context(**QUERY_CONFIG):
            reference.predict_proba(faces(batch).astype(np.float64))

    def node_step(batch):
        au = faces(batch)
        stamp = next(clock) / 30
        for face_id, (face, p) in enumerate(zip(au, searching.predict_proba(au))):
            smoothed = smoother.update(face_id, p, stamp)
            valence_arousal(classifier.labels, smoothed.probabilities)
            pspi(model.au_codes, face)

    results = {}
    for batch in (1, 3, 8):
        results[f'batch_{batch}'] = {
            'knn': median_ms_per_face(lambda: searching.predict_proba(faces(batch)), batch,
                                      args.runs),
            'knn_repeated': median_ms_per_face(lambda: classifier.predict_proba(vectors[:batch]),
                                               batch, args.runs),
            'scikit_learn': median_ms_per_face(lambda: scikit_learn(batch), batch, args.runs),
            'node_step': median_ms_per_face(lambda: node_step(batch), batch, args.runs)}
    report = {'command': f'python scripts/benchmark_emotion.py --runs {args.runs}',
              'neighbourhood': {'points': int(len(classifier.points)), 'k': classifier.n_neighbors,
                                'metric': classifier.metric,
                                'file_kb': round(SHIPPED_CLASSIFIER_PATH.stat().st_size / 1024)},
              'cores': os.cpu_count(), 'results': results}
    Path(args.output).write_text(json.dumps(report, indent=2) + '\n')
    for batch in (1, 3, 8):
        r = results[f'batch_{batch}']
        print(f"batch {batch}: k-NN {r['knn']['median_ms_per_face']:.3f} ms/face (repeated "
              f"vectors {r['knn_repeated']['median_ms_per_face']:.3f}, scikit-learn "
              f"{r['scikit_learn']['median_ms_per_face']:.3f}), whole node step "
              f"{r['node_step']['median_ms_per_face']:.3f} ms/face (median of {args.runs})")
    print(f'written to {args.output}')


if __name__ == '__main__':
    main()
