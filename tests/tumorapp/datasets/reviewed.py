"""Reviewed cases made the way the site makes them: upload, prediction, claim, read."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from django.utils import timezone

from reviews.models import Case, SiteOptions
from reviews.services import review_submit
from tumorapp.scans.services import scan_upload


def single_reads_only() -> None:
    options = SiteOptions.current()
    options.double_read_rate = 0.0
    options.save()


def upload(user, filename: str, data: bytes, capture=None) -> Case:
    """Upload and predict (the on-commit task runs in place: under ``capture`` in a test
    transaction, at once in a transactional test); the scan's case."""
    with capture(execute=True) if capture else contextlib.nullcontext():
        outcome = scan_upload(uploaded_by=user, filename=filename, data=data)
    assert outcome.scan is not None, outcome.error
    return Case.objects.get(scan=outcome.scan)


def read(case: Case, reader, label: str, reason: str = ""):
    """The reader claims ``case`` and records ``label`` (a reason when it corrects the AI)."""
    Case.objects.filter(pk=case.pk).update(
        claimed_by=reader, lease_expires_at=timezone.now() + timedelta(minutes=10)
    )
    case.refresh_from_db()
    if label != case.ai_label and not reason:
        reason = "other"
    review_submit(case=case, reader=reader, label=label, reason=reason)
    case.refresh_from_db()
    return case
