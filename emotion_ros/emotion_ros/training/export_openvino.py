"""Export the AU model (Keras) to OpenVINO IR, FP32 and FP16, beside it in its directory.

    python -m emotion_ros.training.export_openvino [--model emotion_ros/emotion_ros/models/au_model]

Uses OpenVINO's own converter (openvino.convert_model reads the Keras model).
The IR is version 11 with opsets that OpenVINO 2022.3 still reads (the last
release with the MYRIAD plugin); the command checks that, and that the FP32
IR reproduces the Keras outputs, before it writes anything.
"""
import argparse
import re
import tempfile
from pathlib import Path

import numpy as np

from ..au_model import SHIPPED_MODEL_DIR

# Newest opset OpenVINO 2022.3 reads.
MAX_OPSET_2022_3 = 10


def ir_version_and_opsets(xml_path: Path) -> tuple[int, list[int]]:
    text = Path(xml_path).read_text()
    version = int(re.search(r'<net name="[^"]*" version="(\d+)"', text).group(1))
    opsets = sorted({int(v) for v in re.findall(r'version="opset(\d+)"', text)})
    return version, opsets


def export(model_dir: Path) -> dict:
    import keras
    import openvino as ov
    keras_model = keras.models.load_model(model_dir / 'au_model.keras', compile=False)
    converted = ov.convert_model(keras_model)
    written = {}
    with tempfile.TemporaryDirectory() as staging:
        staging = Path(staging)
        for name, fp16 in (('au_model', False), ('au_model_fp16', True)):
            ov.save_model(converted, staging / f'{name}.xml', compress_to_fp16=fp16)
            version, opsets = ir_version_and_opsets(staging / f'{name}.xml')
            if version != 11 or max(opsets) > MAX_OPSET_2022_3:
                raise RuntimeError(f'{name}: IR v{version}, opsets {opsets}: OpenVINO 2022.3 '
                                   'could not read it')
            written[name] = {'ir_version': version, 'opsets': opsets}
        size = int(keras_model.input.shape[1])
        faces = np.random.default_rng(0).uniform(0, 255, (8, size, size, 1)).astype(np.float32)
        compiled = ov.Core().compile_model(str(staging / 'au_model.xml'), 'CPU',
                                           {'INFERENCE_PRECISION_HINT': 'f32'})
        difference = float(np.abs(compiled(faces)[0] - keras_model(faces).numpy()).max())
        if difference > 1e-4:
            raise RuntimeError(f'FP32 IR differs from Keras by {difference}')
        for path in staging.iterdir():
            (model_dir / path.name).write_bytes(path.read_bytes())
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', type=Path, default=SHIPPED_MODEL_DIR, help='model directory')
    args = parser.parse_args(argv)
    for name, info in export(args.model).items():
        print(f"{args.model / name}.xml: IR v{info['ir_version']}, opsets {info['opsets']}")


if __name__ == '__main__':
    main()
