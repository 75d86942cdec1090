"""Following tracked faces in their regions between looks at the whole frame (the face
detector's full_detection_interval), on the sample clips."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, read_frames, read_image, requires_shared

from emotion_ros.au_model import AUModel
from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from emotion_ros.face_detection import (SHORT_TO_FULL_RANGE_BOX, RegionDetector, box_iou,
                                        make_detector, make_region_detector)
from emotion_ros.face_perception import FacePerception
from emotion_ros.tracking import FaceTracker


SCRIPTS = Path(__file__).resolve().parents[2] / 'scripts'


@pytest.fixture(scope='module')
def blazeface():
    return make_detector('blazeface')


def run(detector, frames, fps, interval):
    """Each frame's tracked faces, and the FacePerception that found them."""
    perception = FacePerception(detector, FaceTracker(), region_detector=make_region_detector(
        detector), full_detection_interval=interval)
    return [perception.process(frame, i / fps) for i, frame in enumerate(frames)], perception


def test_region_boxes_are_drawn_as_the_full_range_model_draws_them(blazeface):
    """The short-range model's boxes, corrected (SHORT_TO_FULL_RANGE_BOX, fitted on FER2013
    faces), cover the full-range model's on the frames of a clip; the crops were framed on
    those."""
    frames, _ = read_frames('WolfgangLanger_Pexels.mp4')
    corrected = make_region_detector(blazeface)
    raw = RegionDetector(corrected.detector)
    overlap = {'corrected': [], 'raw': []}
    for frame in frames[::6]:
        whole = blazeface.detect(frame)
        assert len(whole) == 1
        for name, regions in (('corrected', corrected), ('raw', raw)):
            found = regions.detect(frame, whole.boxes)
            overlap[name].append(0.0 if found is None else box_iou(found.boxes, whole.boxes)[0, 0])
    corrected_iou, raw_iou = np.array(overlap['corrected']), np.array(overlap['raw'])
    print(f'IoU with the full-range box over {len(corrected_iou)} frames: median '
          f'{np.median(corrected_iou):.3f} corrected, {np.median(raw_iou):.3f} raw')
    assert (corrected_iou >= 0.75).mean() >= 0.95
    assert np.median(corrected_iou) > np.median(raw_iou)


def test_a_face_gone_from_its_region_is_lost(blazeface):
    frames, _ = read_frames('no_face.mp4', limit=1)
    assert make_region_detector(blazeface).detect(frames[0], [[200, 150, 120, 120]]) is None
    assert make_region_detector(make_detector('haar')) is None
    # The short-range detector follows its own faces: its boxes need no correction.
    assert make_region_detector(make_detector('blazeface_short')).box_correction is None


def test_the_region_network_runs_in_its_own_precision_and_finds_the_same_boxes(blazeface):
    """The short-range network that follows faces runs in region_precision (bf16 by default,
    f32 on a CPU without it): a network of its own then, the close-face fallback's (f32) when
    both are f32; on a clip's frames its boxes overlap f32's almost exactly."""
    f32 = make_region_detector(blazeface, precision='f32')
    assert f32.detector is blazeface.fallback
    bf16 = make_region_detector(blazeface)
    assert bf16.detector is not blazeface.fallback and bf16.detector.precision == 'bf16'
    short_range = make_detector('blazeface_short')
    assert make_region_detector(short_range, precision='f32').detector is short_range
    frames, _ = read_frames('WolfgangLanger_Pexels.mp4')
    overlap = []
    for frame in frames[::4]:
        whole = blazeface.detect(frame)
        exact, fast = f32.detect(frame, whole.boxes), bf16.detect(frame, whole.boxes)
        assert (exact is None) == (fast is None)
        if exact is not None:
            overlap.append(box_iou(exact.boxes, fast.boxes)[0, 0])
    print(f'IoU of bf16 with f32 region boxes over {len(overlap)} frames: mean '
          f'{np.mean(overlap):.4f}, least {np.min(overlap):.4f}')
    assert len(overlap) >= 100 and np.mean(overlap) >= 0.99 and np.min(overlap) >= 0.9


@requires_shared
def test_box_correction_script_measures_on_fer2013_faces(tmp_path):
    """scripts/fit_region_boxes.py on a few faces: the short-range boxes come out smaller
    than the full-range ones, as the shipped correction says."""
    out = tmp_path / 'region_boxes.json'
    subprocess.run([sys.executable, str(SCRIPTS / 'fit_region_boxes.py'), '--faces', '40',
                    '--data', str(SHARED_DATA), '--out', str(out)], check=True, timeout=300)
    result = json.loads(out.read_text())
    assert result['faces_found_by_both'] >= 30
    assert 1.0 < result['scale']['median'] < 1.15
    assert abs(result['scale']['median'] - SHORT_TO_FULL_RANGE_BOX['scale']) < 0.05


def test_followed_faces_keep_their_ids_for_a_third_of_the_cpu(blazeface):
    frames, fps = read_frames('WolfgangLanger_Pexels.mp4')
    every_frame, _ = run(blazeface, frames, fps, 0.0)
    followed, perception = run(blazeface, frames, fps, 0.2)
    assert [len(f) for f in followed] == [len(f) for f in every_frame]
    assert {face.id for faces in followed for face in faces} == {1}
    # A whole-frame look every 0.2 s, as long as the face stays in its region.
    assert perception.whole_frame_looks <= 1.2 * len(frames) / (0.2 * fps)
    assert perception.region_looks == len(frames) - perception.whole_frame_looks


