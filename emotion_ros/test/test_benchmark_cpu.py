"""scripts/benchmark_cpu.py's short path: a real pipeline, composed and as separate nodes, in
the robot profile, fed at 15 frames/s; the JSON it writes (not its speed, which depends on the
machine)."""
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
    # One window per case: each case's median is that window.
    assert [(m['mode'], m['cpu_ms_per_frame'], m['frames_answered']) for m in report['medians']] \
        == [(r['mode'], r['total']['cpu_ms_per_frame'], r['frames_answered'])
            for r in report['runs']]
