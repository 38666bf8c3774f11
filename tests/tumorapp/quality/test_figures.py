"""Every dashboard figure on ten reviewed cases, against a computation by hand.

The cases (final label, AI label, AI flags a tumour, AI confidence, initial blind answer):

    1 glioma      glioma      yes 0.90 shown        6 pituitary pituitary yes 0.85 blind pituitary
    2 glioma      glioma      yes 0.80 shown        7 no_tumor  no_tumor  no  0.90 blind glioma
    3 glioma      meningioma  yes 0.60 shown        8 no_tumor  no_tumor  no  0.75 blind no_tumor
    4 glioma      no_tumor    no  0.70 shown        9 no_tumor  glioma    yes 0.55 blind no_tumor
    5 meningioma  meningioma  yes 0.95 shown       10 no_tumor  no_tumor  yes 0.65 blind meningioma

Upload to prediction takes 10, 20, ... 100 s (case i: 10 i s); prediction to final label
1, 2, ... 10 hours. Cases 1-5 are in the "suspected" band, 6-10 "routine". Reader r1 reads
1-6, r2 reads 7-10 and second-reads case 1.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics

import pytest
from django.utils import timezone

from reviews.models import Case, Review
from tests.factories import UserFactory
from tumorapp.accounts.roles import Role
from tumorapp.quality.selectors import QualityFilters, quality_report
from tumorapp.quality.services import quality_refresh
from tumorapp.scans.models import Scan

CASES = [
    ("glioma", "glioma", True, 0.90, ""),
    ("glioma", "glioma", True, 0.80, ""),
    ("glioma", "meningioma", True, 0.60, ""),
    ("glioma", "no_tumor", False, 0.70, ""),
    ("meningioma", "meningioma", True, 0.95, ""),
    ("pituitary", "pituitary", True, 0.85, "pituitary"),
    ("no_tumor", "no_tumor", False, 0.90, "glioma"),
    ("no_tumor", "no_tumor", False, 0.75, "no_tumor"),
    ("no_tumor", "glioma", True, 0.55, "no_tumor"),
    ("no_tumor", "no_tumor", True, 0.65, "meningioma"),
]


def hand_wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959964
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.fixture
def report(model_folder, make_reviewed):
    r1 = UserFactory(username="r1", role=Role.RADIOLOGIST)
    r2 = UserFactory(username="r2", role=Role.RADIOLOGIST)
    now = timezone.now()
    cases = []
    for i, (final, ai, suspected, confidence, initial) in enumerate(CASES, start=1):
        cases.append(
            make_reviewed(
                final=final,
                ai=ai,
                suspected=suspected,
                confidence=confidence,
                initial=initial,
                reader=r1 if i <= 6 else r2,
                at=now - dt.timedelta(hours=2 * i),
                upload_s=10.0 * i,
                decide_s=3600.0 * i,
                band=Case.Band.SUSPECTED if i <= 5 else Case.Band.ROUTINE,
            )
        )
    Review.objects.create(
        case=cases[0], reader=r2, kind=Review.Kind.SECOND, ai_label="glioma", label="glioma"
    )
    quality_refresh(full=True)
    return quality_report(filters=QualityFilters.default())


def test_confusion_matrix_and_accuracy(report):
    mvf = report["model_vs_final"]
    assert mvf["reviewed"] == 10
    assert mvf["classes"] == ["glioma", "meningioma", "pituitary", "no_tumor"]
    assert mvf["confusion"] == [
        [2, 1, 0, 1],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [1, 0, 0, 3],
        [0, 0, 0, 0],  # tumour, type unknown
    ]
    assert mvf["accuracy"]["value"] == pytest.approx(7 / 10)
    assert mvf["accuracy"]["ci95"] == pytest.approx(hand_wilson(7, 10))


def test_per_class_recall_with_wilson_intervals(report):
    recall = {r["class"]: r for r in report["model_vs_final"]["per_class_recall"]}
    assert recall["glioma"]["value"] == pytest.approx(2 / 4)
    assert recall["glioma"]["ci95"] == pytest.approx(hand_wilson(2, 4))
    assert recall["meningioma"]["value"] == 1.0
    assert recall["pituitary"]["value"] == 1.0
    assert recall["no_tumor"]["value"] == pytest.approx(3 / 4)
    assert recall["no_tumor"]["ci95"] == pytest.approx(hand_wilson(3, 4))


def test_sensitivity_and_specificity_at_the_threshold(report):
    mvf = report["model_vs_final"]
    # Tumours 1-6: the AI flags all but case 4. Normals 7-10: it flags 9 and 10.
    assert mvf["tumour_counts"] == {"tp": 5, "fn": 1, "tn": 2, "fp": 2}
    assert mvf["sensitivity"]["value"] == pytest.approx(5 / 6)
    assert mvf["sensitivity"]["ci95"] == pytest.approx((0.4365, 0.9699), abs=1e-4)
    assert mvf["specificity"]["value"] == pytest.approx(2 / 4)
    assert mvf["specificity"]["ci95"] == pytest.approx(hand_wilson(2, 4))
    assert mvf["reference"]["sensitivity_ci95"] == [0.9, 0.98]


def test_reliability_diagram_and_ece(report):
    bins = {i: b for i, b in enumerate(report["model_vs_final"]["calibration"]["bins"])}
    # (0.8, 0.9]: cases 1, 6, 7, all confirmed. (0.7, 0.8]: 2 and 8, confirmed.
    # (0.6, 0.7]: 4 (wrong) and 10. (0.5, 0.6]: 3 and 9, both wrong. (0.9, 1]: case 5.
    assert bins[8]["n"] == 3 and bins[8]["accuracy"] == 1.0
    assert bins[8]["confidence"] == pytest.approx((0.9 + 0.85 + 0.9) / 3)
    assert (bins[7]["n"], bins[7]["accuracy"]) == (2, 1.0)
    assert bins[7]["confidence"] == pytest.approx(0.775)
    assert (bins[6]["n"], bins[6]["accuracy"]) == (2, 0.5)
    assert (bins[5]["n"], bins[5]["accuracy"]) == (2, 0.0)
    assert (bins[9]["n"], bins[9]["accuracy"]) == (1, 1.0)
    assert all(bins[i]["n"] == 0 for i in range(5))
    ece = 0.3 * (1 - 2.65 / 3) + 0.2 * 0.225 + 0.2 * 0.175 + 0.2 * 0.575 + 0.1 * 0.05
    assert report["model_vs_final"]["calibration"]["ece"] == pytest.approx(ece)
    assert ece == pytest.approx(0.235)


def test_weekly_trend_sums_to_the_total(report):
    weekly = report["weekly"]
    assert sum(w["reviewed"] for w in weekly) == 10
    assert sum(w["sensitivity"]["successes"] for w in weekly) == 5
    assert sum(w["sensitivity"]["n"] for w in weekly) == 6


def within_one_bin(estimate: float, exact: float) -> bool:
    """Durations are binned on a 10 % geometric scale."""
    return abs(estimate - exact) <= 0.1 * exact


def test_turnaround_median_and_90th_percentile_by_priority(report):
    upload = {row["band"]: row for row in report["turnaround"]["upload_to_prediction"]}
    final = {row["band"]: row for row in report["turnaround"]["prediction_to_final"]}
    assert upload["Suspected tumour"]["n"] == 5 and upload["Routine"]["n"] == 5
    seconds = [10.0 * i for i in range(1, 11)]
    assert within_one_bin(upload["All"]["median_s"], statistics.median(seconds))
    assert within_one_bin(upload["All"]["p90_s"], statistics.quantiles(seconds, n=10)[-1])
    assert within_one_bin(upload["Suspected tumour"]["median_s"], 30.0)
    assert within_one_bin(upload["Routine"]["median_s"], 80.0)
    hours = [3600.0 * i for i in range(1, 11)]
    assert within_one_bin(final["All"]["median_s"], statistics.median(hours))
    assert within_one_bin(final["All"]["p90_s"], statistics.quantiles(hours, n=10)[-1])
    assert final["All"]["n"] == 10


def test_reader_throughput(report):
    assert report["throughput"] == [{"reader": "r1", "reads": 6}, {"reader": "r2", "reads": 5}]


def test_automation_bias(report):
    bias = report["automation_bias"]
    # Shown first (1-5): the read equals the AI on 1, 2 and 5.
    assert (
        bias["final_equals_ai_when_shown"]["successes"],
        bias["final_equals_ai_when_shown"]["n"],
    ) == (3, 5)
    # Blind (6-10): final equals the AI on 6, 7, 8, 10; the blind answer did on 6 and 8.
    assert bias["final_equals_ai_when_blind"]["value"] == pytest.approx(4 / 5)
    assert bias["initial_equals_ai_when_blind"]["value"] == pytest.approx(2 / 5)
    # Changed after the reveal: 7 and 10, both to the AI's class.
    assert bias["changed_after_reveal"]["value"] == pytest.approx(2 / 5)
    assert bias["changed_towards_ai"]["value"] == 1.0


def test_queue_depth_is_live(report, make_scans):
    waiting = make_scans([{}, {}])
    Scan.objects.filter(pk__in=[p.scan_id for p in waiting]).update(status=Scan.Status.QUEUED)
    queue = {q["stage"]: q["n"] for q in quality_report(filters=QualityFilters.default())["queue"]}
    assert queue["awaiting_model"] == 2
    assert queue["first_read"] == 0


def test_model_version_filter_excludes_other_versions(report, make_reviewed):
    reader = UserFactory(username="r3", role=Role.RADIOLOGIST)
    make_reviewed(
        final="glioma",
        ai="no_tumor",
        suspected=False,
        confidence=0.9,
        reader=reader,
        model_version="other-model",
    )
    quality_refresh()
    one = quality_report(
        filters=QualityFilters(
            **{**QualityFilters.default().__dict__, "model_version": "test-model-1"}
        )
    )
    both = quality_report(filters=QualityFilters.default())
    assert one["model_vs_final"]["reviewed"] == 10
    assert both["model_vs_final"]["reviewed"] == 11


def test_date_range_filter(report):
    today = timezone.localdate()
    later = quality_report(
        filters=QualityFilters(start=today + dt.timedelta(days=1), end=today + dt.timedelta(days=2))
    )
    assert later["model_vs_final"]["reviewed"] == 0
    assert later["model_vs_final"]["sensitivity"]["value"] is None
