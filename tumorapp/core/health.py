"""Reachability checks for the health endpoint and the operations page."""

from __future__ import annotations

import uuid
from collections.abc import Callable

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


# The DICOM nodes the platform talks to, each a function that answers one line; the apps that
# talk to them register here at start-up (core sits below them and imports none of them).
# Informational: a PACS that is down leaves the platform serving (results wait in their job
# rows, the PACS keeps what it could not forward), so these never fail /health/.
dicom_checks: dict[str, Callable[[], str]] = {}


def dicom_report() -> dict[str, str]:
    report = {}
    for name, check in dicom_checks.items():
        try:
            report[name] = check()
        except Exception as exc:  # a health line reports every failure, whatever its kind
            report[name] = f"error: {type(exc).__name__}"
    return report


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
