""" "Tumour, type unknown" as a reader's answer: first, blind, second and adjudication reads,
amendments, the API, the review screen, agreement figures, and the migration that allowed it."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from reviews import services
from reviews.labels import agreed_label
from reviews.models import Case, Review, SiteOptions
from reviews.selectors import agreement_report, cohen_kappa
from tumorapp.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db


def set_options(**fields):
    options = SiteOptions.current()
    for name, value in fields.items():
        setattr(options, name, value)
    options.save()


def claim_and_read(case, reader, label, reason=""):
    services.case_claim_next(reader=reader)
    return services.review_submit(case=case, reader=reader, label=label, reason=reason)


def test_agreement_between_two_answers():
    assert agreed_label("glioma", "glioma") == "glioma"
    assert agreed_label("tumor_unknown", "tumor_unknown") == "tumor_unknown"
    # a named type and an unknown one agree on the tumour, not on its type
    assert agreed_label("meningioma", "tumor_unknown") == "tumor_unknown"
    assert agreed_label("tumor_unknown", "pituitary") == "tumor_unknown"
    # no tumour against any tumour, or two types, disagree
    assert agreed_label("tumor_unknown", "no_tumor") is None
    assert agreed_label("no_tumor", "glioma") is None
    assert agreed_label("glioma", "meningioma") is None


def test_a_type_unknown_read_through_the_api(make_case, alice, api_for):
    set_options(double_read_rate=0.0)
    case = make_case(p_tumor=0.95, label="glioma")
    api = api_for(alice)
    body = api.post(reverse("api-reviews-next")).json()
    # the AI answers one of its four classes
    assert body["ai"]["label"] == "glioma"
    url = reverse("api-reviews-submit", args=[case.public_id])
    # it differs from the AI's class, so it needs a reason like any correction
    refused = api.post(url, {"label": "tumor_unknown"}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()["error"]["message"]
    created = api.post(url, {"label": "tumor_unknown", "reason": "ambiguous"}, format="json")
    assert created.status_code == 201
    data = created.json()
    assert (data["label"], data["ai_label"], data["final_label"]) == (
        "tumor_unknown",
        "glioma",
        "tumor_unknown",
    )
    # a tumour of unknown type does not contradict a confident AI that names a type
    assert data["case_status"] == "done"
    case.refresh_from_db()
    assert (case.final_label, case.ai_label, case.resolution) == (
        "tumor_unknown",
        "glioma",
        "single",
    )
    # and sending it again is the same read
    assert (
        api.post(url, {"label": "tumor_unknown", "reason": "ambiguous"}, format="json").status_code
        == 200
    )


def test_type_unknown_against_a_confident_no_tumour_gets_a_second_read(make_case, alice):
    set_options(double_read_rate=0.0)
    case = make_case(p_tumor=0.02, label="no_tumor")
    claim_and_read(case, alice, "tumor_unknown", reason="ambiguous")
    case.refresh_from_db()
    assert case.status == Case.Status.SECOND_READ


@pytest.mark.parametrize(
    ("first", "second", "status", "final"),
    [
        # a named type and "type unknown": agreed on the tumour, reported without a type
        ("glioma", "tumor_unknown", Case.Status.DONE, "tumor_unknown"),
        ("tumor_unknown", "pituitary", Case.Status.DONE, "tumor_unknown"),
        ("tumor_unknown", "tumor_unknown", Case.Status.DONE, "tumor_unknown"),
        # a tumour against no tumour goes to adjudication
        ("tumor_unknown", "no_tumor", Case.Status.ADJUDICATION, ""),
    ],
)
def test_double_reading_with_type_unknown(make_case, radiologists, first, second, status, final):
    a, b, _ = radiologists
    set_options(double_read_rate=1.0)
    case = make_case(p_tumor=0.7, label="glioma")
    claim_and_read(case, a, first, reason="ambiguous")
    claim_and_read(case, b, second, reason="ambiguous")
    case.refresh_from_db()
    assert (case.status, case.final_label) == (status, final)
    if status == Case.Status.DONE:
        assert case.resolution == Case.Resolution.AGREED
        assert AuditEvent.objects.filter(action=Action.SECOND_READ_SUBMITTED).count() == 1


def test_an_adjudicator_may_name_the_type_or_answer_type_unknown(make_case, radiologists):
    a, b, c = radiologists
    set_options(double_read_rate=1.0)
    named = make_case(p_tumor=0.7, label="glioma")
    unnamed = make_case(p_tumor=0.7, label="glioma")
    for case in (named, unnamed):
        claim_and_read(case, a, "tumor_unknown", reason="ambiguous")
        claim_and_read(case, b, "no_tumor", reason="other")
    claim_and_read(named, c, "glioma")
    claim_and_read(unnamed, c, "tumor_unknown", reason="ambiguous")
    named.refresh_from_db()
    unnamed.refresh_from_db()
    assert (named.final_label, named.resolution) == ("glioma", "adjudicated")
    assert (unnamed.final_label, unnamed.resolution) == ("tumor_unknown", "adjudicated")


def test_a_blind_first_read_may_answer_type_unknown(make_case, alice):
    set_options(double_read_rate=0.0, blind_first_read=True)
    case = make_case(p_tumor=0.95, label="meningioma")
    services.case_claim_next(reader=alice)
    services.case_record_blind_label(case=case, reader=alice, label="tumor_unknown")
    review = services.review_submit(case=case, reader=alice, label="meningioma")
    assert (review.initial_label, review.label, review.ai_label) == (
        "tumor_unknown",
        "meningioma",
        "meningioma",
    )


def test_an_amendment_names_the_type_of_a_type_unknown_report(
    make_case, alice, radiologists, api_for
):
    set_options(double_read_rate=0.0)
    case = make_case(p_tumor=0.95, label="glioma")
    claim_and_read(case, alice, "tumor_unknown", reason="ambiguous")
    # pathology names the type
    services.case_amend(
        case=case, reader=radiologists[0], label="meningioma", reason="pathology", note="WHO 1"
    )
    case.refresh_from_db()
    assert (case.final_label, case.resolution) == ("meningioma", "amended")
    # and the API can amend back to "type unknown"
    response = api_for(alice).post(
        reverse("api-reviews-amend", args=[case.public_id]),
        {"label": "tumor_unknown", "reason": "other", "note": "pathology withdrawn"},
        format="json",
    )
    assert response.status_code == 201 and response.json()["final_label"] == "tumor_unknown"
    assert Review.objects.filter(case=case, kind="amendment").count() == 2


def test_unknown_labels_are_still_refused(make_case, alice):
    case = make_case(p_tumor=0.95, label="glioma")
    services.case_claim_next(reader=alice)
    with pytest.raises(ValidationError):
        services.review_submit(case=case, reader=alice, label="tumour", reason="other")


def test_the_review_screen_offers_the_fifth_answer_on_key_5(make_case, alice, client_for):
    case = make_case(p_tumor=0.95, label="glioma")
    client = client_for(alice)
    client.post(reverse("reviews:next"))
    html = client.get(reverse("reviews:case", args=[case.public_id])).content.decode()
    assert 'value="tumor_unknown" data-key="5"' in html
    assert "<kbd>5</kbd> Tumour, type unknown" in html
    # the help overlay lists the key
    assert "<tr><td><kbd>5</kbd></td><td>Tumour, type unknown" in html
    # and the page form records it
    set_options(double_read_rate=0.0)
    client.post(
        reverse("reviews:case", args=[case.public_id]),
        {"label": "tumor_unknown", "reason": "ambiguous"},
    )
    case.refresh_from_db()
    assert case.final_label == "tumor_unknown"
    html = client.get(reverse("reviews:case", args=[case.public_id])).content.decode()
    assert "Final: <strong>Tumour, type unknown</strong>" in html


def test_agreement_counts_type_unknown_as_a_tumour_with_no_subtype(make_case, radiologists):
    a, b, _ = radiologists
    set_options(double_read_rate=1.0)
    pairs = [("glioma", "tumor_unknown"), ("no_tumor", "no_tumor"), ("tumor_unknown", "no_tumor")]
    for first, second in pairs:
        case = make_case(p_tumor=0.7, label="glioma")
        claim_and_read(case, a, first, reason="other")
        claim_and_read(case, b, second, reason="other")
    report = agreement_report()
    assert report.double_reads == 3
    # over the five answers, only the no-tumour pair agrees
    assert report.inter_reader_agreement == pytest.approx(1 / 3)
    assert report.inter_reader_kappa == pytest.approx(cohen_kappa(pairs))
    # over tumour or not, the first pair agrees too
    assert report.inter_reader_tumour_agreement == pytest.approx(2 / 3)
    assert report.inter_reader_tumour_kappa == pytest.approx(
        cohen_kappa([(True, True), (False, False), (True, False)])
    )
    # the first reads against the AI (glioma each time): tumour or not, two of three agree
    assert report.reader_ai_tumour_agreement == pytest.approx(2 / 3)


def test_kappa_over_five_answers_by_hand():
    # A: g g u u n n; B: g u u u n g. p_o = 4/6. A: g2 u2 n2, B: g2 u3 n1:
    # p_e = (2*2 + 2*3 + 2*1) / 36 = 12/36; kappa = (4/6 - 2/6) / (4/6) = 1/2
    a = ["glioma", "glioma", "tumor_unknown", "tumor_unknown", "no_tumor", "no_tumor"]
    b = ["glioma", "tumor_unknown", "tumor_unknown", "tumor_unknown", "no_tumor", "glioma"]
    assert cohen_kappa(list(zip(a, b, strict=True))) == pytest.approx(0.5)


def test_existing_reads_survive_the_migration(make_case, alice):
    # given a read recorded before "tumour, type unknown" existed
    set_options(double_read_rate=0.0)
    case = make_case(p_tumor=0.7, label="glioma")
    claim_and_read(case, alice, "meningioma", reason="motion")
    # Going back drops columns of reviews_case, which PostgreSQL refuses while the rows just
    # written have deferred foreign-key checks pending: run them now.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    executor.migrate([("reviews", "0005_case_assignment")])
    old_apps = executor.loader.project_state(("reviews", "0005_case_assignment")).apps
    old_case = old_apps.get_model("reviews", "Case").objects.get(pk=case.pk)
    assert old_case.final_label == "meningioma"
    # when the migration that allows the fifth answer is applied
    # (and every later one: the current models read columns added since)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    # then the case and its read are as they were, and a type-unknown answer can be stored
    case.refresh_from_db()
    review = Review.objects.get(case=case)
    assert (case.final_label, case.ai_label, review.label, review.reason) == (
        "meningioma",
        "glioma",
        "meningioma",
        "motion",
    )
    review.label = "tumor_unknown"
    review.full_clean()
