"""Where on the face the AU model looked, and which AUs carried the emotion: saliency maps.

ROS-free, TensorFlow (it needs gradients). For each face crop and each AU output:

- guided backpropagation (Springenberg et al. 2015): the gradient of the AU's logit (the
  sigmoid's input) with respect to the pixels, where every ReLU passes a gradient back only
  where its input was positive and the gradient itself is positive; the map is its magnitude.
- Grad-CAM (Selvaraju et al. 2017): the last spatial ReLU output A (the last conv stage,
  6x6 in the shipped model), weighted per channel by the mean gradient of the AU's logit over
  A, summed over channels, ReLU, upsampled bilinearly to the crop.
- guided Grad-CAM: the product of the two.

The network is run layer by layer from its own Keras layers (nested models flattened into
their chain of layers), so guided backpropagation replaces each ReLU's gradient without
cloning or editing the loaded model; a model that is not such a chain is refused at load.
When the model's `au_model.json` asks for mirror averaging, each map is the mean of the
face's map and the mirrored map of its mirror image, as the prediction is.

All faces and all AUs asked for go through one traced tf.function call per batch (each face
repeated once per AU, each copy back-propagating its own AU): no eager call per face.

HiResCAM (Draelos & Carin 2020, the default): the same layer's output times its gradient,
summed over channels, without Grad-CAM's spatial averaging of the gradient. Above that layer
the shipped model has only flatten and the AU layer, so the per-position sums add up exactly
to the logit less its bias; and since that layer reads each AU from its half of the map
(training.model.face_region_rows), HiResCAM shows which half carried an AU while Grad-CAM
spreads its averaged gradient over positions the AU does not read.

The emotion is read from the AU vector by a k-NN (emotion_classifier), which has no
gradient. What carried it is measured through the shipped, calibrated classifier itself:
sampled Shapley values of the AUs for the top emotion's probability, against a typical face
(each AU's median over the k-NN's labelled points); see explain_emotion. Where on the face
that emotion was read is the sum of the AUs' maps, each normalised to mass 1, weighted by
their positive Shapley values.
"""
from dataclasses import dataclass

import numpy as np

from .au_model import AUModel, model_input

METHODS = ('guided_backprop', 'gradcam', 'guided_gradcam', 'hirescam')
# HiResCAM: above its layer the shipped model has only flatten and the AU layer, so its map is
# each position's exact share of the AU's logit (Grad-CAM's averaged gradient smears it over
# positions the AU layer does not read); it also passes the randomisation check (README).
DEFAULT_METHOD = 'hirescam'
# Most images (face copies x AUs x mirror) per network call.
MAX_IMAGES = 512


@dataclass
class SaliencyMaps:
    """Maps of N faces for the AUs in `au_codes` (a subset of the model's, in its order).

    probabilities: [N, K] the model's AU probabilities (as AUModel.predict_proba gives them).
    maps: method name -> [N, len(au_codes), S, S] float32, >= 0.
    """
    au_codes: tuple
    probabilities: np.ndarray
    maps: dict

    def au_map(self, method: str, code: int) -> np.ndarray:
        """[N, S, S] map of one AU."""
        return self.maps[method][:, self.au_codes.index(code)]


def _layer_chain(model) -> list:
    """The model's layers in order, nested models expanded, input layers left out."""
    import keras
    chain = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            chain.extend(_layer_chain(layer))
        else:
            chain.append(layer)
    return chain


def _is_relu(layer) -> bool:
    import keras
    if isinstance(layer, keras.layers.ReLU):
        return (layer.max_value is None and float(layer.negative_slope) == 0.0
                and float(layer.threshold) == 0.0)
    return isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.relu


def _activation_name(layer) -> str:
    activation = getattr(layer, 'activation', None)
    return getattr(activation, '__name__', 'linear') if activation is not None else 'linear'


