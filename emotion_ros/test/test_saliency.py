"""Saliency maps of the shipped AU model (emotion_ros.saliency), on real faces.

The sanity check of issue 17 on CK+ faces coded with the AU: the mass of the mouth AUs'
maps (AU12, 25, 26, 15, 20) in the lower half of the crop, of the brow AUs' (AU1, 2, 4) in
the upper half, >= 70% for each with the default method (HiResCAM). The shipped AU layer
reads each AU from its half of the last conv stage's 6x6 map only (training.model
face_region_rows), and HiResCAM's map is each position's exact share of the logit: the
check passes only while that holds and the upsampled map keeps the mass there. How much of
the other half of the picture still reaches those positions through the conv features'
receptive fields is the blur-occlusion check (saliency.occlusion_lower_share, no gradients),
printed beside it. `python -m emotion_ros.explain --sanity` writes the same measures for every
method to results/saliency/.

The randomisation check (Adebayo et al. 2018): maps of a copy whose layers are re-initialised
from the top must not resemble the trained model's.
"""
import numpy as np
import pytest

from conftest import SHARED_DATA, read_image, requires_shared
from emotion_ros.saliency import (DEFAULT_METHOD, EXPECTED_HALF, METHODS, Saliency, emotion_map,
                                  explain_emotion, half_shares, live_view,
                                  randomisation_correlations, top_au_codes, weighted_layers)

THRESHOLD = 0.7
FACES_PER_AU = None     # the first frame of every CK+ subject coded with the AU (12 to 75 faces)


@pytest.fixture(scope='module')
def saliency():
    return Saliency()


@pytest.fixture(scope='module')
def ckplus(saliency):
    from emotion_ros.training.data import load_ckplus
    return load_ckplus(SHARED_DATA, saliency.au_model.au_codes)


@pytest.fixture(scope='module')
def shares(saliency, ckplus):
    return half_shares(saliency, ckplus['images'], ckplus['au'], ckplus['subjects'], FACES_PER_AU)


@pytest.fixture(scope='module')
def face_crops():
    from emotion_ros.face_detection import make_detector
    from emotion_ros.face_perception import FacePerception
    from emotion_ros.tracking import FaceTracker
    perception = FacePerception(make_detector('blazeface'), FaceTracker(min_new_score=0.0))
    return np.array([face.crop for face in perception.process(read_image('multi_face.jpg'), 0.0)])


def test_maps_of_real_faces_are_batched_and_follow_the_mirror_averaging(saliency, face_crops):
    codes = saliency.au_model.au_codes
    result = saliency.explain(face_crops)
    size = saliency.size
    assert result.au_codes == codes
    for method in METHODS:
        maps = result.maps[method]
        assert maps.shape == (len(face_crops), len(codes), size, size)
        assert np.all(np.isfinite(maps)) and maps.min() >= 0 and maps.max() > 0
    np.testing.assert_allclose(result.probabilities, saliency.au_model.predict_proba(face_crops),
                               atol=1e-5)
    # Different AUs of one face look at different places.
    gradcam = result.maps['gradcam'][0].reshape(len(codes), -1)
    assert np.corrcoef(gradcam[codes.index(12)], gradcam[codes.index(4)])[0, 1] < 0.9
    # A subset of AUs gives the same maps as all of them.
    subset = saliency.explain(face_crops[:2], [codes[3], codes[0]])
    np.testing.assert_allclose(subset.maps['gradcam'][:, 1], result.maps['gradcam'][:2, 0],
                               rtol=1e-4, atol=1e-6)
    mirrored = saliency.explain(face_crops[:, :, ::-1])
    if saliency.au_model.mirror_average:
        # The model answers for a face and its mirror image together: so do the maps.
        for method in METHODS:
            np.testing.assert_allclose(mirrored.maps[method], result.maps[method][..., ::-1],
                                       rtol=1e-3, atol=1e-5 * result.maps[method].max())


def test_live_view_shows_each_faces_most_probable_aus(saliency, face_crops):
    """The saliency_view node's picture: a row per face of 2x crops, the crop then one map per
    top AU; each AU tile is the crop under the AU's own map (hottest where the map peaks)."""
    import cv2
    codes = saliency.au_model.au_codes
    picture = live_view(saliency, face_crops, 'gradcam', top=3)
    assert picture.dtype == np.uint8 and picture.shape == (5 * 96, 4 * 96, 3)
    probabilities = saliency.au_model.predict_proba(face_crops)
    tops = top_au_codes(probabilities, codes, 3)
    for face, top in enumerate(tops):
        assert probabilities[face, codes.index(top[0])] == probabilities[face].max()
        row = picture[face * 96:(face + 1) * 96]
        grey = cv2.resize(face_crops[face], (96, 96))
        np.testing.assert_array_equal(row[:, :96, 0], grey)       # the crop itself, untinted
        heat = cv2.resize(saliency.explain(face_crops[face:face + 1], top[:1]).maps['gradcam'][0, 0],
                          (96, 96))
        peak = np.unravel_index(heat.argmax(), heat.shape)
        tile = row[:, 96:192].astype(int)
        # JET's hottest colour is red: the tile is redder than the crop where the map peaks.
        assert tile[peak][2] - tile[peak][0] > 40, (face, top, tile[peak])


