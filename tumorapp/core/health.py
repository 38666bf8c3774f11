"""Reachability checks for the health endpoint and the operations page."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_broker() -> str:
    if settings.CELERY_BROKER_URL is None:
        return "in-process"
    import redis

    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_storage() -> str:
    name = default_storage.save(f"health/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)
    return "ok"


CHECKS = {"database": check_database, "broker": check_broker, "storage": check_storage}


def dicom_report() -> dict[str, str]:
    """The DICOM nodes the platform talks to. Informational: a PACS that is down leaves the
    platform serving (results wait in their job rows), so it does not fail /health/."""
    from tumorapp.results.destination import destination_health

    return {"destination": destination_health()}


def health_report() -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    healthy = True
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a health check reports every failure, whatever its kind
            healthy = False
            results[name] = f"error: {type(exc).__name__}"
    return healthy, results
