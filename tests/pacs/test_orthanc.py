"""The test PACS itself: a simulated scanner's MR study reaches the private Orthanc whole,
and Orthanc's routing rule tries to forward each instance to the platform's receiver."""

import pytest

from tests.pacs import modality

pytestmark = pytest.mark.integration


def test_a_simulated_scanner_stores_a_two_series_mr_study_in_orthanc(orthanc):
    # given a 20-slice, 2-series MR study from the simulated scanner
    study = modality.mr_study(seed=1)
    assert len(study.instances) == 20 and len(study.series_uids) == 2
    # when the scanner echoes and then sends it to the PACS over DICOM
    assert modality.echo(port=orthanc.dicom_port, called_aet=orthanc.aet) == 0
    result = modality.send(study.instances, port=orthanc.dicom_port, called_aet=orthanc.aet)
    # then every instance is stored: one study, two series, the patient's identifiers intact
    assert result.all_ok, orthanc.logs()
    [stored] = orthanc.studies()
    assert stored["MainDicomTags"]["StudyInstanceUID"] == study.study_uid
    assert stored["MainDicomTags"]["AccessionNumber"] == study.accession
    assert stored["PatientMainDicomTags"]["PatientID"] == study.patient_id
    assert len(stored["Series"]) == 2
    instances = orthanc.get(f"/studies/{stored['ID']}/instances")
    assert sorted(i["MainDicomTags"]["SOPInstanceUID"] for i in instances) == sorted(study.sop_uids)
    # and real pixels: a slice rendered by Orthanc is not flat
    preview = orthanc.get(f"/instances/{instances[0]['ID']}/preview")
    assert preview[:8] == b"\x89PNG\r\n\x1a\n"


def test_orthanc_forwards_each_stored_instance_and_keeps_failed_forwards(orthanc):
    # given no receiver listening where the routing rule forwards
    study = modality.mr_study(seed=2, series=1, slices_per_series=3)
    # when the scanner stores three slices
    assert modality.send(study.instances, port=orthanc.dicom_port, called_aet=orthanc.aet).all_ok
    # then one forwarding job per instance is made, each failed, and kept for a resubmit
    jobs = orthanc.wait_jobs_done(3)
    assert len(jobs) == 3
    assert {job["State"] for job in jobs} == {"Failure"}
    assert orthanc.resubmit_failed_jobs() == 3
    assert {job["State"] for job in orthanc.wait_jobs_done(3)} == {"Failure"}
