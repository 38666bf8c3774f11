"""The DICOM receiver as a real process behind a real Orthanc: a scanner's study is routed
from the PACS, stored once, becomes one predicted case when it goes quiet; what the platform
does not read is refused with a reason while the receiver keeps serving; a receiver killed
mid-study loses nothing and stores nothing twice."""

import pytest

from reviews.models import Case
from tests.pacs import modality
from tests.pacs.processes import RECEIVER_AET, wait_for
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


def test_a_study_routed_from_orthanc_becomes_one_predicted_case(platform, orthanc_for):
    # given the receiver and a worker running, and the PACS routing to the receiver
    platform.start_receiver()
    platform.start_worker()
    pacs = orthanc_for(platform_port=platform.receiver_port, platform_aet=RECEIVER_AET)
    study = modality.mr_study(seed=3)
    # when a scanner sends a 20-slice, 2-series MR study to the PACS
    assert modality.send(study.instances, port=pacs.dicom_port, called_aet=pacs.aet).all_ok
    # then the PACS forwards every instance successfully
    jobs = pacs.wait_jobs_done(20)
    assert {job["State"] for job in jobs} == {"Success"}, pacs.logs() + platform.logs()
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
