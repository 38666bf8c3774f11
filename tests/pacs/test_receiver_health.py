"""/health/ reports the receiver by the heartbeat it writes while it runs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tumorapp.pacs.models import ReceiverHeartbeat


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_running_receiver_is_reported_and_a_stopped_one_goes_stale(platform, client):
    assert client.get("/health/").json()["dicom"]["receiver"].startswith("not running")

    receiver = platform.start_receiver()
    line = client.get("/health/").json()["dicom"]["receiver"]
    assert line.startswith(f"ok (NEUROTRIAGE@127.0.0.1:{platform.receiver_port}"), line

    platform.terminate(receiver)
    ReceiverHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=45))
    response = client.get("/health/")
    assert response.status_code == 200  # informational: the web keeps serving
    assert response.json()["dicom"]["receiver"].startswith("error: NEUROTRIAGE@")
    assert "last seen 45 s ago" in response.json()["dicom"]["receiver"]