def test_followed_faces_keep_the_framing_of_their_whole_frame_look(blazeface):
    """Each face's region boxes are corrected to its own box at the last whole-frame look: they
    overlap the boxes a whole-frame look on every frame would give by a mean IoU of at least
    0.93 (the shared correction alone: see the first test, a median IoU of 0.87)."""
    for clip in ('WolfgangLanger_Pexels.mp4', 'single_face.mp4'):
        frames, fps = read_frames(clip)
        every_frame, _ = run(blazeface, frames, fps, 0.0)
        followed, _ = run(blazeface, frames, fps, 0.2)
        overlap = [box_iou(a[0].box[None], b[0].box[None])[0, 0]
                   for a, b in zip(every_frame, followed) if a and b]
        print(f'{clip}: mean IoU {np.mean(overlap):.3f} with the whole-frame boxes')
        assert np.mean(overlap) >= 0.93


def test_a_face_that_comes_is_found_within_the_interval(blazeface):
    """noface_face.mov: the face enters; face_noface.mov: it leaves. With looks at the whole
    frame 0.2 s apart, the face is found at most that late, and never kept once gone."""
    for clip in ('noface_face.mov', 'face_noface.mov'):
        frames, fps = read_frames(clip)
        every_frame = [bool(f) for f in run(blazeface, frames, fps, 0.0)[0]]
        followed = [bool(f) for f in run(blazeface, frames, fps, 0.2)[0]]
        late = [i for i, (a, b) in enumerate(zip(every_frame, followed)) if a and not b]
        extra = [i for i, (a, b) in enumerate(zip(every_frame, followed)) if b and not a]
        print(clip, f'{sum(every_frame)} frames with the face at every look, {sum(followed)} '
              f'followed; late at {late}, extra at {extra}')
        assert len(late) <= int(np.ceil(0.2 * fps)) and not extra


def test_two_faces_are_followed_and_five_send_every_frame_to_the_detector(blazeface):
    frames, fps = read_frames('single_face.mp4')
    two = [np.concatenate([frame, frame[:, ::-1]], axis=1) for frame in frames]
    faces, perception = run(blazeface, two, fps, 0.2)
    assert all(len(f) == 2 for f in faces)
    assert {face.id for f in faces for face in f} == {1, 2}
    assert perception.region_looks > perception.whole_frame_looks
    image = read_image('multi_face.jpg')
    perception = FacePerception(blazeface, FaceTracker(), region_detector=make_region_detector(
        blazeface), full_detection_interval=10.0)
    assert [len(perception.process(image, t)) for t in (0.0, 0.1, 0.2)] == [5, 5, 5]
    assert perception.region_looks == 0


def test_frames_between_two_looks_keep_the_last_looks_faces(blazeface):
    """detection_interval (0.1 s here; the robot mode's is 0.2): a frame sooner than that
    after the last look is given that look's faces again (the same boxes, crops and ids) and
    runs no network; a face that leaves is dropped at most that late; a clock that goes back
    is looked at."""
    frames, fps = read_frames('face_noface.mov')
    every_frame = run(blazeface, frames, fps, 0.0)[0]
    perception = FacePerception(blazeface, FaceTracker(), region_detector=make_region_detector(
        blazeface), full_detection_interval=0.5, detection_interval=0.1)
    held = [perception.process(frame, i / fps) for i, frame in enumerate(frames)]
    looks = perception.whole_frame_looks + perception.region_looks
    assert looks + perception.held_frames == len(frames)
    assert looks <= np.ceil(len(frames) / (0.1 * fps)) + 1 and perception.held_frames > looks
    look_frames = [0]
    for i in range(1, len(frames)):
        if i / fps - look_frames[-1] / fps >= 0.1:
            look_frames.append(i)
    for i, faces in enumerate(held):
        source = held[max(j for j in look_frames if j <= i)]
        assert [(f.id, f.box.tobytes(), f.crop.tobytes()) for f in faces] == \
            [(f.id, f.box.tobytes(), f.crop.tobytes()) for f in source]
    # The face leaves: from the first look after, it is gone, as on every frame's look.
    gone = [i for i in look_frames if not every_frame[i]]
    assert gone and all(not held[i] for i in gone)
    assert sum(bool(f) for f in held) - sum(bool(f) for f in every_frame) <= np.ceil(0.1 * fps)
    # A clock that goes back (a bag played again) is looked at at once.
    before = perception.whole_frame_looks + perception.region_looks
    perception.process(frames[0], 0.0)
    assert perception.whole_frame_looks + perception.region_looks == before + 1


def test_followed_faces_read_the_same_emotions(blazeface):
    """The AU model and the k-NN read the crops of followed faces as those of faces found in
    the whole frame, frame by frame (no smoothing)."""
    model, classifier = AUModel(), AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH)
    for clip in ('WolfgangLanger_Pexels.mp4', 'single_face.mp4'):
        frames, fps = read_frames(clip)
        labels = []
        for interval in (0.0, 0.2):
            faces, _ = run(blazeface, frames, fps, interval)
            crops = [f[0].crop for f in faces if f]
            labels.append(classifier.predict(model.predict_proba(crops)))
        agree = (labels[0] == labels[1]).mean()
        print(f'{clip}: the same label on {agree:.1%} of {len(labels[0])} frames')
        assert agree >= 0.9
