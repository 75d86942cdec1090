"""Add an emotion (or more examples of one) to a k-NN neighbourhood: no retraining.

    # from AU vectors written by hand or exported from another tool
    python -m emotion_ros.add_emotion --points pain_examples.yaml --out my_knn.npz
    # from face images: the AU model reads each image's largest face (also in
    # portrait crops that the face fills); it says how many images had none
    python -m emotion_ros.add_emotion --images photos/confused --label confused --out my_knn.npz

Starts from --base (default: the shipped neighbourhood), appends the new
labelled AU vectors and writes a new .npz; point the emotion node's
`classifier_path` parameter at it. With --images, each face also joins the
neighbourhoods of small faces as it reads shrunk to their widths; points
from a file join them as given. Point files:
  YAML: {label: [{AU4: 0.9, AU6: 0.8, ...}, ...], ...}   (AUs left out are 0)
  CSV:  a `label` column and AU columns named AU1, AU2, ...
Values are AU probabilities 0..1, in the AU model's AU list; any other AU
is refused, since the model never predicts it.
"""
import argparse
import csv
from pathlib import Path

import cv2
import numpy as np
import yaml

from .emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from .training.augment import shrink_faces

IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.pgm', '.tif', '.tiff', '.webp'}


def _vector(au_values: dict, au_codes, source: str) -> list[float]:
    values = {int(str(name).upper().removeprefix('AU')): float(v) for name, v in au_values.items()}
    unknown = sorted(set(values) - set(au_codes))
    if unknown:
        raise ValueError(f"{source}: AU{', AU'.join(map(str, unknown))} not in the model's AUs "
                         f'{au_codes}')
    if not all(0.0 <= v <= 1.0 for v in values.values()):
        raise ValueError(f'{source}: AU values must be probabilities 0..1')
    return [values.get(code, 0.0) for code in au_codes]


def read_points(path, au_codes) -> tuple[np.ndarray, np.ndarray]:
    """(AU vectors [N, K], labels [N]) from a YAML or CSV point file."""
    path = Path(path)
    vectors, labels = [], []
    if path.suffix.lower() == '.csv':
        with open(path, newline='') as handle:
            for row_number, row in enumerate(csv.DictReader(handle), start=2):
                label = row.pop('label')
                vectors.append(_vector({k: v for k, v in row.items() if v not in ('', None)},
                                       au_codes, f'{path}:{row_number}'))
                labels.append(label)
    else:
        content = yaml.safe_load(path.read_text()) or {}
        if not isinstance(content, dict):
            raise ValueError(f'{path}: expected a mapping of label -> list of AU vectors')
        for label, points in content.items():
            for i, point in enumerate(points):
                vectors.append(_vector(point, au_codes, f'{path}: {label}[{i}]'))
                labels.append(str(label))
    if not vectors:
        raise ValueError(f'{path} holds no points')
    return np.array(vectors, np.float32), np.array(labels)


def image_face_crops(folder, perception) -> tuple[list[np.ndarray], list[str], int]:
    """The aligned crop of the largest face in each image of `folder`, the names of the
    images without a face (skipped), and the number of images read."""
    crops, skipped = [], []
    images = [path for path in sorted(Path(folder).iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]
    for path in images:
        image = cv2.imread(str(path))
        faces = perception.process(image, 0.0) if image is not None else []
        perception.tracker.reset()
        if not faces:
            skipped.append(path.name)
            continue
        crops.append(max(faces, key=lambda f: f.box[2] * f.box[3]).crop)
    return crops, skipped, len(images)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--base', type=Path, default=SHIPPED_CLASSIFIER_PATH,
                        help='neighbourhood to extend (default: the shipped one)')
    parser.add_argument('--out', type=Path, required=True, help='new .npz to write')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--points', type=Path, help='YAML or CSV of labelled AU vectors')
    source.add_argument('--images', type=Path, help='folder of face images of one emotion')
    parser.add_argument('--label', help='the emotion of --images')
    parser.add_argument('--model', type=Path, help='AU model directory for --images '
                        '(default: the shipped one)')
    args = parser.parse_args(argv)

    classifier = AUEmotionClassifier.load(args.base)
    size_points = None
    if args.points:
        vectors, labels = read_points(args.points, classifier.au_codes)
    else:
        if not args.label:
            parser.error('--images needs --label')
        from .au_model import AUModel
        from .face_detection import make_detector
        from .face_perception import FacePerception
        from .tracking import FaceTracker
        au_model = AUModel(args.model)
        if au_model.au_codes != classifier.au_codes:
            parser.error(f'the AU model gives AUs {au_model.au_codes}, {args.base} was made for '
                         f'{classifier.au_codes}')
        # Still photos: any detection the detector keeps counts (no track needs confirming).
        perception = FacePerception(make_detector('blazeface'), FaceTracker(min_new_score=0.0))
        crops, skipped, read = image_face_crops(args.images, perception)
        print(f'a face in {read - len(skipped)} of {read} images in {args.images}' +
              (f"; no face in {len(skipped)}, skipped: {', '.join(skipped)}" if skipped else ''))
        if not crops:
            parser.error(f'no faces in {args.images}')
        vectors = au_model.predict_proba(crops)
        size_points = {width: au_model.predict_proba(shrink_faces(np.stack(crops), width))
                       for width in classifier.size_points}
        labels = np.array([args.label] * len(vectors))
    classifier.add_examples(vectors, labels, size_points)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    classifier.save(args.out)
    added = {label: int((labels == label).sum()) for label in dict.fromkeys(labels)}
    print(f"added {', '.join(f'{n} {label}' for label, n in added.items())} to {args.base.name}: "
          f"{len(classifier.points)} points, labels {', '.join(classifier.labels)}; wrote {args.out}")


if __name__ == '__main__':
    main()
