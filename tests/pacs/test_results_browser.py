"""The whole loop through the department: a scanner's study reaches the platform through the
PACS, a radiologist reads it in the browser, and the SR lands in the same study in Orthanc,
referencing the original study and the key slice (queried back through Orthanc's REST API)."""

import io

import pydicom
import pytest

from reviews.models import Case, SiteOptions
from tests.factories import TEST_PASSWORD
from tests.pacs import modality
from tests.pacs.processes import RECEIVER_AET, wait_for
from tests.screenshots import SCREENSHOTS
from tumorapp.clinical.crypto import open_sealed
from tumorapp.clinical.models import InstanceLink
from tumorapp.core.jobs import JobStatus
from tumorapp.results import sr
from tumorapp.results.models import ResultSend
from tumorapp.scans.models import Scan

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_read_in_the_browser_puts_the_sr_in_the_patients_study(
    platform, orthanc_for, live_server, page, alice, settings
):
    # given the receiver and a worker running, the PACS routing to the receiver and taking
    # the platform's results, and a site with single reads
    SiteOptions.objects.update_or_create(pk=1, defaults={"double_read_rate": 0.0})
    platform.start_receiver()
    pacs = orthanc_for(platform_port=platform.receiver_port, platform_aet=RECEIVER_AET)
    platform.start_worker()
    settings.RESULTS_PACS_HOST = "127.0.0.1"
    settings.RESULTS_PACS_PORT = pacs.dicom_port
    settings.RESULTS_PACS_AE_TITLE = pacs.aet
    # and a scanner that sends a 20-slice, 2-series MR study to the PACS
    study = modality.mr_study(seed=11)
    assert modality.send(study.instances, port=pacs.dicom_port, called_aet=pacs.aet).all_ok
    pacs.wait_jobs_done(20)
    wait_for(
        lambda: Scan.objects.filter(status=Scan.Status.PREDICTED).count() == 20,
        timeout=120,
        what="20 predicted slices",
        logs=platform.logs,
    )
    [case] = Case.objects.all()

    # when a radiologist opens the case in the browser and accepts the AI's class
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/?next=/worklist/cases/{case.public_id}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/worklist/cases/{case.public_id}/")
    page.get_by_role("button", name="Read this case").click()
    page.wait_for_selector("#review-form")
    page.keyboard.press("a")
    page.wait_for_selector(".msg-success")

    # then the case is reported and its SR sent to the PACS
    case.refresh_from_db()
    assert case.status == Case.Status.DONE
    send = wait_for(
        lambda: ResultSend.objects.filter(case=case, status=JobStatus.SUCCEEDED).first(),
        timeout=60,
        what="the SR to be sent",
        logs=platform.logs,
    )
    # and it is in the patient's study in Orthanc, beside the 20 slices
    [found] = [f for f in pacs.post("/tools/lookup", study.study_uid.encode())]
    instances = pacs.get(f"/studies/{found['ID']}/instances")
    assert len(instances) == 21
    reports = [
        pydicom.dcmread(io.BytesIO(pacs.get(f"/instances/{i['ID']}/file")))
        for i in instances
        if pacs.get(f"/instances/{i['ID']}/simplified-tags")["Modality"] == "SR"
    ]
    [report] = reports
    assert report.SOPInstanceUID == send.sop_instance_uid
    assert report.StudyInstanceUID == study.study_uid
    assert report.PatientID == study.patient_id
    assert report.AccessionNumber == study.accession
    key = open_sealed(InstanceLink.objects.get(scan=case.scan).token)
    assert key["sop_instance_uid"] in study.sop_uids
    assert sr.content_value(report, "Source Image") == key["sop_instance_uid"]
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == study.study_uid
    assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID in study.series_uids
    assert sr.content_value(report, "Reader's final class") == send.final_class

    # and the case page shows the accession number the SR carries, to match the two
    page.goto(f"{live_server.url}/worklist/cases/{case.public_id}/")
    assert study.accession in page.locator("body").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "pacs-case.png"))
