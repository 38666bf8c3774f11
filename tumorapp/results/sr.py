"""The result a case sends back into the patient's study: a DICOM Comprehensive SR.

Pure (pydicom and highdicom, no Django) so it can be built and parsed anywhere. The report
lands in the original study (patient and study modules copied from the original), names the
key slice it was read on (content tree and Current Requested Procedure Evidence Sequence),
and states the AI's class and P(tumour), the reader's final class, the model version and that
it is decision support, not a diagnosis. An amendment is a new SR, with a new SOP Instance UID,
that lists the SR it supersedes in its Predecessor Documents Sequence; an instance is never
sent twice with different content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

import highdicom as hd
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
DISCLAIMER = "Decision support, not a diagnosis."
MANUFACTURER = "NeuroTriage"
SERIES_NUMBER = 9900
SERIES_DESCRIPTION = "NeuroTriage AI triage result"

# Concepts. DICOM (DCM) and LOINC codes where the standard has one; the triage classes and the
# reader's answer are NeuroTriage's own (private coding scheme 99NTRIAGE).
_REPORT = hd.sr.CodedConcept("18748-4", "LN", "Diagnostic imaging report")
_ALGORITHM_NAME = hd.sr.CodedConcept("111001", "DCM", "Algorithm Name")
_ALGORITHM_VERSION = hd.sr.CodedConcept("111003", "DCM", "Algorithm Version")
_AI_CLASS = hd.sr.CodedConcept("AI_CLASS", "99NTRIAGE", "AI class")
_P_TUMOUR = hd.sr.CodedConcept("P_TUMOUR", "99NTRIAGE", "Probability of tumour")
_FINAL_CLASS = hd.sr.CodedConcept("FINAL_CLASS", "99NTRIAGE", "Reader's final class")
_RESOLUTION = hd.sr.CodedConcept("RESOLUTION", "99NTRIAGE", "How the class was decided")
_KEY_IMAGE = hd.sr.CodedConcept("121324", "DCM", "Source Image")
_COMMENT = hd.sr.CodedConcept("121106", "DCM", "Comment")
_NO_UNITS = hd.sr.CodedConcept("1", "UCUM", "no units")


@dataclass(frozen=True)
class OriginalStudy:
    """What the SR copies from the original study so that it lands in it."""

    study_instance_uid: str
    patient_id: str
    patient_name: str
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    referring_physician_name: str = ""


@dataclass(frozen=True)
class InstanceRef:
    """One DICOM instance by its UIDs: the key slice, or an SR being superseded."""

    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str = COMPREHENSIVE_SR


@dataclass(frozen=True)
class Finding:
    """What the platform says about the case."""

    ai_class: str
    p_tumour: float
    final_class: str
    model_version: str
    resolution: str = ""
    algorithm_name: str = "NeuroTriage brain-MRI triage"


def _reference(study: OriginalStudy, instance: InstanceRef) -> Dataset:
    """A minimal dataset standing for an instance: highdicom reads the patient and study
    modules and the UIDs from the evidence it is given."""
    ds = Dataset()
    ds.PatientID = study.patient_id
    ds.PatientName = study.patient_name
    ds.PatientBirthDate = study.patient_birth_date
    ds.PatientSex = study.patient_sex
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = study.study_date
    ds.StudyTime = study.study_time
    ds.AccessionNumber = study.accession_number
    ds.StudyID = study.study_id
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.SeriesInstanceUID = instance.series_instance_uid
    ds.SOPInstanceUID = instance.sop_instance_uid
    ds.SOPClassUID = instance.sop_class_uid
    return ds


def _content(finding: Finding, key_image: InstanceRef, supersedes: bool) -> Dataset:
    has = hd.sr.RelationshipTypeValues.HAS_PROPERTIES
    contains = hd.sr.RelationshipTypeValues.CONTAINS
    root = hd.sr.ContainerContentItem(name=_REPORT)
    items = [
        hd.sr.TextContentItem(_ALGORITHM_NAME, finding.algorithm_name, relationship_type=has),
        hd.sr.TextContentItem(_ALGORITHM_VERSION, finding.model_version, relationship_type=has),
        hd.sr.TextContentItem(_AI_CLASS, finding.ai_class, relationship_type=contains),
        hd.sr.NumContentItem(
            _P_TUMOUR, round(float(finding.p_tumour), 4), _NO_UNITS, relationship_type=contains
        ),
        hd.sr.TextContentItem(_FINAL_CLASS, finding.final_class, relationship_type=contains),
    ]
    if finding.resolution:
        items.append(
            hd.sr.TextContentItem(_RESOLUTION, finding.resolution, relationship_type=contains)
        )
    items.append(
        hd.sr.ImageContentItem(
            _KEY_IMAGE,
            key_image.sop_class_uid,
            key_image.sop_instance_uid,
            relationship_type=contains,
        )
    )
    comment = DISCLAIMER
    if supersedes:
        comment += " This report amends and supersedes the previous NeuroTriage report."
    items.append(hd.sr.TextContentItem(_COMMENT, comment, relationship_type=contains))
    root.ContentSequence = hd.sr.ContentSequence(items)
    return root


def build_report(
    *,
    study: OriginalStudy,
    key_image: InstanceRef,
    finding: Finding,
    sop_instance_uid: str,
    series_instance_uid: str,
    instance_number: int = 1,
    supersedes: InstanceRef | None = None,
    institution_name: str | None = None,
    content_datetime: datetime | None = None,
) -> hd.sr.ComprehensiveSR:
    """The SR for one report of a case (``supersedes``: the SR an amendment replaces).

    ``content_datetime`` fixes the content date and time (else now), so that the same
    report built again for a retry is the same object."""
    if supersedes is not None and supersedes.sop_instance_uid == sop_instance_uid:
        raise ValueError("An amendment needs a new SOP Instance UID.")
    if not 0.0 <= float(finding.p_tumour) <= 1.0:
        raise ValueError("P(tumour) must lie between 0 and 1.")
    report = hd.sr.ComprehensiveSR(
        evidence=[_reference(study, key_image)],
        content=_content(finding, key_image, supersedes is not None),
        series_instance_uid=series_instance_uid,
        series_number=SERIES_NUMBER,
        sop_instance_uid=sop_instance_uid,
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        institution_name=institution_name,
        is_complete=True,
        is_final=False,  # a radiologist's signed clinical report is not this document
        previous_versions=[_reference(study, supersedes)] if supersedes is not None else None,
        transfer_syntax_uid=ExplicitVRLittleEndian,
        series_description=SERIES_DESCRIPTION,
    )
    if content_datetime is not None:
        report.ContentDate = content_datetime.strftime("%Y%m%d")
        report.ContentTime = content_datetime.strftime("%H%M%S")
        report.SeriesDate, report.SeriesTime = report.ContentDate, report.ContentTime
        report.InstanceCreationDate = report.ContentDate
        report.InstanceCreationTime = report.ContentTime
        for equipment in report.get("ContributingEquipmentSequence", []):
            equipment.ContributionDateTime = content_datetime.strftime("%Y%m%d%H%M%S")
    return report


def new_uid() -> str:
    return str(generate_uid())


def to_bytes(report: Dataset) -> bytes:
    buffer = BytesIO()
    report.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def from_bytes(data: bytes) -> Dataset:
    return dcmread(BytesIO(data))


def content_value(report: Dataset, meaning: str) -> str | float | None:
    """The value of the report's first top-level item whose concept name is ``meaning``
    (text, number, or the referenced SOP Instance UID of an image item)."""
    for item in report.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeMeaning != meaning:
            continue
        if item.ValueType == "TEXT":
            return str(item.TextValue)
        if item.ValueType == "NUM":
            return float(item.MeasuredValueSequence[0].NumericValue)
        if item.ValueType == "IMAGE":
            return str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
    return None
