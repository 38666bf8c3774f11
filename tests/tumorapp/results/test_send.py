"""A reported case sends its SR into the patient's study in a real Orthanc; an amendment
sends a new SR that supersedes it. Tasks run eagerly here; tests/tumorapp/results/
test_outage.py runs a real worker against a PACS that is down."""

import io

import pydicom
import pytest

from reviews.models import ReadLabel, Review, SiteOptions
from reviews.services import case_amend, case_open_for_prediction
from tests.factories import PredictionFactory
from tests.tumorapp.results.cases import linked_study_case, read
from tests.tumorapp.results.conftest import instances_of_study
from tumorapp.audit.models import AuditEvent
from tumorapp.core.jobs import JobStatus
from tumorapp.results import sr
from tumorapp.results.models import ResultSend

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def single_reads(db):
    SiteOptions.objects.update_or_create(pk=1, defaults={"double_read_rate": 0.0})


@pytest.fixture
def pacs(settings, orthanc):
    settings.RESULTS_PACS_HOST = "127.0.0.1"
    settings.RESULTS_PACS_PORT = orthanc.dicom_port
    settings.RESULTS_PACS_AE_TITLE = orthanc.aet
    return orthanc


def sr_in_orthanc(orthanc, study_uid: str) -> list[pydicom.Dataset]:
    reports = []
    for instance in instances_of_study(orthanc, study_uid):
        data = orthanc.get(f"/instances/{instance['ID']}/file")
        reports.append(pydicom.dcmread(io.BytesIO(data)))
    return sorted(reports, key=lambda d: int(d.InstanceNumber))


def test_a_reported_case_puts_its_sr_in_the_patient_study(
    pacs, alice, django_capture_on_commit_callbacks
):
    case, original = linked_study_case()
    with django_capture_on_commit_callbacks(execute=True):
        read(case, alice, case.ai_label)

    send = ResultSend.objects.get(case=case)
    assert send.status == JobStatus.SUCCEEDED, send.error
    assert send.kind == ResultSend.Kind.REPORT
    assert send.destination == f"ORTHANC@127.0.0.1:{pacs.dicom_port}"
    (report,) = sr_in_orthanc(pacs, original.study_instance_uid)
    assert report.SOPInstanceUID == send.sop_instance_uid
    assert report.PatientID == original.patient_id
    assert report.AccessionNumber == original.accession_number
    # The key slice is the case's most suspicious one (P 0.91, the second slice).
    key_uid = original.sop_instance_uids[1]
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == original.study_instance_uid
    assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == (original.series_instance_uid)
    assert sr.content_value(report, "Source Image") == key_uid
    assert sr.content_value(report, "AI class") == "Glioma"
    assert sr.content_value(report, "Probability of tumour") == pytest.approx(0.91)
    assert sr.content_value(report, "Reader's final class") == "Glioma"
    assert sr.content_value(report, "Algorithm Version") == "test-model-1"
    assert "not a diagnosis" in sr.content_value(report, "Comment")


def test_an_amendment_adds_an_sr_that_supersedes_the_first(
    pacs, alice, django_capture_on_commit_callbacks
):
    case, original = linked_study_case()
    with django_capture_on_commit_callbacks(execute=True):
        read(case, alice, case.ai_label)
    with django_capture_on_commit_callbacks(execute=True):
        case_amend(
            case=case,
            reader=alice,
            label=ReadLabel.MENINGIOMA,
            reason=Review.Reason.PATHOLOGY,
            note="Histology: meningioma.",
        )

    first, amended = ResultSend.objects.filter(case=case).order_by("instance_number")
    assert amended.kind == ResultSend.Kind.AMENDMENT
    assert amended.supersedes == first
    assert amended.status == JobStatus.SUCCEEDED, amended.error
    reports = sr_in_orthanc(pacs, original.study_instance_uid)
    assert [r.SOPInstanceUID for r in reports] == [
        first.sop_instance_uid,
        amended.sop_instance_uid,
    ]
    assert reports[1].SeriesInstanceUID == reports[0].SeriesInstanceUID
    predecessor = reports[1].PredecessorDocumentsSequence[0]
    ref = predecessor.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == first.sop_instance_uid
    assert sr.content_value(reports[1], "Reader's final class") == "Meningioma"
    assert sr.content_value(reports[0], "Reader's final class") == "Glioma"


def test_nothing_is_queued_without_a_destination(alice, django_capture_on_commit_callbacks):
    case, _ = linked_study_case()
    with django_capture_on_commit_callbacks(execute=True):
        read(case, alice, case.ai_label)

    assert not ResultSend.objects.exists()


def test_an_uploaded_case_without_clinical_link_sends_nothing(pacs, alice):
    case = case_open_for_prediction(prediction=PredictionFactory(p_tumor=0.9))

    read(case, alice, case.ai_label)

    assert not ResultSend.objects.exists()


def test_a_read_that_waits_for_a_second_reader_sends_nothing_yet(pacs, alice):
    SiteOptions.objects.filter(pk=1).update(double_read_rate=1.0)
    case, _ = linked_study_case()

    read(case, alice, case.ai_label)

    assert not ResultSend.objects.exists()


def test_a_failed_send_is_retried_from_the_traffic_page_and_audited(
    pacs, alice, carol, client_for, django_capture_on_commit_callbacks
):
    case, original = linked_study_case()
    pacs.stop()
    with django_capture_on_commit_callbacks(execute=True):
        read(case, alice, case.ai_label)
    send = ResultSend.objects.get(case=case)
    assert send.status == JobStatus.FAILED
    assert "could not be reached" in send.error
    pacs.start()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(carol).post(f"/dicom/traffic/results/{send.public_id}/retry/")

    assert response.status_code == 302
    send.refresh_from_db()
    assert send.status == JobStatus.SUCCEEDED, send.error
    assert AuditEvent.objects.filter(action="result.send_retried", actor=carol).count() == 1
    assert len(sr_in_orthanc(pacs, original.study_instance_uid)) == 1
