"""Writing the clinical link (the receiver, for each stored instance) and auditing its
views. Nothing here logs a value: log lines name rows, never identifiers."""

from __future__ import annotations

from pydicom.dataset import Dataset

from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.clinical.crypto import open_sealed, seal
from tumorapp.clinical.models import InstanceLink, StudyLink
from tumorapp.core.hooks import site_options
from tumorapp.scans.models import Scan, Study


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def clinical_link_record(*, study: Study, scans: list[Scan], header: Dataset) -> bool:
    """Keep the original identifiers of a received instance (unless the site turned the
    link off): its study's (the first instance's values stay; later ones only fill gaps)
    and its slices'. Inside the caller's transaction; returns whether anything was kept."""
    if not site_options().clinical_link:
        return False
    values = {
        "study_uid": _text(header, "StudyInstanceUID"),
        "accession_number": _text(header, "AccessionNumber"),
        "patient_id": _text(header, "PatientID"),
        "patient_name": _text(header, "PatientName"),
        "study_date": _text(header, "StudyDate"),
    }
    link = StudyLink.objects.select_for_update().filter(study=study).first()
    if link is None:
        StudyLink.objects.create(study=study, token=seal(values))
    else:
        known = open_sealed(link.token)
        merged = {key: known.get(key) or value for key, value in values.items()}
        if merged != known:
            link.token = seal(merged)
            link.save(update_fields=["token", "updated_at"])
    instance = {
        "series_uid": _text(header, "SeriesInstanceUID"),
        "sop_instance_uid": _text(header, "SOPInstanceUID"),
        "sop_class_uid": _text(header, "SOPClassUID"),
    }
    for scan in scans:
        InstanceLink.objects.get_or_create(scan=scan, defaults={"token": seal(instance)})
    return True


def clinical_link_view_record(*, request, cases, where: str) -> None:
    """Audit that the requesting radiologist was shown the clinical identity of these cases
    (one event per page shown, naming the cases)."""
    cases = list(cases)
    if not cases:
        return
    audit_record(
        action=Action.CLINICAL_LINK_VIEWED,
        request=request,
        target_type="reviews.case",
        target_id=str(cases[0].public_id) if len(cases) == 1 else "",
        details={"where": where, "cases": [str(c.public_id) for c in cases]},
    )
