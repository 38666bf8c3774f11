"""Writes on the results sent back to the PACS: one SR job row per report of a case."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reviews.models import Case, ReadLabel, Review, TumourClass
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.clinical.selectors import case_has_pacs_link, case_pacs_references
from tumorapp.core.jobs import JobLost, JobRefused, JobStatus, job_submit, job_succeed
from tumorapp.results import scu, sr
from tumorapp.results.destination import configured_destination
from tumorapp.results.models import ResultSend


def _key_scan(case: Case, review: Review | None):
    """The slice the SR names: the one this read chose, else the last one a read chose,
    else the case's key slice (its most suspicious)."""
    if review is not None and review.key_scan_id:
        return review.key_scan
    named = case.reviews.exclude(key_scan=None).order_by("-created_at").first()
    return named.key_scan if named else case.scan


@transaction.atomic
def result_send_create(*, case: Case, review: Review | None = None) -> ResultSend | None:
    """Queue the SR of a case that was just reported or amended (in the transaction that
    reports it: the case is reported if and only if its result is queued).

    Nothing is queued when no destination is configured or the case has no clinical link
    (an upload, or a site that de-identifies everything): there is no patient study to put
    it in. An earlier SR of the case is superseded: the new one gets a new SOP Instance UID,
    the same series and the next instance number, and names the earlier one.
    """
    if configured_destination() is None or case.status != Case.Status.DONE:
        return None
    key_scan = _key_scan(case, review)
    if not case_has_pacs_link(case, key_scan):
        return None
    previous = (
        ResultSend.objects.select_for_update().filter(case=case).order_by("-instance_number")
    ).first()
    send = ResultSend.objects.create(
        case=case,
        review=review,
        kind=ResultSend.Kind.AMENDMENT if previous else ResultSend.Kind.REPORT,
        sop_instance_uid=sr.new_uid(),
        series_instance_uid=previous.series_instance_uid if previous else sr.new_uid(),
        instance_number=previous.instance_number + 1 if previous else 1,
        supersedes=previous,
        ai_class=TumourClass(case.ai_label).label,
        p_tumour=case.prediction.p_tumor,
        final_class=ReadLabel(case.final_label).label,
        resolution=Case.Resolution(case.resolution).label if case.resolution else "",
        model_version=case.prediction.model_version,
    )
    job_submit(send)
    return send


def result_send_report(*, send: ResultSend) -> bytes:
    """The SR of a send row, encoded: the same bytes for every attempt of the row, built
    from the row and the case's clinical link (nothing identifying is kept on the row)."""
    case = send.case
    refs = case_pacs_references(case, _key_scan(case, send.review))
    if refs is None or not refs.sop_instance_uid:
        raise JobRefused("The case's clinical link is gone: there is no study to send it to.")
    study = sr.OriginalStudy(
        study_instance_uid=refs.study_instance_uid,
        patient_id=refs.patient_id,
        patient_name=refs.patient_name,
        study_date=refs.study_date,
        accession_number=refs.accession_number,
    )
    key_image = sr.InstanceRef(refs.series_instance_uid, refs.sop_instance_uid, refs.sop_class_uid)
    supersedes = (
        sr.InstanceRef(send.supersedes.series_instance_uid, send.supersedes.sop_instance_uid)
        if send.supersedes_id
        else None
    )
    report = sr.build_report(
        study=study,
        key_image=key_image,
        finding=sr.Finding(
            ai_class=send.ai_class,
            p_tumour=send.p_tumour,
            final_class=send.final_class,
            model_version=send.model_version,
            resolution=send.resolution,
        ),
        sop_instance_uid=send.sop_instance_uid,
        series_instance_uid=send.series_instance_uid,
        instance_number=send.instance_number,
        supersedes=supersedes,
        content_datetime=timezone.localtime(send.created_at),
    )
    return sr.to_bytes(report)


def result_send_execute(*, send: ResultSend) -> None:
    """Send a claimed row's SR to the destination (the job kernel claimed it and keeps its
    lease). An unreachable PACS raises ``DestinationUnavailable`` (a ConnectionError: the
    kernel retries with backoff); a PACS that refuses the object fails the row."""
    destination = configured_destination()
    if destination is None:
        raise JobRefused("No results destination is configured (RESULTS_PACS_HOST).")
    data = result_send_report(send=send)
    try:
        scu.store(destination, data)
    except scu.StoreRefused as exc:
        raise JobRefused(str(exc)) from exc
    sent = job_succeed(
        ResultSend,
        job_id=send.pk,
        worker=send.worker,
        destination=str(destination),
        sent_at=timezone.now(),
    )
    if not sent:
        # Another worker holds it now; it sends the same instance, which the PACS keeps once.
        raise JobLost(f"result send {send.pk}: another worker holds it")


@transaction.atomic
def result_send_retry(*, send: ResultSend, actor, request=None) -> ResultSend:
    """Queue a failed send again (the PACS is back, or its refusal was fixed): the same
    instance, its attempts counted afresh. Audited."""
    send = ResultSend.objects.select_for_update().get(pk=send.pk)
    if send.status != JobStatus.FAILED:
        raise ValidationError("Only a failed send can be retried.")
    before = send.error
    send.status = JobStatus.QUEUED
    send.attempts = 0
    send.error = ""
    send.worker = ""
    send.finished_at = None
    send.lease_expires_at = timezone.now() + ResultSend.lease()
    send.save(
        update_fields=["status", "attempts", "error", "worker", "finished_at", "lease_expires_at"]
    )
    audit_record(
        action=Action.RESULT_SEND_RETRIED,
        actor=actor,
        request=request,
        target=send.case,
        details={"send": str(send.public_id), "kind": send.kind, "error": before[:500]},
    )
    job_submit(send)
    return send
