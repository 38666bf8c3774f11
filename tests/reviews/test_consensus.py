"""Disagreements at small sites: the two readers settle them together (consensus), or an
admin is told that an adjudication waits with nobody eligible."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from reviews import selectors
from reviews.models import Case, Review, SiteOptions
from reviews.services import (
    case_claim_next,
    case_consensus_confirm,
    case_consensus_propose,
    review_submit,
)
from tests.factories import UserFactory
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action, AuditEvent


@pytest.fixture
def pair(db):
    """A two-radiologist site: everything is double read."""
    options = SiteOptions.current()
    options.double_read_rate = 1.0
    options.save()
    return (
        UserFactory(username="rad1", role=Role.RADIOLOGIST),
        UserFactory(username="rad2", role=Role.RADIOLOGIST),
    )


def _disagree(make_case, first, second) -> Case:
    """A case read glioma by ``first`` and meningioma by ``second``: it waits for adjudication."""
    make_case(p_tumor=0.95, label="glioma")
    case = case_claim_next(reader=first)
    review_submit(case=case, reader=first, label="glioma")
    case = case_claim_next(reader=second)
    review_submit(case=case, reader=second, label="meningioma", reason="ambiguous")
    case.refresh_from_db()
    assert case.status == Case.Status.ADJUDICATION
    return case


def test_consensus_is_on_by_default_with_fewer_than_three_radiologists(pair):
    assert selectors.consensus_enabled()
    UserFactory(username="rad3", role=Role.RADIOLOGIST)
    assert not selectors.consensus_enabled()


def test_the_site_option_overrides_the_default(pair):
    options = SiteOptions.current()
    options.consensus = SiteOptions.Consensus.OFF
    options.save()
    assert not selectors.consensus_enabled()
    options.consensus = SiteOptions.Consensus.ON
    options.save()
    UserFactory(username="rad3", role=Role.RADIOLOGIST)
    assert selectors.consensus_enabled()


def test_one_reader_proposes_the_other_confirms_and_the_case_is_reported(pair, make_case):
    rad1, rad2 = pair
    case = _disagree(make_case, rad1, rad2)

    case_consensus_propose(case=case, reader=rad2, label="glioma", note="Dural tail absent")
    review = case_consensus_confirm(case=case, reader=rad1, label="glioma", note="Agreed")

    case.refresh_from_db()
    assert (case.status, case.final_label, case.resolution) == (
        Case.Status.DONE,
        "glioma",
        Case.Resolution.CONSENSUS,
    )
    assert (review.kind, review.reader, review.label) == (Review.Kind.CONSENSUS, rad1, "glioma")
    assert review.note == "Dural tail absent\nAgreed"
    proposed = AuditEvent.objects.get(action=Action.CONSENSUS_PROPOSED)
    assert (proposed.actor, proposed.details["label"]) == (rad2, "glioma")
    reached = AuditEvent.objects.get(action=Action.CONSENSUS_REACHED)
    assert reached.details["proposed_by"] == "rad2"
    assert reached.details["confirmed_by"] == "rad1"
    assert (reached.details["first_label"], reached.details["second_label"]) == (
        "glioma",
        "meningioma",
    )


def test_a_reader_cannot_confirm_their_own_proposal(pair, make_case):
    rad1, rad2 = pair
    case = _disagree(make_case, rad1, rad2)
    case_consensus_propose(case=case, reader=rad1, label="glioma")
    with pytest.raises(ValidationError):
        case_consensus_confirm(case=case, reader=rad1, label="glioma")
    case.refresh_from_db()
    assert case.status == Case.Status.ADJUDICATION


def test_a_changed_proposal_is_not_confirmed_unread(pair, make_case):
    rad1, rad2 = pair
    case = _disagree(make_case, rad1, rad2)
    case_consensus_propose(case=case, reader=rad1, label="glioma")
    case_consensus_propose(case=case, reader=rad1, label="tumor_unknown")
    with pytest.raises(ValidationError):
        case_consensus_confirm(case=case, reader=rad2, label="glioma")
    case_consensus_confirm(case=case, reader=rad2, label="tumor_unknown")
    case.refresh_from_db()
    assert case.final_label == "tumor_unknown"


def test_only_the_two_readers_settle_and_only_at_a_consensus_site(pair, make_case):
    rad1, rad2 = pair
    case = _disagree(make_case, rad1, rad2)
    outsider = UserFactory(username="rad3", role=Role.RADIOLOGIST)
    options = SiteOptions.current()
    options.consensus = SiteOptions.Consensus.ON
    options.save()
    with pytest.raises(PermissionDenied):
        case_consensus_propose(case=case, reader=outsider, label="glioma")
    options.consensus = SiteOptions.Consensus.OFF
    options.save()
    with pytest.raises(PermissionDenied):
        case_consensus_propose(case=case, reader=rad1, label="glioma")


def test_a_stalled_adjudication_is_audited_and_shown_to_admins(pair, make_case, client, carol):
    rad1, rad2 = pair
    options = SiteOptions.current()
    options.consensus = SiteOptions.Consensus.OFF
    options.save()
    case = _disagree(make_case, rad1, rad2)

    event = AuditEvent.objects.get(action=Action.ADJUDICATION_STALLED)
    assert (event.details["first_reader"], event.details["second_reader"]) == ("rad1", "rad2")
    assert selectors.stalled_adjudications() == [case]
    client.force_login(carol)
    page = client.get(reverse("reviews:site_options")).content.decode()
    assert "Adjudication waits with nobody eligible" in page

    # a third radiologist makes it adjudicable again: the banner goes
    UserFactory(username="rad3", role=Role.RADIOLOGIST)
    assert selectors.stalled_adjudications() == []


def test_no_stall_event_when_a_third_reader_or_consensus_can_settle_it(pair, make_case):
    _disagree(make_case, *pair)  # consensus (auto, two radiologists)
    assert not AuditEvent.objects.filter(action=Action.ADJUDICATION_STALLED).exists()
    assert selectors.stalled_adjudications() == []


@pytest.mark.parametrize(
    ("consensus", "expected"),
    [("auto", "for consensus with the other reader"), ("off", "no other radiologist is active")],
)
def test_readers_are_not_told_the_worklist_is_clear(pair, make_case, client, consensus, expected):
    rad1, rad2 = pair
    options = SiteOptions.current()
    options.consensus = consensus
    options.save()
    _disagree(make_case, rad1, rad2)
    client.force_login(rad1)
    response = client.post(reverse("reviews:next"), follow=True)
    page = response.content.decode()
    assert "The worklist is clear" not in page
    assert expected in page
    assert 'id="my-disagreements"' in page


def test_both_readers_see_both_reads_on_the_shared_screen(pair, make_case, client):
    rad1, rad2 = pair
    case = _disagree(make_case, rad1, rad2)
    client.force_login(rad1)
    page = client.get(reverse("reviews:case", args=[case.public_id])).content.decode()
    assert 'id="consensus"' in page
    assert "Glioma" in page and "Meningioma" in page
    assert page.count("read-list") == 1
    response = client.post(
        reverse("reviews:case", args=[case.public_id]),
        {"step": "propose", "label": "meningioma", "note": ""},
        follow=True,
    )
    assert "waits for the other reader" in response.content.decode()
    case.refresh_from_db()
    assert (case.consensus_label, case.consensus_proposer) == ("meningioma", rad1)
