"""The review pages and API: what they show, what they write, how many queries they cost."""

import pytest
from django.urls import reverse

from reviews.models import Case, Review, SiteOptions
from tumorapp.audit.models import Action, AuditEvent


@pytest.fixture
def single_reads(db):
    options = SiteOptions.current()
    options.double_read_rate = 0.0
    options.save()


def test_worklist_lists_open_cases_in_triage_order_with_counts(make_case, alice, client_for):
    routine = make_case(p_tumor=0.05, label="no_tumor")
    urgent = make_case(p_tumor=0.95, label="glioma")
    page = client_for(alice).get(reverse("reviews:worklist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(str(urgent.public_id)) < html.index(str(routine.public_id))
    assert page.context["status_counts"][0] == ("first_read", "Awaiting read", 2)
    assert "data-opened-at" in html


def test_worklist_filters_by_predicted_class(make_case, alice, client_for):
    make_case(p_tumor=0.05, label="no_tumor")
    glioma = make_case(p_tumor=0.95, label="glioma")
    page = client_for(alice).get(reverse("reviews:worklist"), {"predicted": "glioma"})
    assert [c.pk for c in page.context["cases"]] == [glioma.pk]


def test_worklist_query_count_is_pinned(make_case, alice, client_for, django_assert_num_queries):
    for i in range(30):
        make_case(p_tumor=0.5 + i / 100, label="glioma")
    client = client_for(alice)
    # session, user, role, readers for the filter, counts, cases (one query for all rows),
    # the reader's own disagreements waiting for adjudication, and the session's save
    # (savepoint, update, release) that marks the user active
    with django_assert_num_queries(10):
        assert client.get(reverse("reviews:worklist")).status_code == 200


def test_next_case_api_query_count_is_pinned(make_case, alice, api_for, django_assert_num_queries):
    for i in range(10):
        make_case(p_tumor=0.5 + i / 100, label="glioma")
    SiteOptions.current()
    api = api_for(alice)
    # role, site options (once, for the lease and the blind-read check), savepoint, the
    # reader's held claim and own queue (one query), lock-and-pick (with scan and
    # prediction), claim update, audit (chain lock; one insert that reads the last hash),
    # release; down from 14 (no second site options read, no separate own-queue query, no
    # audit savepoint, no separate read of the last hash)
    with django_assert_num_queries(9):
        response = api.post(reverse("api-reviews-next"))
    assert response.status_code == 200


def test_next_case_page_claims_and_opens_the_review_screen(make_case, alice, client_for):
    case = make_case(p_tumor=0.95)
    response = client_for(alice).post(reverse("reviews:next"))
    assert response.status_code == 302
    assert response["Location"] == reverse("reviews:case", args=[case.public_id])


def test_next_case_with_nothing_waiting_goes_back_to_the_worklist(alice, client_for):
    response = client_for(alice).post(reverse("reviews:next"))
    assert response["Location"] == reverse("reviews:worklist")


def test_viewing_a_case_writes_exactly_one_audit_event(make_case, alice, client_for):
    case = make_case(p_tumor=0.95)
    client = client_for(alice)
    client.post(reverse("reviews:next"))
    before = AuditEvent.objects.count()
    page = client.get(reverse("reviews:case", args=[case.public_id]))
    assert page.status_code == 200
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.last().action == Action.PREDICTION_SHOWN
    assert 'id="review-form"' in page.content.decode()


def test_blind_read_hides_the_ai_until_the_initial_class(make_case, alice, client_for):
    options = SiteOptions.current()
    options.blind_first_read = True
    options.save()
    case = make_case(p_tumor=0.95, label="pituitary")
    client = client_for(alice)
    client.post(reverse("reviews:next"))
    url = reverse("reviews:case", args=[case.public_id])
    html = client.get(url).content.decode()
    assert AuditEvent.objects.last().action == Action.SCAN_VIEWED
    assert "P(tumour)" not in html and 'id="initial-form"' in html
    assert client.get(reverse("reviews:case_heatmap", args=[case.public_id])).status_code == 404
    client.post(url, {"step": "initial", "label": "glioma"})
    html = client.get(url).content.decode()
    assert AuditEvent.objects.last().action == Action.PREDICTION_SHOWN
    assert "P(tumour)" in html and 'id="review-form"' in html


def test_submitting_a_correction_records_it_and_moves_on(
    make_case, alice, client_for, single_reads
):
    first = make_case(p_tumor=0.95, label="glioma")
    second = make_case(p_tumor=0.9, label="glioma")
    client = client_for(alice)
    client.post(reverse("reviews:next"))
    response = client.post(
        reverse("reviews:case", args=[first.public_id]),
        {"label": "meningioma", "reason": "ambiguous", "note": "dural tail"},
    )
    assert response["Location"] == reverse("reviews:case", args=[second.public_id])
    review = Review.objects.get(case=first)
    assert (review.label, review.reason, review.note) == ("meningioma", "ambiguous", "dural tail")
    # a confident AI was contradicted, so the case waits for a second read
    first.refresh_from_db()
    assert first.status == Case.Status.SECOND_READ


def test_someone_else_cannot_submit_on_a_case_they_do_not_hold(
    make_case, alice, client_for, radiologists
):
    case = make_case(p_tumor=0.95)
    client = client_for(radiologists[0])
    client.post(reverse("reviews:next"))
    client.logout()
    other = client_for(alice)
    other.post(reverse("reviews:case", args=[case.public_id]), {"label": "glioma"})
    assert not Review.objects.exists()


def test_a_reported_case_shows_who_decided_what(make_case, alice, client_for, single_reads):
    case = make_case(p_tumor=0.95, label="glioma")
    client = client_for(alice)
    client.post(reverse("reviews:next"))
    client.post(reverse("reviews:case", args=[case.public_id]), {"label": "glioma"})
    html = client.get(reverse("reviews:case", args=[case.public_id])).content.decode()
    assert "First read" in html and str(alice) in html and "Single read" in html


def test_api_submit_and_release(make_case, alice, api_for, single_reads):
    held = make_case(p_tumor=0.95, label="glioma")
    api = api_for(alice)
    body = api.post(reverse("api-reviews-next")).json()
    assert body["case"]["id"] == str(held.public_id) and body["ai"]["label"] == "glioma"
    refused = api.post(
        reverse("api-reviews-submit", args=[held.public_id]), {"label": "pituitary"}, format="json"
    )
    assert refused.status_code == 400 and "reason" in refused.json()["error"]["message"]
    created = api.post(
        reverse("api-reviews-submit", args=[held.public_id]), {"label": "glioma"}, format="json"
    )
    assert created.status_code == 201 and created.json()["case_status"] == "done"
    # nothing left to release
    released = api.post(reverse("api-reviews-release", args=[held.public_id]))
    assert released.status_code == 404


def test_api_submit_sent_twice_is_applied_once(make_case, alice, api_for, single_reads):
    # given a read that was stored but whose answer the client never received
    held = make_case(p_tumor=0.95, label="glioma")
    api = api_for(alice)
    api.post(reverse("api-reviews-next"))
    url = reverse("api-reviews-submit", args=[held.public_id])
    first = api.post(url, {"label": "glioma"}, format="json")
    assert first.status_code == 201
    # when the client sends the same read again
    again = api.post(url, {"label": "glioma"}, format="json")
    # then it gets the stored read back, and nothing is applied twice
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Review.objects.filter(case=held).count() == 1
    assert AuditEvent.objects.filter(action=Action.REVIEW_SUBMITTED).count() == 1
    # and a different class for the same case is a conflict, not a second read
    other = api.post(url, {"label": "pituitary", "reason": "other"}, format="json")
    assert other.status_code == 409
    assert Review.objects.filter(case=held).count() == 1


def test_api_release_returns_the_case_to_the_queue(make_case, alice, api_for):
    case = make_case(p_tumor=0.95)
    api = api_for(alice)
    api.post(reverse("api-reviews-next"))
    assert api.post(reverse("api-reviews-release", args=[case.public_id])).status_code == 204
    case.refresh_from_db()
    assert case.claimed_by is None


def test_api_next_with_nothing_waiting_is_204(alice, api_for):
    assert api_for(alice).post(reverse("api-reviews-next")).status_code == 204


def test_case_image_is_served_only_through_the_checked_view(
    make_case, alice, bob, client_for, stored_files
):
    case = stored_files(make_case(p_tumor=0.95))
    url = reverse("reviews:case_image", args=[case.public_id])
    response = client_for(alice).get(url)
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content)[:4] == b"\x89PNG"
    assert client_for(bob).get(url).status_code == 403


def test_agreement_page_and_site_options_page(carol, client_for):
    client = client_for(carol)
    assert client.get(reverse("reviews:agreement")).status_code == 200
    response = client.post(
        reverse("reviews:site_options"),
        {
            "double_read_rate": "0.3",
            "blind_first_read": "on",
            "lease_minutes": "20",
            "escalate_after_minutes": "120",
            "consensus": "off",
        },
    )
    assert response.status_code == 302
    options = SiteOptions.current()
    assert options.blind_first_read and options.lease_minutes == 20
    assert options.consensus == SiteOptions.Consensus.OFF
    assert AuditEvent.objects.filter(action=Action.SITE_OPTIONS_CHANGED).count() == 1


def test_the_case_page_states_the_models_threshold_and_its_operating_point(
    alice, client_for, make_case, tmp_path
):
    from tests.tumorapp.registry.conftest import write_model_folder
    from tumorapp.registry.services import model_register

    # given a case predicted by a registered version (threshold 0.3, sensitivity 0.95)
    model_register(path=write_model_folder(tmp_path, "test-model-1"))
    suspected = make_case(p_tumor=0.31, label="no_tumor")
    page = client_for(alice).get(f"/worklist/cases/{suspected.public_id}/")
    text = page.content.decode()
    # then the page says why it is suspected, at which threshold, and what that costs
    assert "at or above" in text and '<span class="mono">0.300</span>' in text
    assert "sensitivity 0.95, specificity 0.60" in text and "Expect false alarms" in text
    # and a version the registry does not know gets no such line
    other = make_case(p_tumor=0.9, label="glioma", run__model_version="unknown-model")
    page = client_for(alice).get(f"/worklist/cases/{other.public_id}/")
    assert 'id="operating-point"' not in page.content.decode()


def test_the_case_page_names_a_site_threshold_as_the_sites_with_its_date(
    alice, carol, client_for, make_case, tmp_path
):
    from django.utils import timezone

    from tests.tumorapp.registry.conftest import write_model_folder
    from tumorapp.registry.models import SiteOperatingPoint
    from tumorapp.registry.services import model_register

    # given a version whose own threshold is 0.3 and a site threshold of 0.25 applied to it
    version = model_register(path=write_model_folder(tmp_path, "test-model-1"))
    point = SiteOperatingPoint.objects.create(
        model=version,
        threshold=0.25,
        target_sensitivity=0.97,
        n_cases=120,
        n_tumours=60,
        sensitivity=0.98,
        false_alarm_rate=0.4,
        applied_by=carol,
    )
    case = make_case(p_tumor=0.27, label="no_tumor")
    text = client_for(alice).get(f"/worklist/cases/{case.public_id}/").content.decode()
    # then the review screen gives the site's threshold, when it was set, and what it was fitted for
    line = text[text.index('id="operating-point"') :].split("</p>", 1)[0]
    assert '<span class="mono">0.250</span>' in line and "this model's threshold" not in line
    set_on = timezone.localdate(point.created_at)
    assert f"this site's threshold for the model, set on {set_on:%Y-%m-%d}" in line
    assert "tumour sensitivity of 0.97 on the site's reviewed cases" in line
    assert "validation images" not in line
