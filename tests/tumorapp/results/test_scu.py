"""Sending an SR to a real Orthanc with C-STORE, and C-ECHO as its health check."""

import pytest

from tests.tumorapp.results.conftest import destination_of, instances_of_study, tags_of
from tumorapp.results import scu, sr

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


def _report(study_uid: str, uid: str | None = None) -> bytes:
    study = sr.OriginalStudy(
        study_instance_uid=study_uid, patient_id="MRN-1", patient_name="Doe^John"
    )
    return sr.to_bytes(
        sr.build_report(
            study=study,
            key_image=sr.InstanceRef(sr.new_uid(), sr.new_uid(), MR_IMAGE),
            finding=sr.Finding("Glioma", 0.8, "Glioma", "v5"),
            sop_instance_uid=uid or sr.new_uid(),
            series_instance_uid=sr.new_uid(),
        )
    )


def test_echo_answers_while_orthanc_runs_and_says_why_not_when_it_stops(orthanc):
    assert scu.echo(destination_of(orthanc)).ok

    orthanc.stop()
    result = scu.echo(destination_of(orthanc))

    assert not result.ok
    assert "could not be reached" in result.detail


def test_the_same_sr_stored_twice_is_one_instance_in_orthanc(orthanc):
    study_uid, uid = sr.new_uid(), sr.new_uid()
    data = _report(study_uid, uid)

    scu.store(destination_of(orthanc), data)
    scu.store(destination_of(orthanc), data)

    (instance,) = instances_of_study(orthanc, study_uid)
    tags = tags_of(orthanc, instance)
    assert tags["SOPInstanceUID"] == uid
    assert tags["Modality"] == "SR"


def test_a_stopped_pacs_is_unavailable_not_refused(orthanc):
    orthanc.stop()

    with pytest.raises(scu.DestinationUnavailable):
        scu.store(destination_of(orthanc), _report(sr.new_uid()))
    assert issubclass(scu.DestinationUnavailable, ConnectionError)
