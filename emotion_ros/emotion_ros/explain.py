"""Why the robot thinks so: saliency maps of the AU model and the emotion, as PNGs.

    python -m emotion_ros.explain IMAGE_OR_VIDEO [--face N] [--out DIR] [--method hirescam]
    python -m emotion_ros.explain --sanity [--data DIR] [--out results/saliency]

On an image: per face (numbered 1, 2, ... from the most confident detection; --face N
for one) a PNG `<name>_face<N>.png`: the aligned crop the pipeline reads, the emotion with
its distribution (the shipped k-NN, unsmoothed), the most probable AUs, the AUs that carried
the emotion, and a heatmap per top AU and for the emotion over the face; also
`<name>_faces.png`, the image with the numbered boxes. On a video: `<name>_strip.png`, a strip
of --frames frames spread over the clip, each with face N (default 1) and its emotion and
top-AU heatmaps. What the maps are: emotion_ros/saliency.py.

--sanity: the check of issue 17 on AU-coded CK+ faces (research data, not read otherwise):
the share of each method's saliency mass in the expected half of the crop for the mouth AUs
(lower) and brow AUs (upper), with the blur-occlusion answer of the model itself beside it,
and the cascading randomisation of Adebayo et al. 2018 (Spearman correlation of the maps with
the trained model's); writes `sanity.json` and `sanity.md` to --out.
"""
import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from .saliency import (DEFAULT_METHOD, METHODS, Saliency, emotion_map, explain_emotion,
                       half_shares, randomisation_correlations, weighted_layers)

VIDEO_SUFFIXES = {'.mp4', '.mov', '.avi', '.mkv', '.webm', '.m4v'}
FACS_NAMES = {1: 'inner brow raiser', 2: 'outer brow raiser', 4: 'brow lowerer',
              5: 'upper lid raiser', 6: 'cheek raiser', 7: 'lid tightener', 9: 'nose wrinkler',
              10: 'upper lip raiser', 12: 'lip corner puller', 14: 'dimpler',
              15: 'lip corner depressor', 17: 'chin raiser', 20: 'lip stretcher',
              23: 'lip tightener', 24: 'lip pressor', 25: 'lips part', 26: 'jaw drop'}


class Explainer:
    """The pipeline's core (detector, aligned crops, AU model, k-NN) with saliency maps."""

    def __init__(self, method: str = DEFAULT_METHOD, model_dir=None, classifier_path=None):
        from .au_model import AUModel
        from .emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
        from .face_detection import make_detector
        from .face_perception import FacePerception
        from .tracking import FaceTracker
        if method not in METHODS:
            raise ValueError(f"unknown method '{method}' (choose from {', '.join(METHODS)})")
        self.method = method
        self.saliency = Saliency(AUModel(model_dir, backend='tensorflow'))
        self.au_codes = self.saliency.au_model.au_codes
        self.classifier = AUEmotionClassifier.load(classifier_path or SHIPPED_CLASSIFIER_PATH,
                                                   self.au_codes)
        # Still images: every detection the detector keeps is a face (as add_emotion reads them).
        self.perception = FacePerception(make_detector('blazeface'), FaceTracker(min_new_score=0.0))

    def faces(self, image: np.ndarray) -> list:
        """The faces of a BGR image, most confident first, each with its aligned crop."""
        self.perception.tracker.reset()
        return self.perception.process(image, 0.0)

    def explain(self, crops) -> dict:
        """Everything the figures show, for a batch of crops (one saliency call, one k-NN query):
        AU probabilities [N, K], maps [N, K, S, S], emotion (EmotionExplanation), emotion
        maps [N, S, S]."""
        result = self.saliency.explain(crops)
        maps = result.maps[self.method]
        emotion = explain_emotion(result.probabilities, self.classifier)
        return {'probabilities': result.probabilities, 'maps': maps, 'emotion': emotion,
                'emotion_maps': emotion_map(maps, emotion.contributions)}


