"""The shipped OpenVINO IR: parity with TensorFlow on real faces, and whether an old OpenVINO reads it.

    python scripts/check_openvino.py [--compat]

Parity: all FER2013 PublicTest faces and every CK+ face (../shared/data)
through TensorFlow and through OpenVINO on CPU with the FP32 IR at f32, the
FP16 IR at f32, and the FP32 IR at bf16: the largest difference of an AU
probability, and how often the shipped k-NN gives the same emotion.
--compat also reads both IR files with OpenVINO 2023.0.2 (the oldest that installs
for Python 3.11; 2022.3.1, the last with MYRIAD, needs Python <= 3.10) through the
`openvino.runtime` API, in a process on the compatibility job's libraries
(requirements-minimum.txt in .cache/compat, made by scripts/setup_compat.sh), and
compares its outputs with TensorFlow's.
Writes results/openvino_check.json.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from emotion_ros.au_model import SHIPPED_MODEL_DIR, AUModel, model_input
from emotion_ros.emotion_classifier import SHIPPED_CLASSIFIER_PATH, AUEmotionClassifier
from emotion_ros.training.data import load_ckplus, load_fer2013

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / 'shared' / 'data'
COMPAT = ROOT / '.cache' / 'compat'
OLD_RUNNER = '''
import sys, numpy as np
from openvino.runtime import Core, get_version
data = np.load(sys.argv[1])
faces, mirror = data["faces"], bool(data["mirror_average"])
out = {}
for name in ("au_model", "au_model_fp16"):
    compiled = Core().compile_model(sys.argv[2] + "/" + name + ".xml", "CPU",
                                    {"INFERENCE_PRECISION_HINT": "f32"})
    def run(x):
        return np.concatenate([compiled([x[i:i + 256]])[compiled.output(0)]
                               for i in range(0, len(x), 256)])
    out[name] = (run(faces) + run(faces[:, :, ::-1].copy())) / 2 if mirror else run(faces)
np.savez(sys.argv[3], version=get_version(), **out)
'''


def parity(reference, vectors, classifier, fer_count):
    fer = slice(0, fer_count)
    return {'max_abs_difference': float(np.abs(vectors - reference).max()),
            'same_emotion_fer2013_publictest': float(np.mean(
                classifier.predict(vectors[fer]) == classifier.predict(reference[fer])))}


def old_openvino_outputs(crops) -> tuple[str, dict]:
    """AU probabilities of grey crops [N, S, S] from the shipped IR in OpenVINO 2023.0, with the
    shipped model's own resizing and mirror averaging (au_model.json)."""
    metadata = json.loads((SHIPPED_MODEL_DIR / 'au_model.json').read_text())
    faces = model_input(crops, int(metadata['input']['size']))
    subprocess.run(['bash', str(ROOT / 'scripts' / 'setup_compat.sh')], check=True)
    # Only the old libraries ahead of the interpreter's own: no emotion_ros, no ROS.
    env = dict(os.environ, PYTHONPATH=str(COMPAT))
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / 'faces.npz', faces=faces,
                 mirror_average=bool(metadata.get('mirror_average', False)))
        subprocess.run([sys.executable, '-c', OLD_RUNNER, str(Path(tmp) / 'faces.npz'),
                        str(SHIPPED_MODEL_DIR), str(Path(tmp) / 'out.npz')], env=env, check=True)
        with np.load(Path(tmp) / 'out.npz') as out:
            return str(out['version']), {k: out[k] for k in ('au_model', 'au_model_fp16')}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--compat', action='store_true', help='also check OpenVINO 2023.0')
    parser.add_argument('--output', default=str(ROOT / 'results' / 'openvino_check.json'))
    args = parser.parse_args()
    fer = load_fer2013(DATA, 'PublicTest')[0]
    faces = np.concatenate([fer, load_ckplus(DATA)['images']])
    reference = AUModel(max_batch=256).predict_proba(faces)
    classifier = AUEmotionClassifier.load(SHIPPED_CLASSIFIER_PATH)
    report = {'command': 'python scripts/check_openvino.py' + (' --compat' if args.compat else ''),
              'faces': {'fer2013_publictest': len(fer), 'ckplus': len(faces) - len(fer)},
              'parity_with_tensorflow': {}}
    for label, options in (('fp32_ir_f32', {'weights': 'fp32', 'precision': 'f32'}),
                           ('fp16_ir_f32', {'weights': 'fp16', 'precision': 'f32'}),
                           ('fp32_ir_bf16', {'weights': 'fp32', 'precision': 'bf16'})):
        vectors = AUModel(backend='openvino', max_batch=256, **options).predict_proba(faces)
        report['parity_with_tensorflow'][label] = parity(reference, vectors, classifier, len(fer))
    if args.compat:
        version, outputs = old_openvino_outputs(faces)
        report['openvino_2023_0'] = {'version': version, **{
            name: parity(reference, vectors, classifier, len(fer)) for name, vectors in outputs.items()}}
    Path(args.output).write_text(json.dumps(report, indent=2) + '\n')
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    sys.exit(main())
