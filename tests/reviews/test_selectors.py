"""Cohen's kappa against a hand computation, and the agreement report built from reads."""

import pytest

from reviews import services
from reviews.models import SiteOptions
from reviews.selectors import agreement_report, cohen_kappa


def test_kappa_matches_the_hand_computation():
    # given two readers over eight cases, agreeing on six
    a = [
        "glioma",
        "glioma",
        "meningioma",
        "no_tumor",
        "no_tumor",
        "pituitary",
        "glioma",
        "no_tumor",
    ]
    b = [
        "glioma",
        "meningioma",
        "meningioma",
        "no_tumor",
        "glioma",
        "pituitary",
        "glioma",
        "no_tumor",
    ]
    # by hand: p_o = 6/8; A has g3 m1 n3 p1, B has g3 m2 n2 p1, so
    # p_e = (3*3 + 1*2 + 3*2 + 1*1) / 64 = 18/64; kappa = (48/64 - 18/64) / (46/64) = 15/23
    assert cohen_kappa(list(zip(a, b, strict=True))) == pytest.approx(15 / 23)


def test_kappa_edges():
    assert cohen_kappa([]) is None
    # both readers always say the same single class: chance agreement is total, kappa undefined
    assert cohen_kappa([("glioma", "glioma")] * 3) is None
    # perfect agreement over two classes is 1; systematic disagreement is below 0
    assert cohen_kappa([("glioma", "glioma"), ("no_tumor", "no_tumor")]) == 1.0
    assert cohen_kappa([("glioma", "no_tumor"), ("no_tumor", "glioma")]) == -1.0


def test_agreement_report_counts_double_reads_and_ai_agreement(make_case, radiologists):
    a, b, _ = radiologists
    options = SiteOptions.current()
    options.double_read_rate = 1.0
    options.save()
    agreed = make_case(p_tumor=0.95, label="glioma")
    disputed = make_case(p_tumor=0.7, label="no_tumor")
    for case, first, second in ((agreed, "glioma", "glioma"), (disputed, "pituitary", "no_tumor")):
        services.case_claim_next(reader=a)
        services.review_submit(case=case, reader=a, label=first, reason="other")
        services.case_claim_next(reader=b)
        services.review_submit(case=case, reader=b, label=second, reason="other")
    report = agreement_report()
    assert report.double_reads == 2
    assert report.inter_reader_agreement == 0.5
    assert report.inter_reader_kappa == pytest.approx(
        cohen_kappa([("glioma", "glioma"), ("pituitary", "no_tumor")])
    )
    # first reads vs the AI: one of two agree, and the AI was shown both times
    assert report.reads == 2 and report.reader_ai_agreement == 0.5
    assert report.shown_reads == 2 and report.blind_reads == 0
