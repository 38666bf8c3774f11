"""The pretrained tumour network: EfficientNet-Lite0 features, a tumour output and a subtype output.

Network (input: a grey ``size`` x ``size`` slice in [0, 1], as every model here)::

    slice -> x*255/128 - 127/128 -> EfficientNet-Lite0 (grey stem) -> 1x1 head ("cam")
          -> global average pool ("features") -> dropout -> tumour logit t   (Dense 1)
                                                         -> subtype logits s (Dense 3)
    logits = [t + log_softmax(s)_glioma, t + log_softmax(s)_meningioma,
              t + log_softmax(s)_pituitary, 0]

so that ``softmax(logits)`` is exactly ``[P(tumour) * P(type | tumour), 1 - P(tumour)]`` with
``P(tumour) = sigmoid(t)``: the four probabilities sum to 1, ``p_tumor = 1 - P(no tumour)``,
and every consumer of four logits (Predictor, evaluation, registry) works unchanged.

Training loss on those logits (:func:`factorised_loss`): for a known class k it is
``-log softmax(logits)_k`` = binary cross-entropy of t plus the subtype cross-entropy; for
"tumour, type unknown" (label 4) it is ``-log P(tumour)``, the binary term alone. So the
tumour output learns from every labelled slice and the subtype only where it is known.

Fine-tuning on a CPU: the lower ``frozen_blocks`` blocks keep their ImageNet (or parent)
weights and batch-norm statistics stay frozen, so their activations are computed once per
image (and its mirror) and cached; only the upper blocks, the head and the two outputs train.
"""

from __future__ import annotations

import time

import keras
import numpy as np
from keras import layers

from ml.artefact import TRANSFER_ARCH as ARCH  # noqa: F401 (re-exported)
from ml.efficientnet import N_BLOCKS, backbone, load_torch_weights

TUMOR_UNKNOWN_LABEL = 4
#: Blocks 0..10 (stem to the 112-channel stage) frozen; 11..15, the head and outputs train.
DEFAULT_FROZEN_BLOCKS = 11


def build_model(size: int = 224, *, dropout: float = 0.2, imagenet: bool = True) -> keras.Model:
    inputs = keras.Input((size, size, 1), name="image")
    x = layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="scale")(inputs)
    x = backbone(x)
    features = layers.GlobalAveragePooling2D(name="features")(x)
    h = layers.Dropout(dropout, name="dropout")(features)
    subtype = layers.Dense(3, name="subtype")(h)
    tumour = layers.Dense(1, name="tumour")(h)
    log_q = layers.Activation("log_softmax", name="subtype_log_probs")(subtype)
    tumour3 = layers.Concatenate(name="tumour_x3")([tumour, tumour, tumour])
    tumour_classes = layers.Add(name="tumour_class_logits")([log_q, tumour3])
    zero = layers.Subtract(name="no_tumour_logit")([tumour, tumour])
    logits = layers.Concatenate(name="logits")([tumour_classes, zero])
    model = keras.Model(inputs, logits, name="efficientnet_lite0_tumour")
    if imagenet:
        load_torch_weights(model)
    return model


def boundary_layer(frozen_blocks: int) -> str:
    """Name of the layer whose output feeds block ``frozen_blocks`` (the cached activation)."""
    if frozen_blocks <= 0 or frozen_blocks >= N_BLOCKS:
        raise ValueError(f"frozen_blocks must be in 1..{N_BLOCKS - 1}")
    return f"blocks_{frozen_blocks - 1}_"


def boundary_output(model: keras.Model, frozen_blocks: int) -> str:
    """The layer whose output is the last frozen block's output (cached; the OOD features)."""
    prefix = boundary_layer(frozen_blocks)
    names = {layer.name for layer in model.layers}
    return prefix + "add" if prefix + "add" in names else prefix + "bn2"


def split_model(model: keras.Model, frozen_blocks: int) -> tuple[keras.Model, keras.Model]:
    """(lower, upper): lower maps the slice to block ``frozen_blocks``'s input; upper maps
    that to [logits, features]. Both share the full model's layers (and so its weights)."""
    mid = model.get_layer(boundary_output(model, frozen_blocks)).output
    lower = keras.Model(model.inputs, mid, name="lower")
    upper = keras.Model(mid, [model.output, model.get_layer("features").output], name="upper")
    for layer in model.layers:
        trainable_block = any(
            layer.name.startswith(f"blocks_{i}_") for i in range(frozen_blocks, N_BLOCKS)
        )
        is_top = layer.name in {"head_conv", "subtype", "tumour"}
        layer.trainable = (trainable_block or is_top) and not isinstance(
            layer, layers.BatchNormalization
        )
    return lower, upper


def factorised_loss(y_true, logits):
    """Per-row loss on the four logits; label 4 = tumour of unknown type (see module doc)."""
    from keras import ops

    y = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    log_p = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
    known = -ops.take_along_axis(log_p, ops.expand_dims(ops.minimum(y, 3), -1), axis=-1)[:, 0]
    unknown = -ops.logsumexp(log_p[:, :3], axis=-1)
    return ops.where(y == TUMOR_UNKNOWN_LABEL, unknown, known)


def cache_activations(lower: keras.Model, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, 2, h, w, c) float16: the lower blocks' output for each image and its mirror."""
    from ml.preprocess import to_model_input

    out = None
    for start in range(0, len(pixels), batch_size):
        x = to_model_input(pixels[start : start + batch_size])
        both = lower.predict_on_batch(np.concatenate([x, x[:, :, ::-1]]))
        pair = np.stack([both[: len(x)], both[len(x) :]], axis=1).astype(np.float16)
        if out is None:
            out = np.empty((len(pixels), *pair.shape[1:]), np.float16)
        out[start : start + len(pair)] = pair
    return out


def fit_upper(
    upper: keras.Model,
    activations: np.ndarray,
    labels: np.ndarray,
    weights_rows: np.ndarray,
    *,
    epochs: int,
    seed: int,
    lr: float = 1e-3,
    batch_size: int = 32,
    log=print,
) -> list[dict]:
    """Train the upper model; each epoch draws len(labels) rows with probability
    ``weights_rows`` (source- and class-balanced) and a random mirror per row."""
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    n = len(labels)
    steps = max(1, n // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        lr, steps * epochs, alpha=0.05, warmup_target=None
    )
    upper.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=[factorised_loss, None],
    )
    p = weights_rows / weights_rows.sum()
    history = []
    for epoch in range(epochs):
        t0 = time.time()
        idx = rng.choice(n, size=steps * batch_size, replace=True, p=p)
        flip = rng.integers(0, 2, size=len(idx))
        x = activations[idx, flip].astype(np.float32)
        h = upper.fit(x, labels[idx], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        loss = float(h.history["loss"][-1])
        history.append(
            {"epoch": epoch + 1, "loss": round(loss, 5), "seconds": round(time.time() - t0, 1)}
        )
        log(f"Epoch {epoch + 1}/{epochs} loss {loss:.4f} ({time.time() - t0:.0f} s)")
    return history


def predict_upper(
    upper: keras.Model, activations: np.ndarray, batch_size: int = 128, flip: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(logits, features) float64 for cached activations (mirror ``flip`` 0 or 1)."""
    logits, feats = [], []
    for start in range(0, len(activations), batch_size):
        lo, fe = upper.predict_on_batch(
            activations[start : start + batch_size, flip].astype(np.float32)
        )
        logits.append(np.asarray(lo))
        feats.append(np.asarray(fe))
    return np.concatenate(logits).astype(np.float64), np.concatenate(feats).astype(np.float64)
