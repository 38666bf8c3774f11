"""The reader answer "unreadable / not a brain MRI": about the image, never a tumour answer."""

import pytest
from django.urls import reverse

from reviews import labels
from reviews.models import Case, ReadLabel, SiteOptions
from reviews.services import case_claim_next, review_submit


@pytest.fixture
def single_reads(db):
    options = SiteOptions.current()
    options.double_read_rate = 0.0
    options.save()


def test_it_is_a_reader_answer_but_not_a_tumour_answer():
    assert ReadLabel.UNREADABLE == labels.UNREADABLE == "unreadable"
    assert labels.UNREADABLE not in labels.READ_LABELS
    assert not labels.is_tumour(labels.UNREADABLE)
    # it agrees only with itself: never with a tumour or with no tumour
    assert labels.agreed_label("unreadable", "unreadable") == "unreadable"
    assert labels.agreed_label("unreadable", "no_tumor") is None
    assert labels.agreed_label("unreadable", "tumor_unknown") is None


@pytest.mark.django_db
def test_a_reader_reports_an_image_unreadable(make_case, alice, single_reads):
    make_case(p_tumor=0.4, label="glioma", ood=True)
    case = case_claim_next(reader=alice)
    review_submit(case=case, reader=alice, label="unreadable", reason="artefact_misread")
    case.refresh_from_db()
    assert (case.status, case.final_label) == (Case.Status.DONE, "unreadable")


@pytest.mark.django_db
def test_the_review_screen_offers_it_on_key_6(make_case, alice, client_for, single_reads):
    make_case(p_tumor=0.4, label="glioma")
    case = case_claim_next(reader=alice)
    page = client_for(alice).get(reverse("reviews:case", args=[case.public_id])).content.decode()
    assert 'value="unreadable" data-key="6"' in page
    assert "Unreadable / not a brain MRI" in page
