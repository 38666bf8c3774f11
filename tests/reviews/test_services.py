"""The review workflow's services: triage, claiming, reads, double reading, options."""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from reviews import services
from reviews.models import Case, Review, SiteOptions
from tests.factories import PredictionFactory
from tumorapp.audit.models import Action, AuditEvent


def set_options(**fields):
    options = SiteOptions.current()
    for name, value in fields.items():
        setattr(options, name, value)
    options.save()


def events(action):
    return AuditEvent.objects.filter(action=action).count()


# --- triage --------------------------------------------------------------------------------


def test_unusual_images_come_first_then_suspected_then_uncertain_then_routine(make_case):
    # given a routine, an unusual (OOD), a likely and a very likely tumour, and a split
    # decision with no tumour suspected (threshold 0.5)
    routine = make_case(p_tumor=0.05, label="no_tumor")
    unusual = make_case(p_tumor=0.95, label="glioma", ood=True)
    likely = make_case(p_tumor=0.75, label="meningioma")
    very_likely = make_case(p_tumor=0.97, label="glioma")
    split = make_case(
        p_tumor=0.45,
        label="no_tumor",
        threshold=0.5,
        probabilities={"glioma": 0.4, "meningioma": 0.05, "pituitary": 0.0, "no_tumor": 0.55},
    )
    # when ordered by the stored priority
    order = list(Case.objects.order_by("priority", "opened_at"))
    # then the unusual image (is it a brain MRI?), suspected by P(tumour), uncertain, routine
    assert order == [unusual, very_likely, likely, split, routine]
    assert [c.band for c in order] == [
        Case.Band.UNUSUAL,
        Case.Band.SUSPECTED,
        Case.Band.SUSPECTED,
        Case.Band.UNCERTAIN,
        Case.Band.ROUTINE,
    ]


def test_a_split_decision_on_a_flagged_scan_is_a_suspected_tumour(make_case):
    # given a flagged prediction whose top class holds barely half the probability
    case = make_case(
        p_tumor=0.55,
        label="glioma",
        probabilities={"glioma": 0.5, "meningioma": 0.05, "pituitary": 0.0, "no_tumor": 0.45},
    )
    # then it is ranked by the answer the case screen shows: a suspected glioma
    assert (case.band, case.ai_label) == (Case.Band.SUSPECTED, "glioma")


def test_same_priority_older_first_and_escalation_moves_old_cases_up(make_case):
    # given two routine cases of equal priority and one suspected tumour
    old = make_case(p_tumor=0.1, label="no_tumor")
    new = make_case(p_tumor=0.1, label="no_tumor")
    suspected = make_case(p_tumor=0.9, label="glioma")
    Case.objects.filter(pk=old.pk).update(opened_at=timezone.now() - timedelta(hours=5))
    routine = Case.objects.filter(priority__gte=Case.Band.ROUTINE * 1000)
    assert list(routine.order_by("priority", "opened_at")) == [old, new]
    # when escalation runs with a 4-hour limit
    set_options(escalate_after_minutes=240)
    escalated = services.cases_escalate()
    # then only the old case moved, and it now comes before the suspected tumour
    assert escalated == 1
    order = list(Case.objects.order_by("priority", "opened_at"))
    assert order[0] == old and order[0].band == Case.Band.ESCALATED
    assert order[1] == suspected


def test_a_new_prediction_reranks_a_waiting_case(make_case):
    # given a waiting case
    case = make_case(p_tumor=0.1, label="no_tumor")
    # when a newer model predicts a tumour on the same scan
    newer = PredictionFactory(
        run__scan=case.scan, run__model_version="m2", p_tumor=0.95, label="glioma"
    )
    reranked = services.case_open_for_prediction(prediction=newer)
    # then the same case now carries the new answer and priority
    assert reranked.pk == case.pk
    assert reranked.ai_label == "glioma" and reranked.band == Case.Band.SUSPECTED
    assert Case.objects.count() == 1


# --- claiming ------------------------------------------------------------------------------