def _overlay(axis, crop, heat, title):
    axis.imshow(crop, cmap='gray', vmin=0, vmax=255)
    if heat.max() > 0:
        axis.imshow(heat / heat.max(), cmap='jet', alpha=0.45, vmin=0, vmax=1)
    axis.set_title(title, fontsize=8)
    axis.axis('off')


def _carriers(emotion, face: int, au_codes, count: int = 3) -> str:
    order = np.argsort(-emotion.contributions[face])[:count]
    kept = [f'AU{au_codes[j]} {emotion.contributions[face, j]:+.2f}' for j in order
            if emotion.contributions[face, j] > 0]
    return ', '.join(kept) or 'no AU raised it'


def face_figure(path: Path, crop, explained: dict, face: int, au_codes, title: str,
                top: int = 4, method: str = DEFAULT_METHOD):
    """One face's PNG (see the module docstring)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    probabilities, emotion = explained['probabilities'][face], explained['emotion']
    ranked = np.argsort(-probabilities)
    figure = plt.figure(figsize=(10, 5.2), dpi=100)
    grid = figure.add_gridspec(2, max(top + 1, 5), hspace=0.45, wspace=0.35)
    axis = figure.add_subplot(grid[0, 0])
    axis.imshow(crop, cmap='gray', vmin=0, vmax=255)
    axis.set_title('aligned crop', fontsize=8)
    axis.axis('off')
    axis = figure.add_subplot(grid[0, 1:3])
    labels, shares = emotion.labels, emotion.probabilities[face]
    axis.barh(range(len(labels)), shares, color=['tab:red' if label == emotion.emotion[face]
                                                 else 'tab:grey' for label in labels])
    axis.set_yticks(range(len(labels)), labels, fontsize=8)
    axis.set_xlim(0, 1)
    axis.invert_yaxis()
    axis.set_title(f'emotion: {emotion.emotion[face]} {shares.max():.2f}', fontsize=9)
    axis.tick_params(axis='x', labelsize=7)
    axis = figure.add_subplot(grid[0, 3:])
    shown = ranked[:6]
    axis.barh(range(len(shown)), probabilities[shown], color='tab:blue')
    axis.set_yticks(range(len(shown)), [f'AU{au_codes[j]} {FACS_NAMES.get(au_codes[j], "")}'
                                        for j in shown], fontsize=7)
    axis.set_xlim(0, 1)
    axis.invert_yaxis()
    axis.set_title('most probable AUs', fontsize=9)
    axis.tick_params(axis='x', labelsize=7)
    for column, j in enumerate(ranked[:top]):
        _overlay(figure.add_subplot(grid[1, column]), crop, explained['maps'][face, j],
                 f'AU{au_codes[j]} p={probabilities[j]:.2f}')
    _overlay(figure.add_subplot(grid[1, top]), crop, explained['emotion_maps'][face],
             f'{emotion.emotion[face]}: {_carriers(emotion, face, au_codes, 2)}')
    figure.suptitle(f'{title}   (maps: {method}; emotion carried by '
                    f'{_carriers(emotion, face, au_codes)})', fontsize=9)
    figure.savefig(path)
    plt.close(figure)


def explain_image(explainer: Explainer, path: Path, out: Path, face_number: int | None = None,
                  top: int = 4) -> list[Path]:
    """The PNGs of an image's faces (all, or number `face_number`); returns their paths."""
    from .face_perception import draw_faces
    image = cv2.imread(str(path))
    if image is None:
        raise ValueError(f'{path} is not an image OpenCV can read')
    faces = explainer.faces(image)
    numbers = list(range(1, len(faces) + 1))
    if face_number is not None:
        if not 1 <= face_number <= len(faces):
            raise ValueError(f'{path.name}: no face {face_number} ({len(faces)} found)')
        numbers = [face_number]
    written = []
    overview = out / f'{path.stem}_faces.png'
    cv2.imwrite(str(overview), draw_faces(image, faces, [f'face {n}' for n in range(1, len(faces) + 1)]))
    written.append(overview)
    if not numbers:
        return written
    crops = [faces[n - 1].crop for n in numbers]
    explained = explainer.explain(crops)
    for row, number in enumerate(numbers):
        target = out / f'{path.stem}_face{number}.png'
        face_figure(target, crops[row], explained, row, explainer.au_codes,
                    f'{path.name}, face {number}', top, explainer.method)
        written.append(target)
    return written


