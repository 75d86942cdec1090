"""Point the ROS 2 wheels' exported CMake targets at this environment.

The ros-* wheels on PyPI were built in a manylinux container, and their
exported `*Export.cmake` files still name that machine's Python and numpy
include directories (/opt/python/cp311-cp311/...). CMake refuses imported
targets with missing include paths, so building an interface package
against the wheels fails until those paths name this environment's.
Rewrites the files in place; running it again changes nothing.
"""
import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_MACHINE_PREFIX = '/opt/python/cp311-cp311'


def replacements():
    version = f'python{sys.version_info.major}.{sys.version_info.minor}'
    return {
        f'{BUILD_MACHINE_PREFIX}/include/{version}': sysconfig.get_paths()['include'],
        f'{BUILD_MACHINE_PREFIX}/lib/{version}/site-packages/numpy/_core/include':
            numpy.get_include(),
    }


def patch(prefix: Path) -> int:
    patched = 0
    for cmake_file in (prefix / 'share').glob('*/cmake/*.cmake'):
        text = cmake_file.read_text()
        if BUILD_MACHINE_PREFIX not in text:
            continue
        new_text = text
        for old, new in replacements().items():
            new_text = new_text.replace(old, new)
        if new_text != text:
            cmake_file.write_text(new_text)
            patched += 1
    return patched


if __name__ == '__main__':
    count = patch(Path(sys.prefix))
    print(f'patch_ros_wheel_cmake: {count} CMake file(s) rewritten in {sys.prefix}/share')
