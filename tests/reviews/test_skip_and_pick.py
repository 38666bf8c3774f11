"""Skip and pick: a skipped case goes behind the others for its reader; a picked case is claimed."""

import pytest
from django.core.exceptions import ValidationError

from reviews.models import Case, CaseSkip
from reviews.services import case_claim, case_claim_next, case_skip
from tumorapp.audit.models import Action, AuditEvent


@pytest.fixture
def three(make_case):
    """Three waiting cases, most urgent first."""
    return [make_case(p_tumor=p, label="glioma") for p in (0.97, 0.9, 0.8)]


def test_skip_hands_the_next_case_not_the_same_one(three, alice):
    first = case_claim_next(reader=alice)
    assert first == three[0]
    following = case_skip(case=first, reader=alice, reason="needs_prior")
    assert following == three[1]
    event = AuditEvent.objects.filter(action=Action.CASE_SKIPPED).get()
    assert (event.actor, event.details["reason"]) == (alice, "needs_prior")
    first.refresh_from_db()
    assert first.claimed_by is None


def test_a_skipped_case_comes_back_only_after_every_other(three, alice):
    handed = []
    case = case_claim_next(reader=alice)
    for _ in range(5):
        handed.append(case)
        case = case_skip(case=case, reader=alice, reason="later")
    # all three in triage order, then round again starting from the longest-skipped
    assert handed == [three[0], three[1], three[2], three[0], three[1]]


def test_a_skip_is_personal(three, alice, radiologists):
    skipped = case_claim_next(reader=alice)
    case_skip(case=skipped, reader=alice, reason="expertise")
    # another reader is handed the skipped case first: it is still the most urgent
    assert case_claim_next(reader=radiologists[0]) == three[0]


def test_a_skip_needs_a_reason(three, alice):
    case = case_claim_next(reader=alice)
    with pytest.raises(ValidationError):
        case_skip(case=case, reader=alice, reason="")
    assert not CaseSkip.objects.exists()


def test_picking_a_free_case_claims_it_and_releases_the_one_held(three, alice):
    held = case_claim_next(reader=alice)
    picked = case_claim(case=three[2], reader=alice)
    assert picked.claimed_by == alice
    held.refresh_from_db()
    assert held.claimed_by is None
    assert AuditEvent.objects.filter(action=Action.CASE_RELEASED, actor=alice).count() == 1
    claim = AuditEvent.objects.filter(action=Action.CASE_CLAIMED).latest("created_at")
    assert claim.details["picked"] is True


def test_a_case_someone_else_holds_cannot_be_picked(three, alice, radiologists):
    taken = case_claim_next(reader=radiologists[0])
    with pytest.raises(ValidationError, match="being read by"):
        case_claim(case=taken, reader=alice)


def test_opening_a_case_from_the_worklist_claims_it(three, alice, client_for):
    client = client_for(alice)
    response = client.post(f"/worklist/cases/{three[1].public_id}/claim/")
    assert response.status_code == 302
    three[1].refresh_from_db()
    assert three[1].claimed_by == alice
    page = client.get(response["Location"]).content.decode()
    assert 'id="review-form"' in page


def test_an_outsider_cannot_pick_a_case(three, users, client_for):
    for role in ("technologist", "admin", "data_team", "none"):
        response = client_for(users[role]).post(f"/worklist/cases/{three[0].public_id}/claim/")
        assert response.status_code in (403, 404)
    assert not Case.objects.filter(claimed_by__isnull=False).exists()


def test_skip_from_the_page_opens_the_next_case(three, alice, client_for):
    client = client_for(alice)
    first = case_claim_next(reader=alice)
    response = client.post("/worklist/next/", {"skip": first.public_id, "skip_reason": "later"})
    assert response["Location"] == f"/worklist/cases/{three[1].public_id}/"
