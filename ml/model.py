"""The network and the training-time augmentation (TensorFlow; imported only to train/predict)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

#: Name of the pooled feature layer used by the OOD guard (Mahalanobis distance).
FEATURE_LAYER = "features"
#: Name of the last convolutional activation, the Grad-CAM target.
CAM_LAYER = "cam"


def build_model(size: int, n_classes: int, *, width: int = 32, dropout: float = 0.3) -> keras.Model:
    """Compact CNN for grey ``size`` x ``size`` inputs in [0, 1]; returns logits.

    A strided stem, then four stages of two 3x3 convolutions (BN + ReLU) that halve the
    resolution and double the width; the last stage is depthwise-separable to keep the
    parameter count under a million. Global average pooling keeps the model resolution-agnostic
    and gives one feature vector per image for the OOD guard.
    """
    inputs = keras.Input((size, size, 1), name="image")
    x = layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = _conv(x, width, strides=2)
    for stage, mult in enumerate((1, 2, 4)):
        x = _conv(x, width * mult)
        x = _conv(x, width * mult)
        x = layers.MaxPooling2D(name=f"pool{stage}")(x)
    x = _conv(x, width * 8, separable=True)
    x = _conv(x, width * 8, separable=True, name=CAM_LAYER)
    x = layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(x)
    x = layers.Dropout(dropout)(x)
    logits = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="brain_mri_cnn")


def _conv(x, filters: int, *, strides: int = 1, separable: bool = False, name: str | None = None):
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(name=name)(x)


def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Scanner-variation augmentation of a float batch (B, S, S, 1) in [0, 1]; stateless, seeded.

    The training images of each class come mostly from one source (see the EDA), so the
    augmentation's job is to make source "style" useless as a cue:

    - geometry (one affine warp): rotation +-15 deg, zoom 0.8-1.25, shift +-8 %, left-right
      flip (anatomically plausible; up-down flips are not, so they are not used);
    - resolution: 60 % of images are downsampled to 25-90 % and upsampled back; a third are
      blurred, a fifth sharpened;
    - intensity: a smooth multiplicative bias field, a random monotone intensity curve
      (windowing / sequence differences), gamma 0.6-1.6, contrast and brightness, then
      Gaussian noise on half the images.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=22)
    b = tf.shape(images)[0]
    size = images.shape[1]

    def uniform(i: int, lo: float, hi: float) -> tf.Tensor:
        return tf.random.stateless_uniform([b], seeds[i], lo, hi)

    def chance(i: int, p: float) -> tf.Tensor:
        return tf.reshape(uniform(i, 0.0, 1.0) < p, [-1, 1, 1, 1])

    angle = uniform(0, -15.0, 15.0) * (math.pi / 180.0)
    scale = uniform(1, 0.8, 1.25)
    flip = tf.where(uniform(2, 0.0, 1.0) < 0.5, -1.0, 1.0)
    tx, ty = uniform(3, -0.08, 0.08) * size, uniform(4, -0.08, 0.08) * size
    c = (size - 1) / 2.0
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1 = flip * cos, -sin
    b0, b1 = flip * sin, cos
    zeros = tf.zeros([b])
    transforms = tf.stack(
        [a0, a1, c + tx - (a0 * c + a1 * c), b0, b1, c + ty - (b0 * c + b1 * c), zeros, zeros],
        axis=1,
    )
    x = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[size, size],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )

    low = tf.cast(tf.round(size * tf.random.stateless_uniform([], seeds[5], 0.25, 0.9)), tf.int32)
    degraded = tf.image.resize(tf.image.resize(x, [low, low], antialias=True), [size, size])
    x = tf.where(chance(6, 0.6), degraded, x)
    sigma = tf.random.stateless_uniform([], seeds[7], 0.4, 1.5)
    x = tf.where(chance(8, 0.33), _blur(x, sigma), x)
    amount = uniform(17, 0.3, 1.0)[:, None, None, None]
    x = tf.where(chance(18, 0.2), x + amount * (x - _blur(x, tf.constant(1.0))), x)

    field = tf.random.stateless_uniform([b, 4, 4, 1], seeds[9], -1.0, 1.0)
    field = tf.image.resize(field, [size, size], method="bicubic")
    x = tf.clip_by_value(x * (1.0 + uniform(10, 0.0, 0.3)[:, None, None, None] * field), 0.0, 1.0)
    x = _intensity_curve(x, seeds[19], seeds[20], b)
    gamma = tf.exp(uniform(11, math.log(0.6), math.log(1.6)))[:, None, None, None]
    x = tf.pow(tf.clip_by_value(x, 0.0, 1.0), gamma)
    contrast = uniform(12, 0.75, 1.3)[:, None, None, None]
    brightness = uniform(13, -0.08, 0.08)[:, None, None, None]
    x = x * contrast + brightness
    noise_sigma = uniform(14, 0.0, 0.05) * tf.cast(uniform(15, 0.0, 1.0) < 0.5, tf.float32)
    x = x + noise_sigma[:, None, None, None] * tf.random.stateless_normal(tf.shape(x), seeds[16])
    return tf.clip_by_value(x, 0.0, 1.0)


def _intensity_curve(x: tf.Tensor, seed_knots: tf.Tensor, seed_strength: tf.Tensor, b) -> tf.Tensor:
    """Map intensities through a random monotone piecewise-linear curve (5 knots)."""
    knots = tf.sort(tf.random.stateless_uniform([b, 5], seed_knots), axis=1)
    knots = (knots - knots[:, :1]) / (knots[:, -1:] - knots[:, :1] + 1e-6)
    identity = tf.linspace(0.0, 1.0, 5)[None, :]
    strength = tf.random.stateless_uniform([b, 1], seed_strength, 0.0, 0.7)
    knots = identity + strength * (knots - identity)
    shape = tf.shape(x)
    flat = tf.reshape(x, [b, -1]) * 4.0
    i0 = tf.clip_by_value(tf.floor(flat), 0.0, 3.0)
    frac = flat - i0
    i0 = tf.cast(i0, tf.int32)
    lo = tf.gather(knots, i0, batch_dims=1)
    hi = tf.gather(knots, i0 + 1, batch_dims=1)
    return tf.reshape(lo + frac * (hi - lo), shape)


def outlier_exposure_loss(
    n_classes: int, outlier_weight: float = 0.5, label_smoothing: float = 0.0
):
    """Cross-entropy for labels < n_classes; label n_classes marks a non-MRI image, whose
    softmax is pushed towards uniform (Hendrycks et al., "Outlier Exposure", 2019).

    With ``label_smoothing`` eps > 0 the target of an MRI image is (1 - eps) on its class plus
    eps spread evenly over all classes, so the network is not pushed to ever larger logits
    by images it can only tell apart by their source."""

    def loss(y_true, logits):
        y = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        log_p = tf.nn.log_softmax(logits)
        ce = -tf.gather(log_p, tf.minimum(y, n_classes - 1), batch_dims=1)
        uniform_ce = -tf.reduce_mean(log_p, axis=-1)
        if label_smoothing > 0:
            ce = (1.0 - label_smoothing) * ce + label_smoothing * uniform_ce
        return tf.where(y >= n_classes, outlier_weight * uniform_ce, ce)

    return loss


def _blur(x: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    r = tf.range(-3, 4, dtype=tf.float32)
    k = tf.exp(-(r**2) / (2.0 * sigma**2))
    k = k / tf.reduce_sum(k)
    x = tf.nn.conv2d(x, tf.reshape(k, [7, 1, 1, 1]), 1, "SAME")
    return tf.nn.conv2d(x, tf.reshape(k, [1, 7, 1, 1]), 1, "SAME")
