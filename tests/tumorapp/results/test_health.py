"""/health/ says whether the results destination answers C-ECHO, without failing for it."""

import pytest


@pytest.fixture
def destination_is(settings):
    def point_at(orthanc):
        settings.RESULTS_PACS_HOST = "127.0.0.1"
        settings.RESULTS_PACS_PORT = orthanc.dicom_port
        settings.RESULTS_PACS_AE_TITLE = orthanc.aet

    return point_at


@pytest.mark.django_db
def test_health_reports_the_destination_answering_c_echo(client, orthanc, destination_is):
    destination_is(orthanc)

    body = client.get("/health/").json()

    assert body["dicom"]["destination"].startswith(f"ok (ORTHANC@127.0.0.1:{orthanc.dicom_port}")


@pytest.mark.django_db
def test_a_stopped_pacs_is_named_but_the_platform_stays_healthy(client, orthanc, destination_is):
    destination_is(orthanc)
    orthanc.stop()

    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    line = response.json()["dicom"]["destination"]
    assert line.startswith("error:") and "could not be reached" in line
