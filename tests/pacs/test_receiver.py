"""The DICOM receiver as a real process behind a real Orthanc: a scanner's study is routed
from the PACS, stored once, becomes one predicted case when it goes quiet; what the platform
does not read is refused with a reason while the receiver keeps serving; a receiver killed
mid-study loses nothing and stores nothing twice."""

import io
import signal
import zipfile

import pytest
from django.core.files.storage import default_storage

from reviews.models import Case
from tests.pacs import modality
from tests.pacs.processes import RECEIVER_AET, wait_for
from tests.tumorapp.datasets.reviewed import read, single_reads_only
from tumorapp.datasets.services import export_create
from tumorapp.inference.models import Prediction
from tumorapp.pacs.models import DicomAssociation, ReceivedInstance, ReceivedStudy
from tumorapp.scans.models import Scan

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _one_case_predicted(received_study: ReceivedStudy, slices: int, logs) -> Case:
    wait_for(
        lambda: (
            Scan.objects.filter(
                series__study=received_study.study, status=Scan.Status.PREDICTED
            ).count()
            == slices
        ),
        timeout=120,
        what=f"{slices} predicted slices",
        logs=logs,
    )
    [case] = Case.objects.filter(study=received_study.study)
    return case


def test_a_study_routed_from_orthanc_becomes_one_predicted_case(
    platform, orthanc_for, alice, dave, client_for, api_for
):
    # given the receiver and a worker running, and the PACS routing to the receiver
    platform.start_receiver()
    platform.start_worker()
    pacs = orthanc_for(platform_port=platform.receiver_port, platform_aet=RECEIVER_AET)
    study = modality.mr_study(seed=3)
    # when a scanner sends a 20-slice, 2-series MR study to the PACS
    assert modality.send(study.instances, port=pacs.dicom_port, called_aet=pacs.aet).all_ok
    # then the PACS forwards every instance successfully
    jobs = pacs.wait_jobs_done(20)
    assert {job["State"] for job in jobs} == {"Success"}, (
        pacs.job_errors() + pacs.logs() + platform.logs()
    )
    # and each is stored once, in one received study with two series
    stored = ReceivedInstance.objects.filter(status=ReceivedInstance.Status.STORED)
    assert stored.count() == 20
    [received] = ReceivedStudy.objects.all()
    assert received.study.series.count() == 2
    # and once it has been quiet, it becomes one case with every slice predicted
    case = _one_case_predicted(received, 20, platform.logs)
    assert case.status == Case.Status.FIRST_READ
    received.refresh_from_db()
    assert not received.is_receiving
    # and the associations were recorded as released
    assert DicomAssociation.objects.filter(calling_ae_title="ORTHANC").exists()
    assert not DicomAssociation.objects.filter(status=DicomAssociation.Status.OPEN).exists()
    # and the radiologist's worklist shows it with its accession number and patient ID
    worklist = client_for(alice).get("/worklist/").content.decode()
    assert study.accession in worklist and study.patient_id in worklist
    # when it is read and the data team exports it
    single_reads_only()
    read(case, alice, case.ai_label)
    export = export_create(actor=dave)  # built at commit, in this process (tests run eagerly)
    export.refresh_from_db()
    assert export.total == 1, export.error
    # then no original identifier is in the zip, its manifests or the data team's API
    with default_storage.open(export.file.name, "rb") as fh:
        archive = zipfile.ZipFile(io.BytesIO(fh.read()))
    blobs = [archive.read(name) for name in archive.namelist()]
    api = api_for(dave)
    blobs += [
        api.get("/api/v1/datasets/").content,
        api.get(f"/api/v1/datasets/{export.public_id}/").content,
    ]
    for value in (study.patient_name, study.patient_id, study.accession, study.study_uid):
        assert not any(value.encode() in blob for blob in blobs), value
    # and the receiver's and the worker's logs never wrote them either
    logs = platform.full_logs()
    assert "Received Store Request" in logs
    for value in (study.patient_name, study.patient_id, study.accession, *study.sop_uids):
        assert value not in logs, value


