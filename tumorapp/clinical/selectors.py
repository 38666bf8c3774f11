"""Reading the clinical link: for the radiologists' pages (accession number, patient ID,
study date) and for sending results back to the patient's study (original UIDs).

A case whose study was not received over DICOM, or whose site keeps no link, has none
(None): it is de-identified all the way, as uploads are."""

from __future__ import annotations

from dataclasses import dataclass

from tumorapp.clinical.crypto import open_sealed
from tumorapp.clinical.models import InstanceLink, StudyLink


@dataclass(frozen=True)
class ClinicalIdentity:
    """What a radiologist matches a case to the clinical report with."""

    accession_number: str
    patient_id: str
    study_date: str  # DICOM DA, YYYYMMDD (may be empty)

    @property
    def study_date_display(self) -> str:
        d = self.study_date
        return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


@dataclass(frozen=True)
class PacsReferences:
    """The original UIDs a result object sent back to the PACS references."""

    study_instance_uid: str
    accession_number: str
    patient_id: str
    patient_name: str
    study_date: str
    series_instance_uid: str  # of the key slice
    sop_instance_uid: str  # of the key slice
    sop_class_uid: str  # of the key slice


def _study_values(study_id: int | None) -> dict | None:
    if study_id is None:
        return None
    link = StudyLink.objects.filter(study_id=study_id).only("token").first()
    return None if link is None else open_sealed(link.token)


def identities_for(cases) -> dict[int, ClinicalIdentity]:
    """Clinical identity per case id, for the cases that have a link (one query)."""
    cases = list(cases)
    study_ids = {c.study_id for c in cases if c.study_id is not None}
    links = {
        link.study_id: open_sealed(link.token)
        for link in StudyLink.objects.filter(study_id__in=study_ids).only("study_id", "token")
    }
    result = {}
    for case in cases:
        values = links.get(case.study_id)
        if values is not None:
            result[case.pk] = ClinicalIdentity(
                accession_number=values.get("accession_number", ""),
                patient_id=values.get("patient_id", ""),
                study_date=values.get("study_date", ""),
            )
    return result


def case_identity(case) -> ClinicalIdentity | None:
    return identities_for([case]).get(case.pk)


def case_has_pacs_link(case, key_scan=None) -> bool:
    """Whether the case's study and its key slice (``key_scan``, else the case's own) are
    linked, without opening anything: a read never waits on, or fails for, the keys."""
    return (
        case.study_id is not None
        and StudyLink.objects.filter(study_id=case.study_id).exists()
        and InstanceLink.objects.filter(scan_id=getattr(key_scan, "pk", case.scan_id)).exists()
    )


def case_pacs_references(case, key_scan=None) -> PacsReferences | None:
    """The original study of a case and its key slice's (``key_scan``, else the case's own)
    original series, instance and SOP class, or None when the case has no clinical link."""
    values = _study_values(case.study_id)
    if values is None:
        return None
    scan_id = key_scan.pk if key_scan is not None else case.scan_id
    instance = InstanceLink.objects.filter(scan_id=scan_id).only("token").first()
    slice_values = open_sealed(instance.token) if instance is not None else {}
    return PacsReferences(
        study_instance_uid=values.get("study_uid", ""),
        accession_number=values.get("accession_number", ""),
        patient_id=values.get("patient_id", ""),
        patient_name=values.get("patient_name", ""),
        study_date=values.get("study_date", ""),
        series_instance_uid=slice_values.get("series_uid", ""),
        sop_instance_uid=slice_values.get("sop_instance_uid", ""),
        sop_class_uid=slice_values.get("sop_class_uid", ""),
    )
