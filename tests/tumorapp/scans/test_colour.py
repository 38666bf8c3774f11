"""Colour photographs are not scans: refused at upload with a reason, or, where an admin
allows colour images, held out of the worklist until a technologist confirms each."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from skimage import data as skdata

from reviews import selectors as review_selectors
from reviews.models import Case, SiteOptions
from reviews.services import case_claim_next
from tests.tumorapp.datasets.reviewed import upload
from tests.tumorapp.scans import images
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.scans.models import Scan
from tumorapp.scans.services import scan_upload

pytestmark = pytest.mark.django_db


def _encoded(pixels, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


PHOTOS = [
    ("coffee.jpg", lambda: _encoded(skdata.coffee(), "JPEG")),
    ("astronaut.png", lambda: _encoded(skdata.astronaut(), "PNG")),
]


def _allow_colour(allowed: bool = True) -> None:
    options = SiteOptions.current()
    options.allow_colour_images = allowed
    options.double_read_rate = 0.0
    options.save()


@pytest.mark.parametrize(("name", "photo"), PHOTOS)
def test_a_colour_photograph_is_refused_with_its_reason(bob, name, photo):
    outcome = scan_upload(uploaded_by=bob, filename=name, data=photo())
    assert outcome.status == outcome.REJECTED
    assert outcome.error.code == "colour_image"
    assert "colour image" in outcome.error.message and "not a scan" in outcome.error.message
    assert not Scan.objects.exists()


def test_a_grey_slice_saved_as_rgb_is_still_a_scan(bob):
    grey = Image.open(io.BytesIO(images.png_bytes(96, 96, seed=7))).convert("RGB")
    out = io.BytesIO()
    grey.save(out, format="PNG")
    outcome = scan_upload(uploaded_by=bob, filename="slice.png", data=out.getvalue())
    assert outcome.status == outcome.CREATED and not outcome.scan.colour_held


def test_the_upload_api_says_why(bob, api_for):
    photo = SimpleUploadedFile("coffee.jpg", PHOTOS[0][1](), content_type="image/jpeg")
    response = api_for(bob).post(reverse("api-scans"), {"files": [photo]})
    # a lone refused file answers 400 with the reason, as other refusals do
    assert response.status_code == 400
    assert "colour_image" in response.content.decode()
    assert "not a scan" in response.content.decode()


def test_allowed_colour_images_wait_for_a_technologist(
    bob, alice, client_for, django_capture_on_commit_callbacks
):
    # given a site that accepts colour images
    _allow_colour()
    case = upload(bob, "coffee.jpg", PHOTOS[0][1](), django_capture_on_commit_callbacks)
    assert case.scan.colour_held
    # then the model read it, but it is neither listed nor handed to a reader
    assert case not in review_selectors.worklist_for(filters=review_selectors.WorklistFilters())
    assert case_claim_next(reader=alice) is None

    # when a technologist confirms it on the scan page
    client = client_for(bob)
    page = client.get(reverse("scans:detail", args=[case.scan.public_id])).content.decode()
    assert 'id="colour-held"' in page
    client.post(reverse("scans:confirm_colour", args=[case.scan.public_id]))

    # then it joins the worklist, and the confirmation is audited
    case.scan.refresh_from_db()
    assert not case.scan.colour_held and case.scan.colour_confirmed_by == bob
    assert AuditEvent.objects.filter(action=Action.SCAN_COLOUR_CONFIRMED, actor=bob).count() == 1
    assert case_claim_next(reader=alice) == Case.objects.get(pk=case.pk)


def test_only_a_technologist_confirms(bob, alice, client_for, django_capture_on_commit_callbacks):
    _allow_colour()
    case = upload(bob, "coffee.jpg", PHOTOS[0][1](), django_capture_on_commit_callbacks)
    response = client_for(alice).post(reverse("scans:confirm_colour", args=[case.scan.public_id]))
    assert response.status_code in (403, 404)
    case.scan.refresh_from_db()
    assert case.scan.colour_held