def test_next_case_is_the_most_urgent_and_is_leased(make_case, alice):
    make_case(p_tumor=0.1, label="no_tumor")
    urgent = make_case(p_tumor=0.95, label="glioma")
    # when alice asks for the next case
    case = services.case_claim_next(reader=alice)
    # then she holds the most urgent one under a lease, and the claim is audited once
    assert case == urgent
    case.refresh_from_db()
    assert case.claimed_by == alice
    assert case.lease_expires_at > timezone.now()
    assert events(Action.CASE_CLAIMED) == 1


def test_asking_again_returns_the_case_already_held(make_case, alice):
    make_case(p_tumor=0.95)
    make_case(p_tumor=0.9)
    first = services.case_claim_next(reader=alice)
    assert services.case_claim_next(reader=alice) == first


def test_two_readers_get_different_cases_and_an_expired_lease_returns_the_case(
    make_case, radiologists
):
    a, b, c = radiologists
    only = make_case(p_tumor=0.95)
    assert services.case_claim_next(reader=a) == only
    # a second reader finds nothing free
    assert services.case_claim_next(reader=b) is None
    # when a's lease runs out, the case goes back to the queue
    Case.objects.filter(pk=only.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.case_claim_next(reader=b) == only
    # and a can no longer submit on it
    with pytest.raises(PermissionDenied):
        services.review_submit(case=only, reader=a, label="glioma")


def test_release_returns_the_case(make_case, radiologists):
    a, b, _ = radiologists
    case = make_case(p_tumor=0.95)
    services.case_claim_next(reader=a)
    services.case_release(case=case, reader=a)
    assert services.case_claim_next(reader=b) == case
    with pytest.raises(PermissionDenied):
        services.case_release(case=case, reader=a)


def test_a_reader_never_gets_the_second_read_of_their_own_first_read(make_case, radiologists):
    a, b, _ = radiologists
    set_options(double_read_rate=1.0)
    case = make_case(p_tumor=0.95)
    services.case_claim_next(reader=a)
    services.review_submit(case=case, reader=a, label="glioma")
    case.refresh_from_db()
    assert case.status == Case.Status.SECOND_READ
    # when the first reader asks again, they get nothing; another reader gets the case
    assert services.case_claim_next(reader=a) is None
    assert services.case_claim_next(reader=b) == case


# --- reads ---------------------------------------------------------------------------------


def test_single_read_accepting_the_ai_reports_the_case(make_case, alice):
    set_options(double_read_rate=0.0)
    case = make_case(p_tumor=0.95, label="glioma")
    services.case_claim_next(reader=alice)
    review = services.review_submit(case=case, reader=alice, label="glioma", note=" fine ")
    case.refresh_from_db()
    assert review.kind == Review.Kind.FIRST and review.note == "fine"
    assert case.status == Case.Status.DONE
    assert case.final_label == "glioma" and case.resolution == Case.Resolution.SINGLE
    assert case.claimed_by is None and case.decided_at is not None
    assert events(Action.REVIEW_SUBMITTED) == 1


def test_correcting_needs_a_reason(make_case, alice):
    set_options(double_read_rate=0.0)
    case = make_case(p_tumor=0.7, label="glioma")
    services.case_claim_next(reader=alice)
    with pytest.raises(ValidationError):
        services.review_submit(case=case, reader=alice, label="meningioma")
    review = services.review_submit(
        case=case, reader=alice, label="meningioma", reason=Review.Reason.AMBIGUOUS
    )
    assert review.label == "meningioma" and not review.agrees_with_ai
    case.refresh_from_db()
    # a 0.7 AI is not confident, so the correction alone needs no second read
    assert case.status == Case.Status.DONE and case.final_label == "meningioma"


def test_disagreeing_with_a_confident_ai_forces_a_second_read(make_case, alice):
    set_options(double_read_rate=0.0)
    case = make_case(p_tumor=0.95, label="glioma")
    services.case_claim_next(reader=alice)
    services.review_submit(case=case, reader=alice, label="no_tumor", reason="motion")
    case.refresh_from_db()
    assert case.status == Case.Status.SECOND_READ and case.final_label == ""


def test_agreeing_second_read_reports_and_disagreement_goes_to_adjudication(
    make_case, radiologists
):
    a, b, c = radiologists
    set_options(double_read_rate=1.0)
    agreed = make_case(p_tumor=0.97, label="glioma")
    disputed = make_case(p_tumor=0.96, label="glioma")
    # first reads on both by a
    for case in (agreed, disputed):
        services.case_claim_next(reader=a)
        services.review_submit(case=case, reader=a, label="glioma")
    # b agrees on one, disagrees on the other
    assert services.case_claim_next(reader=b) == agreed
    services.review_submit(case=agreed, reader=b, label="glioma")
    assert services.case_claim_next(reader=b) == disputed
    services.review_submit(case=disputed, reader=b, label="pituitary", reason="other")
    agreed.refresh_from_db()
    disputed.refresh_from_db()
    assert agreed.status == Case.Status.DONE and agreed.resolution == Case.Resolution.AGREED
    assert disputed.status == Case.Status.ADJUDICATION
    # neither reader may adjudicate; the third one does
    assert services.case_claim_next(reader=a) is None
    assert services.case_claim_next(reader=b) is None
    assert services.case_claim_next(reader=c) == disputed
    services.review_submit(case=disputed, reader=c, label="pituitary", reason="other")
    disputed.refresh_from_db()
    assert disputed.final_label == "pituitary"
    assert disputed.resolution == Case.Resolution.ADJUDICATED
    assert events(Action.SECOND_READ_SUBMITTED) == 2 and events(Action.ADJUDICATED) == 1
    assert Review.objects.filter(case=disputed).count() == 3


def test_double_read_sample_is_deterministic_and_close_to_the_rate(db):
    cases = [Case(public_id=uuid.uuid4()) for _ in range(2000)]
    picked = [services.double_read_selected(case=c, rate=0.2) for c in cases]
    again = [services.double_read_selected(case=c, rate=0.2) for c in cases]
    assert picked == again
    assert 0.16 < sum(picked) / len(picked) < 0.24
    assert not any(services.double_read_selected(case=c, rate=0.0) for c in cases)


def test_blind_first_read_stores_the_initial_and_the_final_answer(make_case, alice):
    set_options(blind_first_read=True, double_read_rate=0.0)
    case = make_case(p_tumor=0.8, label="glioma")
    services.case_claim_next(reader=alice)
    case.refresh_from_db()
    assert services.ai_is_hidden(case=case, options=SiteOptions.current())
    # the final read is refused until the initial class is recorded
    with pytest.raises(ValidationError):
        services.review_submit(case=case, reader=alice, label="glioma")
    services.case_record_blind_label(case=case, reader=alice, label="meningioma")
    case.refresh_from_db()
    assert not services.ai_is_hidden(case=case, options=SiteOptions.current())
    review = services.review_submit(case=case, reader=alice, label="glioma")
    assert review.initial_label == "meningioma" and review.label == "glioma"


def test_site_options_update_is_validated_and_audited(carol):
    options = services.site_options_update(
        actor=carol,
        double_read_rate=0.25,
        blind_first_read=True,
        lease_minutes=10,
        escalate_after_minutes=60,
    )
    assert options.double_read_rate == 0.25 and SiteOptions.objects.count() == 1
    event = AuditEvent.objects.get(action=Action.SITE_OPTIONS_CHANGED)
    assert event.details["after"]["lease_minutes"] == 10
    assert event.details["before"]["lease_minutes"] == 15
    with pytest.raises(ValidationError):
        services.site_options_update(
            actor=carol,
            double_read_rate=1.5,
            blind_first_read=False,
            lease_minutes=10,
            escalate_after_minutes=60,
        )


def test_the_escalation_task_is_scheduled_and_escalates(make_case, settings):
    from reviews.tasks import escalate_cases

    old = make_case(p_tumor=0.1, label="no_tumor")
    Case.objects.filter(pk=old.pk).update(opened_at=timezone.now() - timedelta(days=1))
    assert settings.CELERY_BEAT_SCHEDULE["reviews-escalate"]["task"] == escalate_cases.name
    assert escalate_cases.delay().get() == 1
    old.refresh_from_db()
    assert old.band == Case.Band.ESCALATED
