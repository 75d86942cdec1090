"""FaceMesh landmarks and AU43 (eyes closed) on real frames of the sample clips.

The eyes-open and eyes-closed frames below were marked by hand, looking at
each frame's eyes (crops of the eye region, frame numbers as OpenCV reads
the clips from 0). Frames in between (half-closed lids mid-blink, lowered
gaze while laughing) are left out.
"""
import cv2
import numpy as np
import pytest
from conftest import read_frames, read_image
from sklearn.metrics import roc_auc_score

from emotion_ros.face_detection import make_detector
from emotion_ros.face_landmarks import (FACEMESH_MIN_PRESENCE, FACEMESH_POINTS, LEFT_EYE_EAR,
                                        RIGHT_EYE_EAR, FaceMesh, au43, au43_from_ear)
from emotion_ros.face_perception import FacePerception
from emotion_ros.tracking import FaceTracker

EYES = {
    # Crying with the eyes squeezed shut (24-92), three blinks (248, 288, 386-387); open eyes
    # looking up and around, talking (158-242, 296-380), and laughing (392-416).
    'WolfgangLanger_Pexels.mp4': {
        'closed': list(range(24, 93, 4)) + [248, 288, 386, 387],
        'open': list(range(158, 243, 6)) + list(range(296, 381, 6)) + [392, 398, 404, 410, 416],
    },
    # A blink (26-28); open eyes before it and while smiling after it.
    'single_face.mp4': {
        'closed': [26, 27, 28],
        'open': list(range(0, 21, 4)) + list(range(36, 69, 8)),
    },
}


@pytest.fixture(scope='module')
def face_mesh():
    return FaceMesh()


@pytest.fixture(scope='module')
def detector():
    return make_detector('blazeface')


def first_face_points(detector, face_mesh, frame):
    found = detector.detect(frame)
    assert len(found) >= 1
    points, presence = face_mesh.landmarks(frame, found.boxes[:1], found.keypoints[:1])
    return points[0], float(presence[0]), found


def test_au43_separates_hand_marked_open_and_closed_eyes(detector, face_mesh):
    probabilities, closed = [], []
    for clip, marked in EYES.items():
        frames, _ = read_frames(clip)
        for label, numbers in marked.items():
            for number in numbers:
                points, presence, _ = first_face_points(detector, face_mesh, frames[number])
                assert presence >= FACEMESH_MIN_PRESENCE, (clip, number)
                probability, intensity = au43(points)
                assert 0 <= probability <= 1 and 0 <= intensity <= 5
                probabilities.append(probability)
                closed.append(label == 'closed')
    assert sum(closed) >= 20 and len(closed) - sum(closed) >= 40
    auc = roc_auc_score(closed, probabilities)
    print(f'AU43 AUC {auc:.3f} on {sum(closed)} closed and {len(closed) - sum(closed)} open frames')
    assert auc >= 0.9
    # Read as a decision too: most closed frames above 0.5, most open ones below.
    probabilities, closed = np.array(probabilities), np.array(closed)
    assert np.mean(probabilities[closed] >= 0.5) >= 0.7
    assert np.mean(probabilities[~closed] < 0.5) >= 0.9


def test_au43_mapping_is_monotonic_and_bounded():
    ears = np.linspace(0.0, 0.5, 51)
    values = np.array([au43_from_ear(ear) for ear in ears])
    assert np.all(np.diff(values[:, 0]) <= 0) and np.all(np.diff(values[:, 1]) <= 0)
    assert values[0, 0] > 0.99 and values[-1, 0] < 0.01
    assert values[0, 1] == 5.0 and values[-1, 1] == 0.0


def test_landmarks_lie_on_the_face_in_image_pixels(detector, face_mesh):
    """The mesh's eye points surround BlazeFace's eye keypoints, and a face in a turned
    (rolled) image gives the same points turned: the crop and its inverse are right."""
    image = read_image('single_face.jpg')
    points, presence, found = first_face_points(detector, face_mesh, image)
    assert points.shape == (FACEMESH_POINTS, 2) and presence > 0.9
    width = found.boxes[0][2]
    for eye, keypoint in ((RIGHT_EYE_EAR, found.keypoints[0][0]),
                          (LEFT_EYE_EAR, found.keypoints[0][1])):
        centre = points[list(eye)].mean(axis=0)
        assert np.linalg.norm(centre - keypoint) < 0.06 * width
    x, y, w, h = found.boxes[0]
    assert np.all((points[:, 0] > x - 0.2 * w) & (points[:, 0] < x + 1.2 * w))
    assert np.all((points[:, 1] > y - 0.4 * h) & (points[:, 1] < y + 1.2 * h))

    centre = (image.shape[1] / 2, image.shape[0] / 2)
    turn = cv2.getRotationMatrix2D(centre, 20, 1.0)
    turned = cv2.warpAffine(image, turn, (image.shape[1], image.shape[0]),
                            borderMode=cv2.BORDER_REPLICATE)
    turned_points, _, _ = first_face_points(detector, face_mesh, turned)
    expected = cv2.transform(points[None], turn)[0]
    assert np.median(np.linalg.norm(turned_points - expected, axis=1)) < 0.03 * width


def test_several_faces_and_no_face(face_mesh):
    detector = make_detector('blazeface')
    image = read_image('multi_face.jpg')
    found = detector.detect(image)
    points, presence = face_mesh.landmarks(image, found.boxes, found.keypoints)
    assert points.shape == (len(found), FACEMESH_POINTS, 2) and np.all(presence > 0.5)
    for face_points, box in zip(points, found.boxes):
        centre = face_points.mean(axis=0)
        assert box[0] < centre[0] < box[0] + box[2] and box[1] < centre[1] < box[1] + box[3]
    # A box in the photo's top-left corner, away from the faces: FaceMesh sees no face there.
    _, presence = face_mesh.landmarks(image, np.array([[5, 5, 60, 60]], np.float32))
    assert presence[0] < FACEMESH_MIN_PRESENCE
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    grey_points, _ = face_mesh.landmarks(grey, found.boxes[:1], found.keypoints[:1])
    assert np.median(np.linalg.norm(grey_points[0] - points[0], axis=1)) < 0.03 * found.boxes[0][2]


def test_perception_gives_tracked_faces_their_mesh(face_mesh):
    frames, _ = read_frames('single_face.mp4', limit=30)
    perception = FacePerception(make_detector('blazeface'), FaceTracker(), face_mesh=face_mesh)
    closed = []
    for i, frame in enumerate(frames):
        faces = perception.process(frame, i / 30)
        assert len(faces) == 1 and faces[0].mesh.shape == (FACEMESH_POINTS, 2)
        closed.append(au43(faces[0].mesh)[0])
    # The blink (frames 26-28) is the clip's most closed moment.
    assert int(np.argmax(closed)) in (26, 27, 28)
