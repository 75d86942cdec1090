"""The AU network: a compact VGG base, a spatial AU head and an emotion head on the AUs.

Stage 1, the base, learns expressions from the FER+ votes of the FER2013
Training faces (28k faces, 10 taggers each; build_pretrain_model). Stage 2
keeps the base frozen and trains heads on its spatial feature map: a
17-unit sigmoid AU layer supervised by CK+ AU codes, each unit reading only
its half of the face's map (face_region_rows), and at the same time an
emotion head that sees only the AU layer, supervised by the FER+ votes.
The emotion head makes the AU vector carry what tells emotions apart,
which the k-NN emotion stage reads later; only the AU output ships.
"""
import keras
import numpy as np
from keras import layers, ops

INPUT_SIZE = 48
BASE_WIDTHS = (16, 32, 96, 192)


def _conv_bn_relu(x, filters, name):
    x = layers.Conv2D(filters, 3, padding='same', use_bias=False, name=f'{name}_conv')(x)
    x = layers.BatchNormalization(name=f'{name}_bn')(x)
    return layers.ReLU(name=f'{name}_relu')(x)


def build_base(input_size: int = INPUT_SIZE, widths=BASE_WIDTHS) -> keras.Model:
    """Grey face [N,S,S,1] in 0..255 -> feature map [N,S/16,S/16,widths[-1]].

    A compact VGG (two 3x3 conv + batch norm + ReLU per stage, then 2x2 max
    pooling), as the FER+ paper's VGG13 but 4 stages and 1/4 of its width:
    dense 3x3 convolutions ran faster per parameter here than a
    mini-Xception's separable ones, in training (TensorFlow) and inference
    (OpenVINO), and the widths keep a face and its mirror image under 1 ms
    at batch 8 (README, Speed).
    """
    inputs = keras.Input((input_size, input_size, 1), name='face')
    x = layers.Rescaling(1 / 255.0, name='scale')(inputs)
    for stage, filters in enumerate(widths, start=1):
        x = _conv_bn_relu(x, filters, f'stage{stage}a')
        x = _conv_bn_relu(x, filters, f'stage{stage}b')
        x = layers.MaxPooling2D(2, name=f'stage{stage}_pool')(x)
    return keras.Model(inputs, x, name='base')


def build_pretrain_model(base: keras.Model, num_classes: int = 7, dropout: float = 0.5) -> keras.Model:
    """Stage 1: base (nested, so load_base finds it by name) -> flattened map -> expression softmax."""
    inputs = keras.Input(base.input.shape[1:], name='face')
    x = layers.Flatten(name='flatten')(base(inputs))
    x = layers.Dropout(dropout, name='dropout')(x)
    outputs = layers.Dense(num_classes, activation='softmax', name='expression')(x)
    return keras.Model(inputs, outputs, name='pretrain')


# FACS's upper-face units (brows, lids, cheeks); the others (nose, lips, jaw, chin) are its
# lower-face units.
UPPER_FACE_AUS = frozenset((1, 2, 4, 5, 6, 7))


def face_region_rows(au_codes, map_height: int, lower_rows: int) -> list[tuple[int, ...]]:
    """Rows of the base's feature map each AU's unit may read, top row first: lower-face
    units the bottom `lower_rows` rows, upper-face units the rows above them."""
    first_lower = map_height - lower_rows
    upper, lower = tuple(range(first_lower)), tuple(range(first_lower, map_height))
    return [upper if code in UPPER_FACE_AUS else lower for code in au_codes]


def region_mask(feature_shape, rows_per_au) -> np.ndarray:
    """[H*W*C, K] 0/1 mask of a dense layer on the flattened [H, W, C] map: unit k reads the
    rows rows_per_au[k]."""
    height, width, channels = (int(n) for n in feature_shape)
    mask = np.zeros((height, width * channels, len(rows_per_au)), np.float32)
    for unit, rows in enumerate(rows_per_au):
        mask[list(rows), :, unit] = 1.0
    return mask.reshape(height * width * channels, len(rows_per_au))


@keras.saving.register_keras_serializable(package='emotion_ros')
class KernelMask(keras.constraints.Constraint):
    """Keeps a dense kernel zero outside a fixed mask (applied after every training step)."""

    def __init__(self, mask):
        self.mask = np.asarray(mask, np.float32)

    def __call__(self, kernel):
        return kernel * ops.convert_to_tensor(self.mask, dtype=kernel.dtype)

    def get_config(self):
        return {'mask': self.mask.tolist()}


def build_heads(feature_shape, num_aus: int, num_emotions: int = 7, dropout: float = 0.5,
                l2: float = 1e-4, rows_per_au=None) -> keras.Model:
    """Stage 2 heads on the base's spatial feature map (not a global pool: AUs are local).

    rows_per_au: for each AU unit, the rows of the map it may read (face_region_rows), so
    that a mouth unit cannot learn a mouth AU from the brows it co-occurs with in posed
    faces; None: every unit reads the whole map.
    Outputs {'au': [N,K] sigmoid, 'emotion': [N,E] softmax computed from 'au' alone}.
    """
    features = keras.Input(tuple(feature_shape), name='features')
    x = layers.Flatten(name='flatten')(features)
    x = layers.Dropout(dropout, name='dropout')(x)
    mask = None if rows_per_au is None else region_mask(feature_shape, rows_per_au)
    au_layer = layers.Dense(num_aus, activation='sigmoid', name='au',
                            kernel_regularizer=keras.regularizers.L2(l2),
                            kernel_constraint=None if mask is None else KernelMask(mask))
    au = au_layer(x)
    if mask is not None:
        kernel, bias = au_layer.get_weights()
        au_layer.set_weights([kernel * mask, bias])
    hidden = layers.Dense(32, activation='relu', name='emotion_hidden')(au)
    emotion = layers.Dense(num_emotions, activation='softmax', name='emotion')(hidden)
    return keras.Model(features, {'au': au, 'emotion': emotion}, name='heads')


def build_au_model(base: keras.Model, heads: keras.Model) -> keras.Model:
    """The base (nested, named 'base') and the heads' layers in one graph: face -> {'au', 'emotion'}.

    The heads' layers are applied anew (sharing their weights) rather than
    nesting the compiled heads model, whose loss would then travel with the
    shipped file.
    """
    inputs = keras.Input(base.input.shape[1:], name='face')
    x = base(inputs)
    for name in ('flatten', 'dropout', 'au'):
        x = heads.get_layer(name)(x)
    # The trained kernel is zero outside its mask: the shipped layer is a plain dense layer.
    heads.get_layer('au').kernel_constraint = None
    emotion = heads.get_layer('emotion')(heads.get_layer('emotion_hidden')(x))
    return keras.Model(inputs, {'au': x, 'emotion': emotion}, name='au_emotion')


def au_only(model: keras.Model) -> keras.Model:
    """The shipped network: face -> AU probabilities."""
    return keras.Model(model.input, model.output['au'], name='au_model')


@keras.saving.register_keras_serializable(package='emotion_ros')
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy with a weight on the positives of each AU (rare AUs count more)."""

    def __init__(self, positive_weights, name='weighted_bce', **kwargs):
        super().__init__(name=name, **kwargs)
        self.positive_weights = [float(w) for w in positive_weights]

    def call(self, y_true, y_pred):
        y_pred = ops.clip(y_pred, 1e-6, 1 - 1e-6)
        weights = ops.convert_to_tensor(self.positive_weights, dtype=y_pred.dtype)
        loss = -(weights * y_true * ops.log(y_pred) + (1 - y_true) * ops.log(1 - y_pred))
        return ops.mean(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), 'positive_weights': self.positive_weights}
