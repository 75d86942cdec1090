"""scripts/benchmark_au.py's short path: the OpenVINO variants, bf16 included, time real crops
of single_face.mp4 and write their JSON (not their speed, which depends on the machine)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import sample_path

SCRIPTS = Path(__file__).resolve().parents[2] / 'scripts'


def test_au_benchmark_times_each_openvino_variant(tmp_path):
    sample_path('single_face.mp4')          # skips where the sample clips are absent
    out = tmp_path / 'au.json'
    subprocess.run([sys.executable, str(SCRIPTS / 'benchmark_au.py'), '--backends', 'openvino',
                    '--runs', '5', '--bf16', '--output', str(out)],
                   cwd=SCRIPTS, check=True, timeout=300, env=os.environ.copy())
    report = json.loads(out.read_text())
    assert report['command'] == 'python scripts/benchmark_au.py --backends openvino --runs 5 --bf16'
    assert set(report['results']) == {'openvino', 'openvino_1_thread', 'openvino_bf16_1_thread'}
    for timings in report['results'].values():
        for batch in ('batch_1', 'batch_8'):
            timing = timings[batch]
            assert timing['runs'] == 5
            assert 0 < timing['median_ms_per_face'] <= timing['p95_ms_per_face']
            assert timing['cpu_ms_per_face'] > 0
    assert report['openvino_speedup_over_tensorflow'] == {}