class Saliency:
    """Saliency maps of the AU model for batches of grey face crops.

    au_model: an AUModel with the tensorflow backend (default: the shipped model).
    keras_model: explain these weights instead of au_model's (same input and outputs), e.g.
        a copy with randomised layers (`randomised_copy`).
    """

    def __init__(self, au_model: AUModel | None = None, keras_model=None, cam_layer: str = ''):
        import tensorflow as tf
        self.au_model = au_model or AUModel(backend='tensorflow')
        if self.au_model.backend.name != 'tensorflow':
            raise ValueError('saliency needs the AU model on the tensorflow backend (gradients)')
        self.model = keras_model if keras_model is not None else self.au_model.backend.model
        self.size = self.au_model.input_size
        self.chain = _layer_chain(self.model)
        if _activation_name(self.chain[-1]) != 'sigmoid':
            raise ValueError(f'the AU model should end in a sigmoid layer, not '
                             f'{self.chain[-1].name} ({_activation_name(self.chain[-1])})')
        spatial = [i for i, layer in enumerate(self.chain)
                   if _is_relu(layer) and len(layer.output.shape) == 4]
        if not spatial:
            raise ValueError('the AU model has no spatial ReLU layer for Grad-CAM')
        self.cam_index = spatial[-1] if not cam_layer else \
            [layer.name for layer in self.chain].index(cam_layer)
        self.cam_layer = self.chain[self.cam_index].name
        spec = [tf.TensorSpec([None, self.size, self.size, 1], tf.float32),
                tf.TensorSpec([None, len(self.au_model.au_codes)], tf.float32)]
        self._maps = tf.function(self._maps_graph, input_signature=spec)
        self._check_chain()

    def _check_chain(self):
        """Refuse a model whose layers are not one chain: the chain must give its output."""
        faces = np.random.default_rng(0).uniform(0, 255, (2, self.size, self.size, 1))
        faces = faces.astype(np.float32)
        import tensorflow as tf
        logits, _ = self._forward(tf.constant(faces), guided=False)
        expected = self.model(faces, training=False)
        if isinstance(expected, dict):
            expected = expected['au']
        if not np.allclose(tf.sigmoid(logits).numpy(), np.asarray(expected), atol=1e-4):
            raise ValueError('the AU model is not a chain of layers; saliency cannot follow it')

    def _forward(self, x, guided: bool):
        """(logits [B, K], the Grad-CAM layer's output) of the chain, ReLUs guided or plain."""
        import keras
        import tensorflow as tf

        @tf.custom_gradient
        def guided_relu(v):
            def grad(upstream):
                return upstream * tf.cast(v > 0, upstream.dtype) * tf.cast(upstream > 0,
                                                                           upstream.dtype)
            return tf.nn.relu(v), grad

        cam = None
        last = len(self.chain) - 1
        for i, layer in enumerate(self.chain):
            name = _activation_name(layer)
            if _is_relu(layer):
                x = guided_relu(x) if guided else tf.nn.relu(x)
            elif name == 'linear':
                x = layer(x, training=False)
            else:
                # Apply the layer without its activation, then the activation here: the
                # last layer's sigmoid is left off (its input is the logit).
                activation = layer.activation
                layer.activation = keras.activations.linear
                try:
                    x = layer(x, training=False)
                finally:
                    layer.activation = activation
                if i != last:
                    x = (guided_relu(x) if guided else tf.nn.relu(x)) if name == 'relu' \
                        else activation(x)
            if i == self.cam_index:
                cam = x
        return x, cam

    def _maps_graph(self, faces, select):
        import tensorflow as tf
        with tf.GradientTape() as tape:
            tape.watch(faces)
            logits, _ = self._forward(faces, guided=True)
            score = tf.reduce_sum(logits * select)
        guided = tf.abs(tape.gradient(score, faces))[..., 0]
        with tf.GradientTape() as tape:
            logits, cam = self._forward(faces, guided=False)
            score = tf.reduce_sum(logits * select)
        gradient = tape.gradient(score, cam)
        weights = tf.reduce_mean(gradient, axis=(1, 2), keepdims=True)
        coarse = tf.stack([tf.reduce_sum(weights * cam, axis=-1),
                           tf.reduce_sum(gradient * cam, axis=-1)], axis=-1)
        fine = tf.image.resize(tf.nn.relu(coarse), (self.size, self.size), method='bilinear')
        return guided, fine[..., 0], fine[..., 1]

    def explain(self, crops, au_codes=None) -> SaliencyMaps:
        """Maps of each crop (grey or BGR, any size) for `au_codes` (default: all the model's)."""
        codes = self.au_model.au_codes
        au_codes = tuple(codes if au_codes is None else (int(c) for c in au_codes))
        missing = set(au_codes) - set(codes)
        if missing:
            raise ValueError(f'AU{sorted(missing)} not among the model\'s AUs {codes}')
        faces = model_input(crops, self.size)
        count, units = len(faces), len(au_codes)
        select = np.zeros((units, len(codes)), np.float32)
        select[np.arange(units), [codes.index(c) for c in au_codes]] = 1
        mirror = self.au_model.mirror_average
        # Per face its copies for each AU (then the same for the mirror images).
        images = np.repeat(faces, units, axis=0)
        targets = np.tile(select, (count, 1))
        if mirror:
            images = np.concatenate([images, images[:, :, ::-1]])
            targets = np.concatenate([targets, targets])
        parts = [self._maps(images[start:start + MAX_IMAGES], targets[start:start + MAX_IMAGES])
                 for start in range(0, len(images), MAX_IMAGES)]
        maps = {name: np.concatenate([part[i].numpy() for part in parts])
                for i, name in enumerate(('guided_backprop', 'gradcam', 'hirescam'))}
        for name, values in maps.items():
            if mirror:
                half = len(values) // 2
                values = (values[:half] + values[half:, :, ::-1]) / 2
            maps[name] = values.reshape(count, units, self.size, self.size)
        maps['guided_gradcam'] = maps['guided_backprop'] * maps['gradcam']
        return SaliencyMaps(au_codes, self.au_model.predict_proba(crops) if count else
                            np.zeros((0, len(codes)), np.float32), maps)