def test_the_same_study_sent_twice_is_one_case_without_duplicate_scans(platform, orthanc_for):
    # given a study routed from the PACS and become a case
    platform.start_receiver()
    platform.start_worker()
    pacs = orthanc_for(platform_port=platform.receiver_port, platform_aet=RECEIVER_AET)
    study = modality.mr_study(seed=4, slices_per_series=5)
    assert modality.send(study.instances, port=pacs.dicom_port, called_aet=pacs.aet).all_ok
    assert {j["State"] for j in pacs.wait_jobs_done(10)} == {"Success"}, pacs.job_errors()
    [received] = ReceivedStudy.objects.all()
    _one_case_predicted(received, 10, platform.logs)
    # when the PACS sends the whole study again, and the scanner sends it straight too
    [orthanc_study] = pacs.studies()
    pacs.post("/modalities/neurotriage/store", {"Resources": [orthanc_study["ID"]]})
    direct = modality.send(study.instances, port=platform.receiver_port, called_aet=RECEIVER_AET)
    # then every copy is acknowledged as a success ...
    assert direct.all_ok
    # ... recorded as a duplicate, and nothing is stored twice
    assert ReceivedInstance.objects.filter(status=ReceivedInstance.Status.STORED).count() == 10
    assert ReceivedInstance.objects.filter(status=ReceivedInstance.Status.DUPLICATE).count() == 20
    assert Scan.objects.count() == 10
    _one_case_predicted(received, 10, platform.logs)


def test_what_the_platform_does_not_read_is_refused_with_a_reason(platform, orthanc_for):
    # given the receiver, and a study of a patient
    platform.start_receiver()
    pacs = orthanc_for(platform_port=platform.receiver_port, platform_aet=RECEIVER_AET)
    study = modality.mr_study(seed=5, series=1, slices_per_series=2)
    port = platform.receiver_port
    # when the PACS routes a CT slice of the patient
    assert modality.send(
        [modality.ct_instance(study)], port=pacs.dicom_port, called_aet=pacs.aet
    ).all_ok
    [ct_job] = pacs.wait_jobs_done(1)
    # then the receiver refuses it (the PACS's forward fails) and says why
    assert ct_job["State"] == "Failure"
    [ct] = ReceivedInstance.objects.filter(reason_code="sop_class_not_accepted")
    assert ct.status == ReceivedInstance.Status.REFUSED and "CT Image Storage" in ct.reason
    # when a scanner sends a secondary capture with burned-in text, and a malformed MR slice
    sent = modality.send(
        [modality.secondary_capture_burned_in(study), modality.malformed_mr(study)],
        port=port,
        called_aet=RECEIVER_AET,
    )
    # then both are refused with a failure status and a recorded reason
    assert sent.associated and sent.statuses == [0x0122, 0xC000]
    capture, malformed = ReceivedInstance.objects.order_by("received_at")[1:3]
    assert capture.reason_code == "sop_class_not_accepted" and "Secondary Capture" in capture.reason
    assert malformed.status == ReceivedInstance.Status.REFUSED
    assert malformed.reason_code == "truncated" or malformed.reason_code == "corrupt", (
        malformed.reason_code
    )
    # when an MR slice declares text burned into its pixels
    burned = study.instances[0]
    burned.BurnedInAnnotation = "YES"
    assert modality.send([burned], port=port, called_aet=RECEIVER_AET).all_ok
    # then it is stored in quarantine, with the reason
    [quarantined] = ReceivedInstance.objects.filter(status=ReceivedInstance.Status.QUARANTINED)
    assert quarantined.scan.status == Scan.Status.QUARANTINED and quarantined.reason
    # when an unknown AE title calls
    stranger = modality.send(
        study.instances[1:], port=port, called_aet=RECEIVER_AET, calling_aet="UNKNOWN_AE"
    )
    # then the association is rejected and recorded with the reason
    assert not stranger.associated
    rejections = DicomAssociation.objects.filter(status=DicomAssociation.Status.REJECTED)
    [rejected] = wait_for(lambda: list(rejections.all()), timeout=10, what="the rejection's record")
    assert rejected.calling_ae_title == "UNKNOWN_AE" and "UNKNOWN_AE" in rejected.reason
    # and the receiver still serves: an echo, and the good slice is stored
    assert modality.echo(port=port, called_aet=RECEIVER_AET) == 0
    assert modality.send(study.instances[1:], port=port, called_aet=RECEIVER_AET).all_ok
    assert ReceivedInstance.objects.filter(status=ReceivedInstance.Status.STORED).count() == 1
    assert Scan.objects.count() == 2  # the quarantined slice and the good one, nothing else


