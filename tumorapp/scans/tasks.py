"""Celery task of the storage sweep. Thin: it calls one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from tumorapp.scans.storage import DEFAULT_AGE, storage_sweep


# Daily and idempotent: a missed or failed beat is caught up by the next one; a short retry
# covers a database hiccup.
@shared_task(
    name="scans.storage_sweep",
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=2,
)
def sweep_storage() -> int:
    return storage_sweep(older_than=DEFAULT_AGE, dry_run=False).deleted
