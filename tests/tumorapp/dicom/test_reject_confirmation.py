"""Reject and delete is confirmed on a page that shows the slice at full size and says what
goes; the POST is refused without the confirmation. Release needs none."""

import pytest

from tests.tumorapp.dicom import dicomfiles
from tests.tumorapp.dicom.test_flow import upload
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.scans.models import Scan


@pytest.mark.django_db
def test_reject_and_delete_needs_its_confirmation(
    bob, carol, api_for, client_for, media_dir, django_capture_on_commit_callbacks
):
    upload(api_for(bob), dicomfiles.multi_frame_bytes(2, burned_in="YES"))
    shown = Scan.objects.get(frame_number=1)
    admin = client_for(carol)
    url = f"/dicom/quarantine/{shown.public_id}/"
    # the quarantine page links to the confirmation instead of deleting at once
    listing = admin.get("/dicom/quarantine/").content.decode()
    assert f'href="{url}"' in listing and 'value="reject"' not in listing
    page = admin.get(url).content.decode()
    assert "Reject and delete this upload?" in page and "2 slices</strong>" in page
    assert f"/dicom/quarantine/{shown.public_id}/image/" in page
    # when the POST comes without it, nothing is deleted
    refused = admin.post(url, {"decision": "reject"})
    assert refused.status_code == 302 and refused["Location"] == url
    assert Scan.objects.filter(status=Scan.Status.QUARANTINED).count() == 2
    assert not AuditEvent.objects.filter(action=Action.SCAN_REJECTED).exists()
    # with it, both frames go
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(url, {"decision": "reject", "confirm": "yes"})
    assert not Scan.objects.exists()


@pytest.mark.django_db
def test_outsiders_get_no_confirmation_page(bob, api_for, client_for, media_dir):
    upload(api_for(bob), dicomfiles.identified_bytes(burned_in="YES"))
    scan = Scan.objects.get()
    assert client_for(bob).get(f"/dicom/quarantine/{scan.public_id}/").status_code == 403
