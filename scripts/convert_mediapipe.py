"""Convert MediaPipe's `.tflite` face models to the OpenVINO IR that emotion_ros ships.

    python scripts/convert_mediapipe.py DIR [--out emotion_ros/emotion_ros/models]

DIR holds face_detection_full_range_sparse.tflite, face_detection_short_range.tflite
(BlazeFace) and face_landmark.tflite (FaceMesh) from the mediapipe 0.10.21 wheel
(BLAZEFACE_MODEL_CARD.md says how to get them; their SHA-256 is checked). Why IR:
OpenVINO 2023.0 and older cannot read the full-range `.tflite` ("No translator found
for DENSIFY node"), and one format for all three. The IR keeps the weights as they
are (FP32 graph, no FP16 compression) and is version 11 with opsets OpenVINO 2022.3
reads: the converter's Interpolate-11 (full range's upsampling) becomes the identical
Interpolate-4. Before writing, each IR must give the `.tflite`'s outputs exactly
(max difference 0) on random inputs.
"""
import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

from emotion_ros.face_detection import BLAZEFACE_VARIANTS, MODELS_DIR
from emotion_ros.face_landmarks import FACEMESH_INPUT_SIZE, FACEMESH_MODEL
from emotion_ros.training.export_openvino import MAX_OPSET_2022_3, ir_version_and_opsets

SOURCE_SHA256 = {
    'face_detection_full_range_sparse.tflite':
        '2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1',
    'face_detection_short_range.tflite':
        'bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8',
    'face_landmark.tflite':
        '1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814',
}
# IR file name -> input side in pixels, of each model converted.
MODELS = {**{variant.filename: variant.input_size for variant in BLAZEFACE_VARIANTS.values()},
          FACEMESH_MODEL: FACEMESH_INPUT_SIZE}


def with_interpolate_4(model):
    """Replace Interpolate-11 nodes by Interpolate-4 with the same attributes (2022.3 has no opset 11)."""
    import openvino.opset10 as ops
    for node in model.get_ordered_ops():
        if node.get_type_name() != 'Interpolate' or node.get_type_info().version_id != 'opset11':
            continue
        attrs = node.get_attributes()
        if attrs['shape_calculation_mode'] != 'sizes':
            raise RuntimeError(f'{node.get_friendly_name()}: only sizes-mode Interpolate is handled')
        data, sizes, axes = (node.input_value(i) for i in range(3))
        # Interpolate-4 wants scales too; in sizes mode it ignores them.
        replacement = ops.interpolate(
            data, sizes, np.ones(2, np.float32), axes=axes, mode=attrs['mode'],
            shape_calculation_mode='sizes', pads_begin=attrs['pads_begin'],
            pads_end=attrs['pads_end'],
            coordinate_transformation_mode=attrs['coordinate_transformation_mode'],
            nearest_mode=attrs['nearest_mode'], antialias=attrs['antialias'],
            cube_coeff=attrs['cube_coeff'])
        replacement.set_friendly_name(node.get_friendly_name())
        node.output(0).replace(replacement.output(0))
    model.validate_nodes_and_infer_types()
    return model


def convert(source_dir: Path, out_dir: Path) -> dict:
    import openvino as ov
    core = ov.Core()
    written = {}
    with tempfile.TemporaryDirectory() as staging:
        staging = Path(staging)
        for ir_name, size in MODELS.items():
            source = source_dir / Path(ir_name).with_suffix('.tflite').name
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
            if digest != SOURCE_SHA256[source.name]:
                raise RuntimeError(f'{source}: SHA-256 {digest} is not MediaPipe 0.10.21\'s')
            ov.save_model(with_interpolate_4(ov.convert_model(str(source))), staging / ir_name,
                          compress_to_fp16=False)
            version, opsets = ir_version_and_opsets(staging / ir_name)
            if version != 11 or max(opsets) > MAX_OPSET_2022_3:
                raise RuntimeError(f'{ir_name}: IR v{version}, opsets {opsets}: OpenVINO 2022.3 '
                                   'could not read it')
            inputs = np.random.default_rng(0).uniform(-1, 1, (4, 1, size, size, 3)).astype(np.float32)
            config = {'INFERENCE_PRECISION_HINT': 'f32'}
            original = core.compile_model(str(source), 'CPU', config)
            converted = core.compile_model(str(staging / ir_name), 'CPU', config)
            difference = max(float(np.abs(original(x)[i] - converted(x)[i]).max())
                             for x in inputs for i in range(len(original.outputs)))
            if difference > 0:
                raise RuntimeError(f'{ir_name} differs from {source.name} by {difference}')
            written[ir_name] = {'ir_version': version, 'opsets': opsets, 'source_sha256': digest}
        for path in staging.iterdir():
            (out_dir / path.name).write_bytes(path.read_bytes())
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('source_dir', type=Path, help='directory holding the three .tflite files')
    parser.add_argument('--out', type=Path, default=MODELS_DIR, help='where the IR goes')
    args = parser.parse_args(argv)
    for name, info in convert(args.source_dir, args.out).items():
        print(f"{args.out / name}: IR v{info['ir_version']}, opsets {info['opsets']}, "
              f"same outputs as the .tflite (SHA-256 {info['source_sha256'][:12]}...)")


if __name__ == '__main__':
    sys.exit(main())
