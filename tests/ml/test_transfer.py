"""The pretrained tumour network's two outputs and their loss (ml.transfer)."""

import numpy as np
import pytest

from ml.calibration import softmax


@pytest.fixture(scope="module")
def model():
    from ml.transfer import build_model

    return build_model(64, imagenet=False)


def _heads(model, x):
    import keras

    probe = keras.Model(
        model.inputs,
        [model.get_layer("tumour").output, model.get_layer("subtype").output, model.output],
    )
    t, s, logits = (np.asarray(a, np.float64) for a in probe(x, training=False))
    return t[:, 0], s, logits


def test_four_probabilities_are_p_tumour_times_the_subtype_and_sum_to_one(model):
    x = np.random.default_rng(0).uniform(0, 1, (5, 64, 64, 1)).astype(np.float32)
    t, s, logits = _heads(model, x)
    p = softmax(logits)
    p_tumour = 1 / (1 + np.exp(-t))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(1 - p[:, 3], p_tumour, atol=1e-5)
    np.testing.assert_allclose(p[:, :3], p_tumour[:, None] * softmax(s), atol=1e-5)


def _loss(y, logits):
    from ml.transfer import factorised_loss

    return np.asarray(factorised_loss(np.array(y), np.array(logits, np.float32)), np.float64)


def test_a_known_class_trains_both_outputs_and_type_unknown_only_the_tumour_output():
    t, s = 0.7, np.array([2.0, -1.0, 0.3])
    log_q = s - np.log(np.exp(s).sum())
    logits = [np.concatenate([t + log_q, [0.0]])] * 5
    bce_tumour = np.log1p(np.exp(-t))  # -log sigmoid(t)
    bce_normal = np.log1p(np.exp(t))  # -log (1 - sigmoid(t))
    got = _loss([0, 1, 2, 3, 4], logits)
    np.testing.assert_allclose(got[:3], bce_tumour - log_q, rtol=1e-5)
    np.testing.assert_allclose(got[3], bce_normal, rtol=1e-5)
    np.testing.assert_allclose(got[4], bce_tumour, rtol=1e-5)  # no subtype term


def test_type_unknown_gradients_reach_the_tumour_output_only(model):
    import tensorflow as tf

    from ml.transfer import factorised_loss

    x = tf.constant(np.random.default_rng(1).uniform(0, 1, (3, 64, 64, 1)).astype(np.float32))
    subtype, tumour = model.get_layer("subtype"), model.get_layer("tumour")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(factorised_loss(tf.constant([4, 4, 4]), model(x, training=False)))
    g_sub, g_tum = tape.gradient(loss, [subtype.bias, tumour.bias])
    assert float(tf.reduce_max(tf.abs(g_sub))) < 1e-6
    assert float(tf.reduce_max(tf.abs(g_tum))) > 0.1
