"""Reads for the DICOM pages, always through the access rules."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from tumorapp.accounts.roles import Role
from tumorapp.scans.models import Scan, Study
from tumorapp.scans.rules import scans_visible_to


def quarantined_scans() -> QuerySet[Scan]:
    """Slices waiting for an admin's decision, oldest first (admins only: see the views)."""
    return (
        Scan.objects.filter(status=Scan.Status.QUARANTINED)
        .select_related("uploaded_by", "series__study")
        .order_by("uploaded_at", "frame_number")
    )


def quarantined_files(limit: int = 200) -> list[tuple[Scan, int]]:
    """One entry per uploaded file in quarantine (decisions cover a whole file): its first
    slice and how many of its slices wait, oldest file first."""
    files: dict[str, list[Scan]] = {}
    for scan in quarantined_scans()[: limit * 10]:
        files.setdefault(scan.dicom_file.name or str(scan.pk), []).append(scan)
    return [(slices[0], len(slices)) for slices in list(files.values())[:limit]]


def quarantined_scan(public_id) -> Scan:
    scan = quarantined_scans().filter(public_id=public_id).first()
    if scan is None:
        raise Http404("No such scan in quarantine.")
    return scan


def quarantined_file_size(scan: Scan) -> int:
    """How many quarantined slices share ``scan``'s uploaded file (a decision covers all)."""
    if not scan.dicom_file:
        return 1
    return quarantined_scans().filter(dicom_file=scan.dicom_file.name).count()


def study_slices(user, public_id) -> tuple[Study, list[Scan]]:
    """A study and the slices of it the user may see, in series and instance order; 404
    when they may see none (the same answer as for a study that does not exist)."""
    study = Study.objects.filter(public_id=public_id).first()
    if study is None:
        raise Http404("No such study.")
    slices = list(
        scans_visible_to(user)
        .filter(series__study=study)
        .select_related("series")
        .order_by("series__series_number", "series_id", "instance_number", "frame_number")
    )
    if not slices:
        raise Http404("No such study.")
    return study, slices


def study_cases(user, study: Study) -> list:
    """The worklist cases of a study, newest first, for readers only (others get none).
    The worklist sits above this layer: its cases are reached through their relation to the
    study, not by importing reviews."""
    if not user.has_role(Role.RADIOLOGIST):
        return []
    return list(study.cases.order_by("-opened_at"))
