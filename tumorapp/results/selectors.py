"""Reads for the DICOM traffic page: what arrived over DICOM and what went back."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from tumorapp.core.jobs import JobStatus
from tumorapp.pacs.models import DicomAssociation, ReceivedInstance, ReceivedStudy
from tumorapp.results.models import ResultSend

RECENT = 50


def traffic_summary(*, hours: int = 24) -> dict[str, int]:
    since = timezone.now() - timedelta(hours=hours)
    instances = ReceivedInstance.objects.filter(received_at__gte=since).aggregate(
        stored=Count("pk", filter=Q(status=ReceivedInstance.Status.STORED)),
        quarantined=Count("pk", filter=Q(status=ReceivedInstance.Status.QUARANTINED)),
        duplicate=Count("pk", filter=Q(status=ReceivedInstance.Status.DUPLICATE)),
        refused=Count("pk", filter=Q(status=ReceivedInstance.Status.REFUSED)),
    )
    sends = ResultSend.objects.aggregate(
        pending=Count("pk", filter=Q(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))),
        failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
        sent=Count("pk", filter=Q(status=JobStatus.SUCCEEDED, sent_at__gte=since)),
    )
    associations = DicomAssociation.objects.filter(started_at__gte=since).aggregate(
        associations=Count("pk"),
        rejected=Count("pk", filter=Q(status=DicomAssociation.Status.REJECTED)),
    )
    return {**instances, **sends, **associations}


def recent_associations():
    return DicomAssociation.objects.annotate(instance_count=Count("instances"))[:RECENT]


def recent_received_studies():
    return (
        ReceivedStudy.objects.select_related("study")
        .annotate(
            instance_count=Count("instances"),
            stored_count=Count(
                "instances",
                filter=Q(
                    instances__status__in=(
                        ReceivedInstance.Status.STORED,
                        ReceivedInstance.Status.QUARANTINED,
                    )
                ),
            ),
        )
        .order_by("-last_instance_at")[:RECENT]
    )


def refused_instances():
    """Instances refused or quarantined on arrival, with the reason (newest first)."""
    return (
        ReceivedInstance.objects.filter(
            status__in=(ReceivedInstance.Status.REFUSED, ReceivedInstance.Status.QUARANTINED)
        )
        .select_related("association")
        .order_by("-received_at")[:RECENT]
    )


def result_sends():
    """Failed first (they need someone), then pending, then the latest sent."""
    base = ResultSend.objects.select_related("case", "supersedes")
    failed = list(base.filter(status=JobStatus.FAILED).order_by("-created_at")[:RECENT])
    pending = list(
        base.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).order_by("created_at")[
            :RECENT
        ]
    )
    sent = list(base.filter(status=JobStatus.SUCCEEDED).order_by("-sent_at")[:RECENT])
    return failed + pending + sent


def result_send(public_id) -> ResultSend:
    return get_object_or_404(ResultSend, public_id=public_id)
