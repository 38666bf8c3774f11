"""Blind first read: after the reveal the reader's own answer stands unless they change it."""

import pytest

from reviews.models import SiteOptions
from reviews.services import case_claim_next, case_record_blind_label, review_submit
from tumorapp.audit.models import Action, AuditEvent


@pytest.fixture
def blind_site(db):
    options = SiteOptions.current()
    options.blind_first_read = True
    options.double_read_rate = 0.0
    options.save()
    return options


@pytest.fixture
def revealed(blind_site, make_case, alice):
    """A glioma case that alice answered "no tumour" blind."""
    make_case(p_tumor=0.7, label="glioma")
    case = case_claim_next(reader=alice)
    return case_record_blind_label(case=case, reader=alice, label="no_tumor")


def test_keeping_the_blind_answer_needs_no_reason(revealed, alice):
    review = review_submit(case=revealed, reader=alice, label="no_tumor")
    assert (review.initial_label, review.label, review.reason) == ("no_tumor", "no_tumor", "")
    event = AuditEvent.objects.filter(action=Action.REVIEW_SUBMITTED).get()
    assert event.details["changed_after_reveal"] is False


def test_taking_the_ai_answer_is_recorded_as_a_change(revealed, alice):
    review = review_submit(case=revealed, reader=alice, label="glioma")
    assert (review.initial_label, review.label) == ("no_tumor", "glioma")
    event = AuditEvent.objects.filter(action=Action.REVIEW_SUBMITTED).get()
    assert event.details["changed_after_reveal"] is True


def test_the_revealed_form_holds_the_blind_answer(revealed, alice, client_for):
    html = client_for(alice).get(f"/worklist/cases/{revealed.public_id}/").content.decode()
    form = html.split('id="review-form"')[1].split("</form>")[0]
    assert 'value="no_tumor" data-key="4" checked' in form
    assert 'value="glioma" data-key="1" checked' not in form
    assert 'id="take-ai"' in form and 'id="accept"' not in form


def test_the_heat_map_stays_hidden_until_the_reveal(blind_site, make_case, alice, client_for):
    make_case(p_tumor=0.7, label="glioma")
    case = case_claim_next(reader=alice)
    client = client_for(alice)
    assert client.get(f"/worklist/cases/{case.public_id}/heatmap/").status_code == 404
    html = client.get(f"/worklist/cases/{case.public_id}/").content.decode()
    assert 'id="heatmap-toggle" aria-pressed="false" disabled' in html