def explain_video(explainer: Explainer, path: Path, out: Path, face_number: int | None = None,
                  frames: int = 6) -> list[Path]:
    """A strip of `frames` frames spread over the clip with face `face_number` (default 1)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    capture = cv2.VideoCapture(str(path))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    picked = []
    for index in np.linspace(0, max(total - 1, 0), frames).round().astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, image = capture.read()
        if not ok:
            continue
        faces = explainer.faces(image)
        number = face_number or 1
        picked.append((int(index), image, faces[number - 1] if len(faces) >= number else None))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    capture.release()
    if not picked:
        raise ValueError(f'{path} has no frames OpenCV can read')
    found = [p for p in picked if p[2] is not None]
    explained = explainer.explain([face.crop for _, _, face in found]) if found else None
    figure, axes = plt.subplots(3, len(picked), figsize=(2.2 * len(picked), 7.2), dpi=100,
                                squeeze=False)
    row = 0
    for column, (index, image, face) in enumerate(picked):
        top_axis = axes[0, column]
        shown = image.copy()
        if face is not None:
            x, y, w, h = (int(round(v)) for v in face.box)
            cv2.rectangle(shown, (x, y), (x + w, y + h), (0, 200, 0), max(2, image.shape[1] // 300))
        top_axis.imshow(cv2.cvtColor(shown, cv2.COLOR_BGR2RGB))
        top_axis.set_title(f'{index / fps:.1f} s', fontsize=8)
        top_axis.axis('off')
        if face is None:
            for axis in axes[1:, column]:
                axis.axis('off')
            axes[1, column].set_title(f'no face {face_number or 1}', fontsize=8)
            continue
        emotion = explained['emotion']
        label, confidence = emotion.emotion[row], emotion.probabilities[row].max()
        _overlay(axes[1, column], face.crop, explained['emotion_maps'][row],
                 f'{label} {confidence:.2f}\n{_carriers(emotion, row, explainer.au_codes, 2)}')
        best = int(np.argmax(explained['probabilities'][row]))
        _overlay(axes[2, column], face.crop, explained['maps'][row, best],
                 f'AU{explainer.au_codes[best]} p={explained["probabilities"][row, best]:.2f}')
        row += 1
    figure.suptitle(f'{path.name}, face {face_number or 1} (maps: {explainer.method}; row 2 the '
                    f'emotion, row 3 the most probable AU)', fontsize=9)
    figure.tight_layout()
    target = out / f'{path.stem}_strip.png'
    figure.savefig(target)
    plt.close(figure)
    return [target]


def sanity(data_dir: Path, out: Path, faces_per_au: int | None = None, random_faces: int = 24,
           depths=(1, 2, 4, 9), model_dir: Path | None = None) -> dict:
    """Issue 17's sanity check on CK+ (see the module docstring) of the AU model in model_dir
    (default: the shipped one); writes sanity.json and .md."""
    from .au_model import AUModel
    from .training.data import load_ckplus
    saliency = Saliency(AUModel(model_dir, backend='tensorflow'))
    data = load_ckplus(data_dir, saliency.au_model.au_codes)
    shares = half_shares(saliency, data['images'], data['au'], data['subjects'], faces_per_au)
    # Randomisation: one face of each of the first subjects, the maps of every AU.
    _, first = np.unique(data['subjects'], return_index=True)
    crops = data['images'][np.sort(first)[:random_faces]]
    layers = len(weighted_layers(saliency.model))
    randomised = randomisation_correlations(saliency, crops, [d for d in depths if d <= layers])
    report = {'data': 'CK+ apex frames (load_ckplus), first frame of each subject coded with the AU',
              'cam_layer': saliency.cam_layer, 'threshold': 0.7,
              'half_shares': {f'AU{code}': value for code, value in shares.items()},
              'randomisation': {'faces': int(len(crops)), 'cascade': {
                  str(depth): value for depth, value in randomised.items()}}}
    out.mkdir(parents=True, exist_ok=True)
    (out / 'sanity.json').write_text(json.dumps(report, indent=2) + '\n')
    lines = ['| AU | half | faces | ' + ' | '.join(METHODS) + ' | occlusion |',
             '|---|---|---|' + '---|' * (len(METHODS) + 1)]
    for code, value in shares.items():
        lines.append(f"| AU{code} | {value['half']} | {value['faces']} | " + ' | '.join(
            f"{value['share'][m]:.2f}" for m in METHODS) + f" | {value['occlusion']:.2f} |")
    lines += ['', '| layers randomised (from the top) | ' + ' | '.join(METHODS) + ' |',
              '|---|' + '---|' * len(METHODS)]
    for depth, value in randomised.items():
        lines.append(f"| {depth} (down to {value['layers'][-1]}) | " + ' | '.join(
            f"{value['spearman'][m]:.2f}" for m in METHODS) + ' |')
    (out / 'sanity.md').write_text('\n'.join(lines) + '\n')
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('source', nargs='?', type=Path, help='an image or a video')
    parser.add_argument('--face', type=int, help='only face N (1 = the most confident detection)')
    parser.add_argument('--out', type=Path, help='folder for the PNGs (default: output/explain; '
                        'with --sanity results/saliency)')
    parser.add_argument('--method', default=DEFAULT_METHOD, choices=METHODS,
                        help='saliency method of the heatmaps')
    parser.add_argument('--top', type=int, default=4, help='AU heatmaps per face')
    parser.add_argument('--frames', type=int, default=6, help='frames in a video strip')
    parser.add_argument('--sanity', action='store_true', help="issue 17's check on CK+ faces")
    parser.add_argument('--data', type=Path, help='research data folder for --sanity '
                        '(default: ../shared/data beside the checkout)')
    parser.add_argument('--faces-per-au', type=int, help='--sanity: at most this many faces per AU')
    parser.add_argument('--model', type=Path,
                        help='--sanity: AU model folder (default: the shipped one)')
    args = parser.parse_args(argv)
    if args.sanity:
        from .training.train import DEFAULT_DATA, REPO
        out = args.out or REPO / 'results' / 'saliency'
        report = sanity(args.data or DEFAULT_DATA, out, args.faces_per_au, model_dir=args.model)
        for code, value in report['half_shares'].items():
            print(f"{code}: {value['share'][DEFAULT_METHOD]:.2f} of the {DEFAULT_METHOD} mass in the "
                  f"{value['half']} half ({value['faces']} faces; occlusion {value['occlusion']:.2f})")
        print(f'wrote {out / "sanity.json"} and {out / "sanity.md"}')
        return
    if args.source is None:
        parser.error('give an image or a video (or --sanity)')
    if not args.source.is_file():
        sys.exit(f'no such file: {args.source}')
    out = args.out or Path('output') / 'explain'
    out.mkdir(parents=True, exist_ok=True)
    explainer = Explainer(args.method)
    if args.source.suffix.lower() in VIDEO_SUFFIXES:
        written = explain_video(explainer, args.source, out, args.face, args.frames)
    else:
        written = explain_image(explainer, args.source, out, args.face, args.top)
    print('\n'.join(str(path) for path in written))


if __name__ == '__main__':
    main()
