"""The SR a reported case sends back: parsed back with pydicom, its references and content."""

import pydicom
import pytest

from tumorapp.results import sr

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


@pytest.fixture
def study():
    return sr.OriginalStudy(
        study_instance_uid=sr.new_uid(),
        patient_id="MRN-0042",
        patient_name="Doe^Jane",
        patient_birth_date="19700101",
        patient_sex="F",
        study_date="20261201",
        study_time="101500",
        accession_number="ACC-7781",
        study_id="S1",
    )


@pytest.fixture
def key_image():
    return sr.InstanceRef(sr.new_uid(), sr.new_uid(), MR_IMAGE)


FINDING = sr.Finding(
    ai_class="Glioma",
    p_tumour=0.9312,
    final_class="Meningioma",
    model_version="brain-mri-effnet-v5",
    resolution="Single read",
)


def _round_trip(report) -> pydicom.Dataset:
    data = sr.to_bytes(report)
    assert data[128:132] == b"DICM"
    return sr.from_bytes(data)


def test_the_report_lands_in_the_original_study_and_names_the_key_slice(study, key_image):
    uid, series = sr.new_uid(), sr.new_uid()
    parsed = _round_trip(
        sr.build_report(
            study=study,
            key_image=key_image,
            finding=FINDING,
            sop_instance_uid=uid,
            series_instance_uid=series,
        )
    )

    assert parsed.SOPClassUID == sr.COMPREHENSIVE_SR
    assert parsed.SOPInstanceUID == uid
    assert parsed.file_meta.MediaStorageSOPInstanceUID == uid
    assert parsed.SeriesInstanceUID == series
    assert parsed.Modality == "SR"
    # Patient and study modules are the original's: the PACS files it in the same study.
    assert parsed.StudyInstanceUID == study.study_instance_uid
    assert parsed.PatientID == "MRN-0042"
    assert str(parsed.PatientName) == "Doe^Jane"
    assert parsed.AccessionNumber == "ACC-7781"
    assert parsed.StudyDate == "20261201"
    # The key slice, in the evidence and in the content tree.
    (evidence,) = parsed.CurrentRequestedProcedureEvidenceSequence
    assert evidence.StudyInstanceUID == study.study_instance_uid
    (series_ref,) = evidence.ReferencedSeriesSequence
    assert series_ref.SeriesInstanceUID == key_image.series_instance_uid
    (sop_ref,) = series_ref.ReferencedSOPSequence
    assert sop_ref.ReferencedSOPInstanceUID == key_image.sop_instance_uid
    assert sop_ref.ReferencedSOPClassUID == MR_IMAGE
    assert sr.content_value(parsed, "Source Image") == key_image.sop_instance_uid
    assert "PredecessorDocumentsSequence" not in parsed


def test_the_report_states_the_ai_and_the_reader_and_that_it_is_not_a_diagnosis(study, key_image):
    parsed = _round_trip(
        sr.build_report(
            study=study,
            key_image=key_image,
            finding=FINDING,
            sop_instance_uid=sr.new_uid(),
            series_instance_uid=sr.new_uid(),
        )
    )

    assert sr.content_value(parsed, "AI class") == "Glioma"
    assert sr.content_value(parsed, "Probability of tumour") == pytest.approx(0.9312)
    assert sr.content_value(parsed, "Reader's final class") == "Meningioma"
    assert sr.content_value(parsed, "Algorithm Version") == "brain-mri-effnet-v5"
    assert sr.content_value(parsed, "How the class was decided") == "Single read"
    assert "decision support, not a diagnosis" in sr.content_value(parsed, "Comment").lower()
    assert parsed.CompletionFlag == "COMPLETE"
    assert parsed.VerificationFlag == "UNVERIFIED"


def test_an_amendment_is_a_new_instance_that_lists_the_one_it_supersedes(study, key_image):
    series = sr.new_uid()
    first = sr.build_report(
        study=study,
        key_image=key_image,
        finding=FINDING,
        sop_instance_uid=sr.new_uid(),
        series_instance_uid=series,
    )
    previous = sr.InstanceRef(series, first.SOPInstanceUID)
    amended = _round_trip(
        sr.build_report(
            study=study,
            key_image=key_image,
            finding=sr.Finding(**{**FINDING.__dict__, "final_class": "Glioma"}),
            sop_instance_uid=sr.new_uid(),
            series_instance_uid=series,
            instance_number=2,
            supersedes=previous,
        )
    )

    assert amended.SOPInstanceUID != first.SOPInstanceUID
    assert amended.StudyInstanceUID == study.study_instance_uid
    assert amended.InstanceNumber == 2
    (predecessor,) = amended.PredecessorDocumentsSequence
    assert predecessor.StudyInstanceUID == study.study_instance_uid
    (ref,) = predecessor.ReferencedSeriesSequence[0].ReferencedSOPSequence
    assert ref.ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert ref.ReferencedSOPClassUID == sr.COMPREHENSIVE_SR
    assert sr.content_value(amended, "Reader's final class") == "Glioma"
    assert "supersedes" in sr.content_value(amended, "Comment")


def test_an_amendment_may_not_reuse_the_superseded_uid(study, key_image):
    uid = sr.new_uid()
    with pytest.raises(ValueError, match="new SOP Instance UID"):
        sr.build_report(
            study=study,
            key_image=key_image,
            finding=FINDING,
            sop_instance_uid=uid,
            series_instance_uid=sr.new_uid(),
            supersedes=sr.InstanceRef(sr.new_uid(), uid),
        )


def test_a_probability_outside_zero_to_one_is_refused(study, key_image):
    with pytest.raises(ValueError, match="P\\(tumour\\)"):
        sr.build_report(
            study=study,
            key_image=key_image,
            finding=sr.Finding(**{**FINDING.__dict__, "p_tumour": 1.5}),
            sop_instance_uid=sr.new_uid(),
            series_instance_uid=sr.new_uid(),
        )


def test_the_same_report_built_again_for_a_retry_is_the_same_object(study, key_image):
    from datetime import datetime

    when = datetime(2026, 12, 5, 14, 30, 15)
    build = lambda: sr.to_bytes(  # noqa: E731
        sr.build_report(
            study=study,
            key_image=key_image,
            finding=FINDING,
            sop_instance_uid="2.25.1234",
            series_instance_uid="2.25.5678",
            content_datetime=when,
        )
    )

    first = build()

    assert build() == first
    assert sr.from_bytes(first).ContentDate == "20261205"
    assert sr.from_bytes(first).ContentTime == "143015"
