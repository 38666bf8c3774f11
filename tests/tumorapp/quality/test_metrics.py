"""The pure functions under the figures, on numbers small enough to check by hand."""

import math

import numpy as np
import pytest

from tumorapp.quality import metrics


def test_psi_by_hand():
    # Shares 0.5/0.5 against 0.25/0.75: (0.25-0.5) ln(0.25/0.5) + (0.75-0.5) ln(0.75/0.5).
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert metrics.psi([50, 50], [25, 75]) == pytest.approx(expected)
    assert metrics.psi([10, 30], [20, 60]) == pytest.approx(0.0)
    assert metrics.psi([0, 0], [1, 1]) is None


def test_psi_smooths_empty_bins():
    score = metrics.psi([100, 0], [50, 50])
    assert math.isfinite(score) and score > 1


def test_bin_index_matches_numpy_histogram_on_clipped_values():
    edges = [0, 256, 384, 480, 511, 513, 640, 800, 1024, 1e9]
    values = [-5, 0, 255.9, 256, 512, 1024, 5000, 1e9, 2e9]
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    ours = [0] * (len(edges) - 1)
    for v in values:
        ours[metrics.bin_index(v, edges)] += 1
    assert ours == list(counts)


def test_reliability_bins_are_right_closed():
    assert [metrics.reliability_bin(c) for c in (0.0, 0.1, 0.10001, 0.7, 0.9, 1.0)] == [
        0,
        0,
        1,
        6,
        8,
        9,
    ]


def test_histogram_quantile_is_within_one_bin():
    values = [5.0, 50.0, 500.0, 5000.0, 50000.0]
    bins: dict[str, int] = {}
    for v in values:
        key = str(metrics.bin_index(v, metrics.DURATION_EDGES))
        bins[key] = bins.get(key, 0) + 1
    assert abs(metrics.histogram_quantile(bins, 0.5) - 500.0) <= 50.0
    assert metrics.histogram_quantile({}, 0.5) is None


def test_merge_adds_leaves():
    a = metrics.empty_counts()
    b = metrics.empty_counts()
    metrics.add_read(
        a, reader="x", first_read=True, label="glioma", ai_label="glioma", initial_label=""
    )
    metrics.add_read(
        b, reader="x", first_read=False, label="glioma", ai_label="glioma", initial_label=""
    )
    metrics.add_read(
        b,
        reader="y",
        first_read=True,
        label="glioma",
        ai_label="pituitary",
        initial_label="pituitary",
    )
    merged = metrics.merge(metrics.empty_counts(), a)
    metrics.merge(merged, b)
    assert merged["reads"] == {"x": 2, "y": 1}
    assert merged["bias"]["shown"] == 1 and merged["bias"]["blind_changed"] == 1
    assert a["reads"] == {"x": 1}  # the sources are not changed


def test_wilson_interval_known_value():
    # 5 of 6: the textbook Wilson 95 % interval is 0.4365-0.9699.
    assert metrics.wilson_interval(5, 6) == pytest.approx((0.4365, 0.9699), abs=1e-4)
    assert metrics.wilson_interval(0, 0) is None


@pytest.mark.parametrize(
    ("value", "n", "alerts"),
    [(0.80, 25, True), (0.91, 25, False), (0.50, 10, False)],
)
def test_sensitivity_below_card(value, n, alerts):
    card = {"sensitivity": 0.95, "sensitivity_ci95": [0.9, 0.98]}
    sensitivity = {"value": value, "n": n}
    assert metrics.sensitivity_below_card(sensitivity, card, min_positives=20) is alerts
    assert metrics.sensitivity_below_card(sensitivity, None, min_positives=20) is False
