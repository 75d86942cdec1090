"""How the short-range BlazeFace's boxes in a face's region differ from the full-range model's.

Between two looks at the whole frame, the face detector finds each tracked face again
with the short-range model in a square around it (face_detection.RegionDetector). Its
boxes are smaller and placed a little lower than the full-range model's, on whose boxes
the crops were framed; this measures by how much. Faces: FER2013 Training faces, each
padded by its own size on every side and enlarged to 288 px (a face of ~96 px, alone in
the picture); the full-range model on the whole picture, the short-range model on the
square twice its box wide around it, as RegionDetector asks. Medians, with quartiles, of
the size ratio (full-range / short-range) and of the short-range centre's offset in its
own box widths. Writes results/region_boxes.json; face_detection.SHORT_TO_FULL_RANGE_BOX
holds the medians.

    python scripts/fit_region_boxes.py [--faces 3000]
"""
import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from emotion_ros.face_detection import BlazeFaceDetector, RegionDetector, correction_between
from emotion_ros.training.data import load_fer2013

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / 'shared' / 'data'


def padded_face(face: np.ndarray) -> np.ndarray:
    size = face.shape[0]
    picture = cv2.copyMakeBorder(face, size, size, size, size, cv2.BORDER_CONSTANT, value=0)
    return cv2.cvtColor(cv2.resize(picture, (288, 288), interpolation=cv2.INTER_LINEAR),
                        cv2.COLOR_GRAY2BGR)


def box_pairs(pictures, full_range, regions):
    """(size ratio, centre offset x, y) of each face both models find: the correction from
    its short-range box to its full-range box (face_detection.correction_between)."""
    rows = []
    for picture in pictures:
        whole = full_range.detect(picture)
        if not len(whole):
            continue
        found = regions.find(picture, whole.boxes[:1])
        if found is None:
            continue
        correction = correction_between(found.boxes[0], whole.boxes[0])
        rows.append([correction['scale'], *correction['shift']])
    return np.array(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--faces', type=int, default=3000, help='first N FER2013 Training faces')
    parser.add_argument('--data', type=Path, default=DATA)
    parser.add_argument('--out', type=Path, default=ROOT / 'results' / 'region_boxes.json')
    args = parser.parse_args(argv)
    faces = load_fer2013(args.data, 'Training')[0][:args.faces]
    regions = RegionDetector(BlazeFaceDetector('short_range'))
    rows = box_pairs((padded_face(face) for face in faces), BlazeFaceDetector('full_range'),
                     regions)
    quartiles = np.percentile(rows, [25, 50, 75], axis=0)
    result = {
        'command': 'python scripts/fit_region_boxes.py' + (f' --faces {args.faces}'
                                                          if args.faces != 3000 else ''),
        'faces': len(faces), 'faces_found_by_both': len(rows),
        'region_size': regions.region_size,
        'scale': {'median': round(float(quartiles[1, 0]), 3),
                  'quartiles': [round(float(quartiles[0, 0]), 3), round(float(quartiles[2, 0]), 3)]},
        'shift': {'median': [round(float(v), 3) for v in quartiles[1, 1:]],
                  'quartiles_x': [round(float(quartiles[0, 1]), 3), round(float(quartiles[2, 1]), 3)],
                  'quartiles_y': [round(float(quartiles[0, 2]), 3), round(float(quartiles[2, 2]), 3)]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + '\n')
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == '__main__':
    main()
