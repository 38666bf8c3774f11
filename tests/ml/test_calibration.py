import numpy as np
import pytest

from ml.calibration import (
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    sensitivity_specificity,
    softmax,
    wilson_interval,
)


def test_threshold_is_highest_meeting_sensitivity():
    # 10 positives scored 0.1..1.0, negatives low
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.05, 0.15, 0.35])
    positive = np.array([1] * 10 + [0] * 3, bool)
    # 90 % sensitivity needs 9 of 10 positives: the 9th highest positive score, 0.2
    assert choose_threshold(scores, positive, 0.9) == pytest.approx(0.2)
    assert choose_threshold(scores, positive, 0.97) == pytest.approx(0.1)
    assert choose_threshold(scores, positive, 0.5) == pytest.approx(0.6)
    m = sensitivity_specificity(scores, positive, 0.2)
    assert m["sensitivity"] == pytest.approx(0.9)
    assert m["specificity"] == pytest.approx(2 / 3)
    assert m["false_negatives"] == 1 and m["false_positives"] == 1


def test_ece_of_perfectly_calibrated_and_overconfident():
    labels = np.array([0, 0, 0, 1])
    honest = np.array([[0.75, 0.25]] * 4)  # 75 % confident, 75 % right
    assert expected_calibration_error(honest, labels) == pytest.approx(0.0)
    overconfident = np.array([[0.99, 0.01]] * 4)
    assert expected_calibration_error(overconfident, labels) == pytest.approx(0.24)


def test_temperature_recovers_known_scale():
    # Labels drawn from softmax(z); logits handed over are z * 3, so T = 3 undoes it
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (4000, 4))
    p = softmax(z)
    labels = np.array([rng.choice(4, p=row) for row in p])
    t = fit_temperature(z * 3.0, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(softmax(z * 3.0), labels)
    after = expected_calibration_error(softmax(z * 3.0, t), labels)
    assert after < before and after < 0.03


def test_wilson_interval_contains_estimate():
    lo, hi = wilson_interval(97, 100)
    assert lo < 0.97 < hi and lo > 0.9 and hi < 1.0
    assert wilson_interval(0, 10)[0] == 0.0
