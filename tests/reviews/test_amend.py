"""Amending a reported case: the reads stay, the final class changes once per amendment,
the audit log says who changed what, and the next dataset export shows the image relabelled."""

import io
import json
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from reviews import services
from reviews.models import Case, Review
from tests.tumorapp.datasets.conftest import media_dir  # noqa: F401 - shared fixture
from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tests.tumorapp.scans import images
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.datasets.services import export_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def reported(make_case, alice):
    single_reads_only()
    return read(make_case(p_tumor=0.9, label="glioma"), alice, "glioma")


def test_an_amendment_changes_the_final_class_and_keeps_the_reads(reported, radiologists):
    amender = radiologists[0]
    decided = reported.decided_at
    # when another radiologist amends the report after a pathology result
    review = services.case_amend(
        case=reported, reader=amender, label="meningioma", reason="pathology", note=" WHO grade 1 "
    )
    # then the case says the new class, amended, still dated by its report; the read is kept
    reported.refresh_from_db()
    assert (reported.final_label, reported.resolution) == ("meningioma", "amended")
    assert reported.status == Case.Status.DONE and reported.decided_at == decided
    kinds = list(reported.reviews.order_by("pk").values_list("kind", "label"))
    assert kinds == [("first", "glioma"), ("amendment", "meningioma")]
    assert review.note == "WHO grade 1"
    # and one audit event names the change
    event = AuditEvent.objects.get(action=Action.CASE_AMENDED)
    assert event.actor == amender and event.details["before"] == "glioma"
    assert event.details["label"] == "meningioma" and event.details["reason"] == "pathology"
    # and it can be amended again (back, say, after a review board)
    services.case_amend(
        case=reported, reader=amender, label="glioma", reason="other", note="board review"
    )
    reported.refresh_from_db()
    assert reported.final_label == "glioma"
    assert reported.reviews.filter(kind=Review.Kind.AMENDMENT).count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label": "glioma"}, "label"),  # what the report already says
        ({"label": "tumour"}, "label"),
        ({"reason": ""}, "reason"),
        ({"note": "   "}, "note"),
    ],
)
def test_an_amendment_that_says_nothing_new_or_why_is_refused(reported, alice, change, field):
    fields = {"label": "pituitary", "reason": "pathology", "note": "biopsy", **change}
    with pytest.raises(ValidationError) as refused:
        services.case_amend(case=reported, reader=alice, **fields)
    assert field in refused.value.message_dict
    reported.refresh_from_db()
    assert reported.final_label == "glioma" and reported.reviews.count() == 1
    assert not AuditEvent.objects.filter(action=Action.CASE_AMENDED).exists()


def test_an_open_case_cannot_be_amended(make_case, alice):
    case = make_case()
    with pytest.raises(ValidationError):
        services.case_amend(case=case, reader=alice, label="glioma", reason="other", note="x")
    assert not case.reviews.exists()


def test_the_case_page_amends_and_other_roles_cannot(reported, alice, bob, client_for, api_for):
    url = f"/worklist/cases/{reported.public_id}/"
    page = client_for(alice).get(url).content.decode()
    assert 'id="amend-form"' in page
    form = {"step": "amend", "label": "pituitary", "reason": "prior_imaging", "note": "prior MRI"}
    assert client_for(bob).post(url, form).status_code == 403
    response = client_for(alice).post(url, form)
    assert response.status_code == 302
    reported.refresh_from_db()
    assert reported.final_label == "pituitary"
    # the API refuses a technologist and takes a radiologist's amendment
    api_url = f"/api/v1/reviews/cases/{reported.public_id}/amend/"
    body = {"label": "no_tumor", "reason": "other", "note": "re-read"}
    assert api_for(bob).post(api_url, body).status_code == 403
    answer = api_for(alice).post(api_url, body)
    assert answer.status_code == 201 and answer.json()["kind"] == "amendment"
    assert api_for(alice).post(api_url, {**body, "note": ""}).status_code == 400


@pytest.mark.usefixtures("media_dir")
def test_the_next_export_shows_the_amended_image_relabelled(
    bob, alice, dave, django_capture_on_commit_callbacks
):
    single_reads_only()
    capture = django_capture_on_commit_callbacks
    case = read(upload(bob, "a.png", images.png_bytes(96, 96, seed=5), capture), alice, "glioma")
    with capture(execute=True):
        first = export_create(actor=dave)
    services.case_amend(case=case, reader=alice, label="meningioma", reason="pathology", note="x")
    with capture(execute=True):
        second = export_create(actor=dave)
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.parent == first
    assert second.changes == {"added": 0, "removed": 0, "relabelled": 1}
    with default_storage.open(second.file.name, "rb") as fh:
        zf = zipfile.ZipFile(io.BytesIO(fh.read()))
    [row] = [json.loads(line) for line in zf.read("manifest.jsonl").decode().splitlines()]
    assert row["final_label"] == "meningioma" and row["resolution"] == "amended"
    assert [r["role"] for r in row["readers"]] == ["first", "amendment"]


def test_the_amendment_form_is_kept_across_an_idle_sign_out(reported, radiologists, client_for):
    # the same page machinery as a read (static/js/session.js): the form carries the marker
    page = client_for(radiologists[0]).get(f"/worklist/cases/{reported.public_id}/")
    assert '<form method="post" id="amend-form" data-keep-on-expiry>' in page.content.decode()
