"""hri_mapping: our faces, AUs and emotions as REP-155 content, checked without ROS (and
against hri_msgs' own constants where hri_msgs is installed)."""
import importlib.util
import math

import pytest

from emotion_ros.hri_mapping import EXPRESSIONS, FACS_SIZE, HRI_EXPRESSIONS, expression_of, \
    expression_values, face_hri_id, facs_arrays, normalized_roi

HAS_HRI_MSGS = importlib.util.find_spec('hri_msgs') is not None


def test_face_id_is_a_valid_topic_token_that_keeps_the_track_id():
    assert face_hri_id(1733112345) == 'f1733112345'
    assert face_hri_id(7) == 'f7'
    # ROS 2 name tokens: letters, digits and underscores, not starting with a digit.
    assert face_hri_id(4294967294)[0].isalpha() and face_hri_id(4294967294)[1:].isdigit()


def test_roi_is_normalized_and_clipped_to_the_image():
    assert normalized_roi(160, 90, 320, 180, 640, 360) == (0.25, 0.25, 0.75, 0.75)
    # A face cut by the left and bottom borders.
    assert normalized_roi(-20, 300, 100, 100, 640, 360) == (0.0, 300 / 360, 80 / 640, 1.0)
    with pytest.raises(ValueError, match='not positive'):
        normalized_roi(0, 0, 10, 10, 0, 360)


def test_every_label_of_ours_maps_to_an_expression_constant():
    assert {label: expression_of(label) for label in
            ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')} == {
        'angry': 'angry', 'disgust': 'disgusted', 'fear': 'scared', 'happy': 'happy',
        'sad': 'sad', 'surprise': 'surprised', 'neutral': 'neutral'}
    assert set(EXPRESSIONS.values()) <= HRI_EXPRESSIONS


def test_labels_without_a_ros4hri_expression_give_none_and_expression_names_pass():
    assert expression_of('pain') == ''
    assert expression_of('my_own_label') == ''
    assert expression_of('Bored') == 'bored'      # a user's label spelt as a constant


def test_expression_values_are_kept_in_the_message_ranges():
    assert expression_values(0.5, -0.25, 0.8) == (0.5, -0.25, pytest.approx(0.8))
    assert expression_values(1.5, -3.0, 1.2) == (1.0, -1.0, 1.0)
    assert expression_values(float('nan'), 0.0, float('nan')) == (0.0, 0.0, 0.0)


def test_facs_arrays_are_indexed_by_au_code():
    intensity, confidence = facs_arrays([1, 12, 25], [0.9, 0.2, 0.5])
    assert len(intensity) == len(confidence) == FACS_SIZE
    assert intensity[1] == pytest.approx(0.9) and confidence[1] == pytest.approx(0.9)
    assert intensity[12] == pytest.approx(0.2) and confidence[12] == pytest.approx(0.8)
    assert intensity[25] == pytest.approx(0.5) and confidence[25] == pytest.approx(0.5)
    others = [i for i in range(FACS_SIZE) if i not in (1, 12, 25)]
    assert all(intensity[i] == 0.0 and confidence[i] == 0.0 for i in others)


def test_facs_intensities_on_the_0_to_5_scale_become_0_to_1():
    intensity, confidence = facs_arrays([4, 6], [0.7, 0.1], [3.5, 0.5])
    assert intensity[4] == pytest.approx(0.7) and intensity[6] == pytest.approx(0.1)
    assert confidence[4] == pytest.approx(0.7) and confidence[6] == pytest.approx(0.9)


def test_facs_arrays_skip_codes_past_the_array_and_non_finite_probabilities():
    intensity, confidence = facs_arrays([99, 200, 2], [0.9, 0.9, float('nan')], [1.0, 1.0, 1.0])
    assert not any(intensity) and not any(confidence)
    assert all(math.isfinite(v) for v in intensity + confidence)


def test_an_au_without_intensity_gives_its_probability():
    """With eyes_closed only AU 43 has an intensity; the model's AUs have NaN there."""
    intensity, confidence = facs_arrays([5, 12, 43], [0.6, 0.8, 0.9],
                                        [float('nan'), float('inf'), 4.0])
    assert intensity[5] == pytest.approx(0.6) and intensity[12] == pytest.approx(0.8)
    assert intensity[43] == pytest.approx(0.8) and confidence[43] == pytest.approx(0.9)


@pytest.mark.skipif(not HAS_HRI_MSGS, reason='hri_msgs is not installed (ros-<distro>-hri-msgs, '
                    'or ../shared/vendor/ros2/install.sh)')
def test_constants_are_those_of_hri_msgs():
    from hri_msgs.msg import Expression, FacialActionUnits
    constants = {value for name, value in vars(Expression).items()
                 if name.isupper() and isinstance(value, str)}
    assert constants == HRI_EXPRESSIONS
    assert len(FacialActionUnits().intensity) == len(FacialActionUnits().confidence) == FACS_SIZE
    assert FacialActionUnits.LIP_CORNER_PULLER == 12 and FacialActionUnits.INNER_BROW_RAISER == 1
