"""A final "tumour, type unknown" on the dashboard: a tumour for sensitivity and specificity,
a row of the confusion matrix, outside accuracy, per-class recall and calibration.

The cases (final label, AI label, AI flags a tumour):

    1 glioma         glioma     yes      3 tumor_unknown  no_tumor  no
    2 tumor_unknown  meningioma yes      4 no_tumor       no_tumor  no
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import UserFactory
from tumorapp.accounts.roles import Role
from tumorapp.quality import metrics
from tumorapp.quality.selectors import QualityFilters, quality_report
from tumorapp.quality.services import quality_refresh

CASES = [
    ("glioma", "glioma", True),
    ("tumor_unknown", "meningioma", True),
    ("tumor_unknown", "no_tumor", False),
    ("no_tumor", "no_tumor", False),
]


@pytest.fixture
def report(model_folder, make_reviewed):
    reader = UserFactory(username="r1", role=Role.RADIOLOGIST)
    for final, ai, suspected in CASES:
        make_reviewed(final=final, ai=ai, suspected=suspected, confidence=0.8, reader=reader)
    quality_refresh(full=True)
    return quality_report(filters=QualityFilters.default())


def test_type_unknown_counts_as_a_tumour_for_sensitivity(report):
    mvf = report["model_vs_final"]
    # tumours 1-3: the AI flags 1 and 2, misses 3; the one normal is not flagged
    assert mvf["tumour_counts"] == {"tp": 2, "fn": 1, "tn": 1, "fp": 0}
    assert mvf["sensitivity"]["value"] == pytest.approx(2 / 3)
    assert mvf["specificity"]["value"] == 1.0


def test_type_unknown_is_a_row_of_the_matrix_and_outside_the_4_class_figures(report):
    mvf = report["model_vs_final"]
    assert mvf["reviewed"] == 4 and mvf["type_unknown"] == 2
    assert mvf["classes"] == ["glioma", "meningioma", "pituitary", "no_tumor"]
    assert mvf["final_classes"][-1] == "tumor_unknown"
    assert mvf["confusion"][-1] == [0, 1, 0, 1]
    # accuracy over the two cases with a model class, both right
    assert (mvf["accuracy"]["successes"], mvf["accuracy"]["n"]) == (2, 2)
    assert [r["class"] for r in mvf["per_class_recall"]] == mvf["classes"]
    assert mvf["calibration"]["n"] == 2
    week = report["weekly"][-1]
    assert week["reviewed"] == 4 and week["accuracy"]["n"] == 2


def test_the_dashboard_and_the_command_show_the_row(report, client_for, carol):
    html = client_for(carol).get("/quality/").content.decode()
    assert "Tumour, type unknown" in html and "2 tumours of unknown type left out" in html
    out = StringIO()
    call_command("quality_report", stdout=out)
    assert "tumor_unknown" in out.getvalue()


def test_counts_stored_before_the_fifth_answer_still_merge():
    # given a day rolled up when the matrix had four rows
    old = metrics.empty_counts()
    del old["confusion"]["tumor_unknown"]
    metrics.add_reviewed(
        old,
        final_label="glioma",
        ai_label="glioma",
        tumor_suspected=True,
        confidence=0.9,
        prediction_to_final_s=None,
        band="1",
    )
    # and a day with a type-unknown tumour
    new = metrics.empty_counts()
    metrics.add_reviewed(
        new,
        final_label="tumor_unknown",
        ai_label="pituitary",
        tumor_suspected=True,
        confidence=0.9,
        prediction_to_final_s=None,
        band="1",
    )
    # when the range merges both, in either order
    for first, second in ((old, new), (new, old)):
        total = metrics.merge(metrics.merge(metrics.empty_counts(), first), second)
        figures = metrics.model_vs_final(total)
        assert figures["reviewed"] == 2 and figures["type_unknown"] == 1
        assert figures["sensitivity"]["value"] == 1.0 and figures["accuracy"]["n"] == 1
    # and the old document alone reads as a zero row
    assert metrics.model_vs_final(old)["confusion"][-1] == [0, 0, 0, 0]
