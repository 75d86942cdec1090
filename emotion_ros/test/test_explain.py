"""`python -m emotion_ros.explain` on the sample photo with five faces and on sample clips."""
import subprocess
import sys

import cv2
import pytest

from conftest import sample_path
from emotion_ros.explain import main


def test_command_writes_one_png_per_face_of_multi_face(tmp_path):
    image = sample_path('multi_face.jpg')
    done = subprocess.run([sys.executable, '-m', 'emotion_ros.explain', str(image), '--out',
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    faces = sorted(tmp_path.glob('multi_face_face[0-9].png'))
    assert [p.name for p in faces] == [f'multi_face_face{n}.png' for n in range(1, 6)]
    assert done.stdout.split() == [str(tmp_path / 'multi_face_faces.png')] + [str(p) for p in faces]
    for path in faces:
        figure = cv2.imread(str(path))
        assert figure.shape == (520, 1000, 3)
        # A figure, not a blank page: the heatmaps' colours are there.
        assert figure.std() > 20 and (figure[..., 2].astype(int) - figure[..., 0] > 100).any()
    overview = cv2.imread(str(tmp_path / 'multi_face_faces.png'))
    assert overview.shape == cv2.imread(str(image)).shape


@pytest.mark.parametrize('clip', ['WolfgangLanger_Pexels.mp4', 'single_face.mp4'])
def test_command_writes_a_strip_of_a_sample_clip(clip, tmp_path, capsys):
    main([str(sample_path(clip)), '--out', str(tmp_path), '--frames', '3', '--face', '1'])
    strip = tmp_path / f'{sample_path(clip).stem}_strip.png'
    assert capsys.readouterr().out.split() == [str(strip)]
    figure = cv2.imread(str(strip))
    assert figure.shape == (720, 660, 3)
    assert (figure[..., 2].astype(int) - figure[..., 0] > 100).any()


def test_one_face_and_a_face_that_is_not_there(tmp_path, capsys):
    image = str(sample_path('multi_face.jpg'))
    main([image, '--out', str(tmp_path), '--face', '3', '--top', '2'])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['multi_face_face3.png',
                                                           'multi_face_faces.png']
    assert cv2.imread(str(tmp_path / 'multi_face_face3.png')).shape == (520, 1000, 3)
    with pytest.raises(ValueError, match='no face 6 \\(5 found\\)'):
        main([image, '--out', str(tmp_path), '--face', '6'])
