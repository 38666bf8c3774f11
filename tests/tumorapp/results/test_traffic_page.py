"""The DICOM traffic page: who sees it, what it shows, and its retry button."""

import pytest

from tests.tumorapp.results.cases import linked_study_case
from tumorapp.core.jobs import JobStatus
from tumorapp.pacs.models import DicomAssociation, ReceivedInstance
from tumorapp.results.models import ResultSend

pytestmark = pytest.mark.django_db

URL = "/dicom/traffic/"


def _send(case, status=JobStatus.FAILED, number=1, **fields) -> ResultSend:
    return ResultSend.objects.create(
        case=case,
        kind=ResultSend.Kind.REPORT,
        sop_instance_uid=f"2.25.{case.pk}{number}",
        series_instance_uid="2.25.9",
        instance_number=number,
        ai_class="Glioma",
        p_tumour=0.9,
        final_class="Glioma",
        model_version="v5",
        status=status,
        **fields,
    )


@pytest.mark.parametrize("role", ["technologist", "admin"])
def test_technologists_and_admins_see_traffic_both_ways(role, users, client_for):
    case, _ = linked_study_case()
    _send(case, error="ORTHANC@127.0.0.1:4242 could not be reached (Connection refused)")
    association = DicomAssociation.objects.create(
        calling_ae_title="UNKNOWN",
        peer_address="10.0.0.9",
        status=DicomAssociation.Status.REJECTED,
        reason="Calling AE title UNKNOWN is not allowed.",
    )
    ReceivedInstance.objects.create(
        association=association,
        status=ReceivedInstance.Status.REFUSED,
        reason_code="sop_class_not_accepted",
        reason="CT Image Storage is not accepted: MR images only.",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    )

    response = client_for(users[role]).get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "could not be reached" in page
    assert ">Retry</button>" in page
    assert "MR images only" in page
    assert "Calling AE title UNKNOWN is not allowed." in page
    assert response.context["summary"]["failed"] == 1
    assert response.context["summary"]["refused"] == 1
    assert response.context["summary"]["rejected"] == 1
    # Nothing of the clinical link reaches this page.
    assert "Doe^Jane" not in page and "ACC-4711" not in page and "MRN-" not in page


@pytest.mark.parametrize("role", ["radiologist", "data_team", "none"])
def test_others_may_neither_see_nor_retry(role, users, client_for):
    case, _ = linked_study_case()
    send = _send(case)
    client = client_for(users[role])

    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}results/{send.public_id}/retry/").status_code == 403
    send.refresh_from_db()
    assert send.status == JobStatus.FAILED


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_send_that_has_not_failed_cannot_be_retried(carol, client_for):
    case, _ = linked_study_case()
    send = _send(case, status=JobStatus.SUCCEEDED)

    response = client_for(carol).post(f"{URL}results/{send.public_id}/retry/", follow=True)

    assert "Only a failed send can be retried." in response.content.decode()
    send.refresh_from_db()
    assert send.status == JobStatus.SUCCEEDED


def test_a_retry_needs_post(carol, client_for):
    case, _ = linked_study_case()
    send = _send(case)
    assert client_for(carol).get(f"{URL}results/{send.public_id}/retry/").status_code == 405