def test_a_receiver_killed_mid_study_loses_nothing_and_stores_nothing_twice(platform, orthanc_for):
    # given the PACS routing a study to the receiver, and the first slices stored
    receiver = platform.start_receiver()
    platform.start_worker()
    pacs = orthanc_for(platform_port=platform.receiver_port, platform_aet=RECEIVER_AET)
    study = modality.mr_study(seed=6)
    first, rest = study.instances[:10], study.instances[10:]
    assert modality.send(first, port=pacs.dicom_port, called_aet=pacs.aet).all_ok
    stored = ReceivedInstance.objects.filter(status=ReceivedInstance.Status.STORED)
    wait_for(lambda: stored.count() >= 4, timeout=60, what="4 stored slices", logs=platform.logs)
    # when the receiver is killed with SIGKILL in the middle of the study
    platform.kill(receiver)
    assert receiver.returncode == -signal.SIGKILL
    # and the scanner goes on sending the rest to the PACS, whose forwards now fail
    assert modality.send(rest, port=pacs.dicom_port, called_aet=pacs.aet).all_ok
    jobs = pacs.wait_jobs_done(20)
    failed = [j for j in jobs if j["State"] == "Failure"]
    assert len(failed) >= 10
    # when the receiver is started again and the PACS resends what failed
    platform.start_receiver()
    assert pacs.resubmit_failed_jobs() == len(failed)
    jobs = pacs.wait_jobs_done(20)
    # then every forward succeeded in the end
    assert {j["State"] for j in jobs} == {"Success"}, (
        pacs.job_errors() + pacs.logs() + platform.logs()
    )
    # and every slice is stored exactly once, in one case, predicted once each
    assert stored.count() == 20
    assert Scan.objects.count() == 20
    [received] = ReceivedStudy.objects.all()
    case = _one_case_predicted(received, 20, platform.logs)
    assert case.study.series.count() == 2
    assert Prediction.objects.filter(scan__series__study=case.study).count() == 20
    # and the association the kill cut is recorded as aborted, none left open
    assert not DicomAssociation.objects.filter(status=DicomAssociation.Status.OPEN).exists()


def test_a_peer_from_an_address_not_allowed_is_cut_before_any_association(platform):
    # given a receiver that accepts only the hospital's 10.x network
    platform.start_receiver(wait=False, DICOM_RECEIVER_ALLOWED_ADDRESSES="10.0.0.0/8")
    refused = DicomAssociation.objects.filter(status=DicomAssociation.Status.REJECTED)

    # when a known AE title calls from 127.0.0.1, it never gets an association
    def called_and_cut():
        assert modality.echo(port=platform.receiver_port, called_aet=RECEIVER_AET) is None
        return list(refused.all())

    [cut] = wait_for(called_and_cut, timeout=60, what="a refused connection", logs=platform.logs)
    # and the refusal is recorded with the address and the reason
    assert cut.peer_address == "127.0.0.1" and "DICOM_RECEIVER_ALLOWED_ADDRESSES" in cut.reason
