"""scripts/benchmark_cpu.py's short path: a real pipeline, composed and as separate nodes, in
the robot profile, fed at 15 frames/s; and scripts/profile_stages.py's, the stages' part per
frame. The JSON they write, not their speed, which depends on the machine."""
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import sample_path

SCRIPTS = Path(__file__).resolve().parents[2] / 'scripts'


def test_cpu_benchmark_reports_each_process_and_the_frames_answered(tmp_path):
    sample_path('single_face.mp4')          # skips where the sample clips are absent
    out = tmp_path / 'cpu.json'
    subprocess.run([sys.executable, str(SCRIPTS / 'benchmark_cpu.py'), '--rate', '15',
                    '--faces', '1', '--seconds', '5', '--warmup', '3', '--mode', 'both',
                    '--profile', 'robot', '--out', str(out)],
                   cwd=SCRIPTS, check=True, timeout=600, env=os.environ.copy())
    report = json.loads(out.read_text())
    assert report['command'].startswith('python scripts/benchmark_cpu.py --rate 15')
    runs = {run['mode']: run for run in report['runs']}
    assert set(runs) == {'composed', 'nodes'}
    assert set(runs['composed']['processes']) == {'pipeline'}
    assert set(runs['nodes']['processes']) == {'face_detector', 'au_estimator', 'emotion'}
    for run in runs.values():
        assert run['profile'] == 'robot' and run['faces'] == 1 and run['rate'] == 15
        assert 4.5 <= run['window_s'] <= 6.5
        assert 0.6 * 15 * run['window_s'] <= run['frames_sent'] <= 15 * run['window_s'] + 2
        # Frames were answered (a loaded machine may drop a few superseded ones).
        assert 0.5 * run['frames_sent'] <= run['frames_answered'] <= run['frames_sent'], run
        usages = [*run['processes'].values(), run['total']]
        for usage in usages:
            assert set(usage) == {'cpu_s', 'cpu_ms_per_frame', 'core_percent'}
            assert usage['cpu_s'] > 0 and usage['cpu_ms_per_frame'] > 0
        assert abs(sum(u['cpu_s'] for u in run['processes'].values())
                   - run['total']['cpu_s']) < 0.01
        # Where the frames of the whole run went, by the face detector's /diagnostics counters.
        whole = run['detector_input_whole_run']
        assert whole['frames_sent'] >= run['frames_sent'] + 0.6 * 15 * 3
        assert min(whole['lost_in_transport'], whole['superseded'], whole['stale']) >= 0, whole
        assert whole['frames_sent'] - whole['lost_in_transport'] - whole['superseded'] \
            - whole['stale'] >= run['frames_answered'], whole
    # One window per case: each case's median is that window.
    assert [(m['mode'], m['cpu_ms_per_frame'], m['frames_answered']) for m in report['medians']] \
        == [(r['mode'], r['total']['cpu_ms_per_frame'], r['frames_answered'])
            for r in report['runs']]


def test_cpu_benchmark_measures_receiving_frames_alone(tmp_path):
    """--receive-only: the face detector lets (nearly) no frame through, so /emotions answers
    at most the first, and what is measured is the runner receiving frames; --set parameters
    are named with the profile."""
    sample_path('single_face.mp4')
    out = tmp_path / 'cpu.json'
    subprocess.run([sys.executable, str(SCRIPTS / 'benchmark_cpu.py'), '--rate', '15',
                    '--faces', '1', '--seconds', '4', '--warmup', '2', '--mode', 'composed',
                    '--receive-only', '--set', 'full_detection_interval:=0.0', '--out', str(out)],
                   cwd=SCRIPTS, check=True, timeout=600, env=os.environ.copy())
    [run] = json.loads(out.read_text())['runs']
    assert (run['mode'], run['profile']) == \
        ('composed', 'default, receive only full_detection_interval:=0.0')
    assert run['frames_sent'] >= 0.6 * 15 * run['window_s']
    assert run['frames_answered'] <= 1, run
    assert run['total']['cpu_s'] > 0
    # The frames were received (and let go by max_rate, which is neither superseded nor stale).
    whole = run['detector_input_whole_run']
    assert whole['lost_in_transport'] <= 0.5 * whole['frames_sent'], whole


def test_stage_profile_splits_looks_and_held_frames(tmp_path):
    """scripts/profile_stages.py on a short run of the robot mode: frames with a look and frames
    given the last look's faces (one look per detection_interval of stamps), each with its
    stages' parts adding up to its total."""
    sample_path('single_face.mp4')
    out = tmp_path / 'stages.json'
    subprocess.run([sys.executable, str(SCRIPTS / 'profile_stages.py'), '--profile', 'robot',
                    '--faces', '1', '--frames', '60', '--out', str(out)],
                   cwd=SCRIPTS, check=True, timeout=300, env=os.environ.copy())
    report = json.loads(out.read_text())
    assert report['command'].startswith('python scripts/profile_stages.py --profile robot')
    [run] = report['runs']
    assert (run['profile'], run['faces'], run['frames']) == ('robot', 1, 60)
    # robot.yaml looks 5 times a second: about one frame in six or seven at 30 frames/s.
    assert run['look']['frames'] + run['held']['frames'] == 60
    assert 7 <= run['look']['frames'] <= 13, run
    for kind in ('look', 'held'):
        parts = run[kind]['parts_mean_ms']
        assert {'face_detector', 'au_estimator', 'emotion', 'k-NN', 'publish /emotions'} <= set(parts)
        assert all(ms > 0 for name, ms in parts.items()
                   if name != 'rest (decoding, glue)' and (kind, name) != ('held', 'k-NN')), parts
        assert abs(sum(parts.values()) - run[kind]['mean_ms']) < 0.01
    # A held frame runs no network and asks the k-NN nothing (its faces' AU messages are the
    # last frame's): its detector and AU parts are a fraction of a look's.
    assert run['held']['parts_mean_ms']['k-NN'] == 0
    for stage in ('face_detector', 'au_estimator'):
        assert run['held']['parts_mean_ms'][stage] < run['look']['parts_mean_ms'][stage]
    assert run['mean_ms_per_frame'] > 0