def test_emotion_credits_add_up_and_weight_the_au_maps(saliency, face_crops):
    from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
    classifier = AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH, saliency.au_model.au_codes)
    result = saliency.explain(face_crops)
    emotion = explain_emotion(result.probabilities, classifier)
    np.testing.assert_allclose(emotion.probabilities, classifier.predict_proba(result.probabilities),
                               atol=1e-6)
    assert list(emotion.emotion) == list(classifier.predict(result.probabilities))
    # Shapley credits sum to how far the face's emotion is from the typical face's.
    top = [emotion.labels.index(label) for label in emotion.emotion]
    typical = classifier.predict_proba(emotion.baseline)[0, top]
    np.testing.assert_allclose(emotion.contributions.sum(1),
                               emotion.probabilities[np.arange(len(top)), top] - typical,
                               atol=1e-4)
    maps = emotion_map(result.maps['gradcam'], emotion.contributions)
    assert maps.shape == (len(face_crops), saliency.size, saliency.size)
    # Faces whose emotion some AU with a non-empty map raised (Grad-CAM's can be empty).
    shown = result.maps['gradcam'].sum((2, 3)) > 0
    carried = (np.clip(emotion.contributions, 0, None) * shown).max(1) > 0
    assert carried.any()
    np.testing.assert_allclose(maps.sum((1, 2))[carried], 1.0, atol=1e-4)
    assert np.all(maps.sum((1, 2))[~carried] == 0)
    # A face whose emotion one AU alone carried gets that AU's map.
    one = np.zeros_like(emotion.contributions[:1])
    one[0, 5] = 0.3
    single = emotion_map(result.maps['gradcam'][:1], one)[0]
    expected = result.maps['gradcam'][0, 5]
    np.testing.assert_allclose(single, expected / expected.sum(), atol=1e-6)


@requires_shared
@pytest.mark.parametrize('code', sorted(EXPECTED_HALF, key=list(EXPECTED_HALF).index))
def test_au_maps_lie_in_the_expected_half_of_ckplus_faces(code, shares):
    if code not in shares:
        pytest.skip(f'the shipped model has no AU{code}')
    result = shares[code]
    share, occlusion = result['share'][DEFAULT_METHOD], result['occlusion']
    said = (f"AU{code} on {result['faces']} CK+ faces: {share:.2f} of the {DEFAULT_METHOD} mass in "
            f"the {result['half']} half ({THRESHOLD} asked); blurring that half takes {occlusion:.2f} "
            f"of the logit drops of both halves")
    print(said)
    assert result['faces'] >= 10 and 0.0 <= occlusion <= 1.0
    assert share >= THRESHOLD, said


def test_shipped_au_layer_reads_each_au_from_its_half_of_the_map(saliency):
    """What makes the maps above lie where they do: the AU layer's weights on the other half of
    the 6x6 map are zero (upper-face AUs read rows 0-2, the others rows 3-5)."""
    from emotion_ros.training.model import UPPER_FACE_AUS
    layer = saliency.model.get_layer('au')
    channels = int(layer.input.shape[-1]) // 36
    assert int(layer.input.shape[-1]) == 6 * 6 * channels, layer.input.shape
    kernel = layer.get_weights()[0].reshape(6, 6 * channels, -1)
    for unit, code in enumerate(saliency.au_model.au_codes):
        other_half = slice(3, 6) if code in UPPER_FACE_AUS else slice(0, 3)
        assert np.all(kernel[other_half, :, unit] == 0), code


@requires_shared
def test_maps_depend_on_the_trained_weights(saliency, ckplus):
    _, first = np.unique(ckplus['subjects'], return_index=True)
    crops = ckplus['images'][np.sort(first)[:8]]
    layers = len(weighted_layers(saliency.model))
    report = randomisation_correlations(saliency, crops, [1, layers])
    for depth, result in report.items():
        print(depth, result['layers'][-1], {m: round(v, 2) for m, v in result['spearman'].items()})
    # Grad-CAM and HiResCAM change as soon as the AU layer is re-initialised, and all methods
    # once every layer is.
    for method in ('gradcam', 'hirescam'):
        assert report[1]['spearman'][method] < 0.5, report[1]
    for method in METHODS:
        assert report[layers]['spearman'][method] < 0.5, report[layers]