def normalised(maps: np.ndarray) -> np.ndarray:
    """Each map ([..., S, S]) divided by its mass (all-zero maps stay zero)."""
    mass = maps.sum(axis=(-2, -1), keepdims=True)
    return np.divide(maps, mass, out=np.zeros_like(maps), where=mass > 0)


def top_au_codes(probabilities: np.ndarray, au_codes, count: int) -> list[tuple]:
    """Per face ([N, K] AU probabilities in `au_codes` order) its `count` most probable AUs."""
    order = np.argsort(-np.asarray(probabilities), axis=1, kind='stable')[:, :count]
    return [tuple(int(au_codes[j]) for j in row) for row in order]


def overlay_rows(crops, probabilities: np.ndarray, model_codes, maps: SaliencyMaps, method: str,
                 top: list[tuple], scale: int = 2) -> np.ndarray:
    """A BGR picture for a live view: a row per face, its crop and then, for each of its AUs in
    `top`, the map over the crop (JET, each map scaled to its own maximum) captioned with the
    AU and its probability (probabilities: [N, K] in `model_codes` order)."""
    import cv2
    model_codes = list(model_codes)
    size = maps.maps[method].shape[-1] * scale
    rows = []
    for face, crop in enumerate(crops):
        grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        base = cv2.cvtColor(cv2.resize(grey, (size, size), interpolation=cv2.INTER_LINEAR),
                            cv2.COLOR_GRAY2BGR)
        tiles = [base]
        for code in top[face]:
            heat = cv2.resize(maps.maps[method][face, maps.au_codes.index(code)], (size, size))
            heat = np.uint8(255 * heat / heat.max()) if heat.max() > 0 else \
                np.zeros((size, size), np.uint8)
            tile = cv2.addWeighted(base, 0.55, cv2.applyColorMap(heat, cv2.COLORMAP_JET), 0.45, 0)
            cv2.putText(tile, f'AU{code} {probabilities[face, model_codes.index(code)]:.2f}',
                        (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    width = max(row.shape[1] for row in rows)
    return np.vstack([np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows])


def live_view(saliency: 'Saliency', crops, method: str = DEFAULT_METHOD, top: int = 3) -> np.ndarray:
    """overlay_rows of `crops` for each face's `top` most probable AUs: two batched calls
    (the probabilities, then the maps of the AUs any face shows)."""
    codes = saliency.au_model.au_codes
    probabilities = saliency.au_model.predict_proba(crops)
    tops = top_au_codes(probabilities, codes, top)
    shown = sorted({code for row in tops for code in row}, key=codes.index)
    maps = saliency.explain(crops, shown)
    return overlay_rows(crops, maps.probabilities, codes, maps, method, tops)


def lower_half_share(maps: np.ndarray) -> np.ndarray:
    """Share of each map's mass ([..., S, S]) in the lower half of the crop (rows S/2..S)."""
    rows = maps.shape[-2]
    total = maps.sum(axis=(-2, -1))
    lower = maps[..., rows // 2:, :].sum(axis=(-2, -1))
    return np.divide(lower, total, out=np.full_like(total, np.nan), where=total > 0)


@dataclass
class EmotionExplanation:
    """labels: the classifier's emotions; probabilities [N, E]; emotion [N] (the top label);
    contributions [N, K]: each AU's (model order) Shapley value for the top emotion's
    probability (see explain_emotion); baseline [K]: the typical face's AU values."""
    labels: tuple
    probabilities: np.ndarray
    emotion: np.ndarray
    contributions: np.ndarray
    baseline: np.ndarray


def explain_emotion(au_probabilities: np.ndarray, classifier, permutations: int = 16,
                    seed: int = 0) -> EmotionExplanation:
    """Which AUs carried each face's emotion: sampled Shapley values through the k-NN.

    A face's AUs are set, one at a time in a random order, from the baseline (typical) values
    to its own; each AU is credited with the change of the top emotion's probability when it
    is set, averaged over `permutations` orders (half of them the reverse of the other half).
    The credits sum to p(emotion | face) - p(emotion | baseline). All faces' steps go to
    the classifier as one query.
    """
    au_probabilities = np.asarray(au_probabilities, np.float32)
    count, units = au_probabilities.shape
    baseline = np.median(classifier.points, axis=0).astype(np.float32)
    rng = np.random.default_rng(seed)
    orders = np.array([rng.permutation(units) for _ in range((permutations + 1) // 2)])
    orders = np.concatenate([orders, orders[:, ::-1]])                   # [M, K]
    # set[m, t, j]: AU j is the face's own after t steps of order m.
    position = np.argsort(orders, axis=1)                                # [M, K]
    own = position[:, None, :] < np.arange(units + 1)[None, :, None]     # [M, K+1, K]
    steps = np.where(own[None], au_probabilities[:, None, None], baseline)  # [N, M, K+1, K]
    answers = classifier.predict_proba(np.concatenate([au_probabilities,
                                                       steps.reshape(-1, units)]))
    probabilities = answers[:count]
    top = probabilities.argmax(1)
    walk = answers[count:].reshape(count, len(orders), units + 1, -1)[np.arange(count), ..., top]
    gains = np.diff(walk, axis=-1)                                       # [N, M, K]
    # gains[n, m, t] belongs to AU orders[m, t].
    contributions = np.zeros((count, units), np.float32)
    np.add.at(contributions, (slice(None), orders), gains)
    contributions /= len(orders)
    return EmotionExplanation(tuple(classifier.labels), probabilities,
                              np.asarray(classifier.labels)[top], contributions, baseline)


def emotion_map(au_maps: np.ndarray, contributions: np.ndarray) -> np.ndarray:
    """[N, S, S]: the AUs' maps ([N, K, S, S], all the model's AUs), each of mass 1, weighted
    by their positive contributions ([N, K]); an AU whose map is empty (Grad-CAM's can be) has
    nothing to show and is left out; zero where no AU with a map raised the emotion."""
    has_map = au_maps.sum(axis=(-2, -1)) > 0
    weights = np.clip(contributions, 0, None) * has_map
    total = weights.sum(1)
    weights = np.divide(weights, total[:, None], out=np.zeros_like(weights),
                        where=total[:, None] > 0)
    return np.einsum('nk,nkhw->nhw', weights, normalised(au_maps))


def randomised_copy(model, layer_names, seed: int = 0):
    """A copy of the Keras model whose named layers (nested ones included) have fresh weights
    from their initialisers (Adebayo et al. 2018's model-randomisation test)."""
    import keras
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    layers = {layer.name: layer for layer in _layer_chain(copy)}
    for offset, name in enumerate(layer_names):
        layer = layers[name]
        for attribute in ('kernel', 'bias'):
            variable = getattr(layer, attribute, None)
            if variable is None:
                continue
            initializer = keras.initializers.get(getattr(layer, f'{attribute}_initializer'))
            config = initializer.get_config()
            if 'seed' in config:
                config['seed'] = seed + offset
                initializer = initializer.__class__.from_config(config)
            variable.assign(initializer(variable.shape, variable.dtype))
    return copy


def weighted_layers(model) -> list:
    """Names of the model's layers with a kernel, from the output down (the cascade's order)."""
    return [layer.name for layer in reversed(_layer_chain(model))
            if getattr(layer, 'kernel', None) is not None]


# The sanity check's AUs and the half of the crop each should be read from (issue 17):
# mouth AUs below the middle row, brow AUs above it.
EXPECTED_HALF = {12: 'lower', 25: 'lower', 26: 'lower', 15: 'lower', 20: 'lower',
                 1: 'upper', 2: 'upper', 4: 'upper'}


def expected_half_share(maps: np.ndarray, half: str) -> np.ndarray:
    """Share of each map's mass in `half` ('lower' or 'upper') of the crop."""
    lower = lower_half_share(maps)
    return lower if half == 'lower' else 1 - lower


def occlusion_lower_share(au_model: AUModel, crops, au_code: int, sigma: float = 6.0) -> np.ndarray:
    """The model's own answer to 'which half': per face, the drop of the AU's logit when the
    lower half is blurred (Gaussian, `sigma` px), as a share of the drops of both halves
    (negative drops count 0; NaN where neither half lowers it). No gradients: a check on them."""
    import cv2
    faces = model_input(crops, au_model.input_size)[..., 0]
    blurred = np.stack([cv2.GaussianBlur(face, (0, 0), sigma) for face in faces])
    middle = faces.shape[1] // 2
    upper, lower = faces.copy(), faces.copy()
    upper[:, :middle], lower[:, middle:] = blurred[:, :middle], blurred[:, middle:]
    column = au_model.au_codes.index(au_code)
    p = np.clip(au_model.predict_proba(np.concatenate([faces, upper, lower]))[:, column],
                1e-6, 1 - 1e-6)
    logits = np.log(p / (1 - p)).reshape(3, len(faces))
    drop_upper = np.clip(logits[0] - logits[1], 0, None)
    drop_lower = np.clip(logits[0] - logits[2], 0, None)
    total = drop_upper + drop_lower
    return np.divide(drop_lower, total, out=np.full_like(total, np.nan), where=total > 0)


def half_shares(saliency: Saliency, images, au, subjects, faces_per_au: int | None = None) -> dict:
    """The sanity check on AU-coded faces (e.g. CK+): for each AU of EXPECTED_HALF, its maps on
    the faces coded with it (the first of each subject, at most `faces_per_au`), the mean share
    of each method's mass in the expected half, and the occlusion check's share there.

    images [N, S, S], au [N, K] (0/1, the model's AU order), subjects [N].
    Returns {AU code: {'faces': n, 'half': ..., 'share': {method: mean}, 'occlusion': mean}}.
    """
    codes = saliency.au_model.au_codes
    report = {}
    for code, half in EXPECTED_HALF.items():
        if code not in codes:
            continue
        coded = np.flatnonzero(np.asarray(au)[:, codes.index(code)] > 0)
        _, first = np.unique(np.asarray(subjects)[coded], return_index=True)
        chosen = coded[np.sort(first)][:faces_per_au]
        if not len(chosen):
            continue
        crops = np.asarray(images)[chosen]
        maps = saliency.explain(crops, [code]).maps
        occlusion = occlusion_lower_share(saliency.au_model, crops, code)
        report[code] = {
            'faces': int(len(chosen)), 'half': half,
            'share': {method: float(np.nanmean(expected_half_share(maps[method][:, 0], half)))
                      for method in METHODS},
            'occlusion': float(np.nanmean(occlusion if half == 'lower' else 1 - occlusion))}
    return report


def randomisation_correlations(saliency: Saliency, crops, depths, seed: int = 0) -> dict:
    """Adebayo et al. 2018, cascading: the weighted layers re-initialised from the output down,
    `depth` layers at a time for each of `depths`; per method the mean Spearman rank
    correlation, over faces and AUs, of the randomised model's maps with the trained one's.
    Returns {depth: {'layers': [...], 'spearman': {method: mean}}}."""
    from scipy.stats import rankdata
    trained = saliency.explain(crops).maps
    names = weighted_layers(saliency.model)
    report = {}
    for depth in depths:
        model = randomised_copy(saliency.model, names[:depth], seed)
        maps = Saliency(saliency.au_model, model, saliency.cam_layer).explain(crops).maps
        report[depth] = {'layers': names[:depth], 'spearman': {
            method: _mean_spearman(trained[method], maps[method], rankdata) for method in METHODS}}
    return report


def _mean_spearman(first: np.ndarray, second: np.ndarray, rankdata) -> float:
    """Mean rank correlation of paired maps ([..., S, S]); constant maps are left out."""
    a = rankdata(first.reshape(-1, first.shape[-2] * first.shape[-1]), axis=1)
    b = rankdata(second.reshape(-1, second.shape[-2] * second.shape[-1]), axis=1)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    norm = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    keep = norm > 0
    return float(((a * b).sum(1)[keep] / norm[keep]).mean())
