"""Reads for the quality dashboard, its API and the quality_report command."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from reviews.models import Case, Review, SiteOptions
from reviews.selectors import worklist_counts
from reviews.services import _needs_second_read, double_read_selected
from tumorapp.quality import metrics
from tumorapp.quality.models import Alert, DailyCounts, Refresh
from tumorapp.quality.reference import model_reference, shipped_version
from tumorapp.registry.selectors import threshold_in_force
from tumorapp.scans.models import Scan

DEFAULT_DAYS = 90
BAND_LABELS = {str(band.value): band.label for band in Case.Band} | {"none": "No case"}


@dataclass(frozen=True)
class QualityFilters:
    start: dt.date
    end: dt.date
    model_version: str = ""

    @classmethod
    def default(cls, *, today: dt.date | None = None) -> QualityFilters:
        today = today or timezone.localdate()
        return cls(start=today - dt.timedelta(days=DEFAULT_DAYS - 1), end=today)


def model_versions() -> list[str]:
    return list(
        DailyCounts.objects.exclude(model_version="")
        .order_by("model_version")
        .values_list("model_version", flat=True)
        .distinct()
    )


def open_alerts() -> list[Alert]:
    return list(Alert.objects.filter(closed_at__isnull=True).order_by("opened_at"))


def last_refresh() -> Refresh | None:
    return Refresh.objects.order_by("-finished_at").first()


def refresh_schedule(refresh: Refresh | None, *, now: dt.datetime | None = None) -> dict:
    """How often the beat rolls the figures up, when the next run is due, and whether the
    last one is so old that the beat looks stopped (two periods and a minute late)."""
    seconds = int(settings.CELERY_BEAT_SCHEDULE["quality-refresh"]["schedule"])
    period = dt.timedelta(seconds=seconds)
    now = now or timezone.now()
    next_due = refresh.finished_at + period if refresh else None
    return {
        "seconds": seconds,
        "every": _period_words(seconds),
        "embedded": bool(settings.CELERY_TASK_ALWAYS_EAGER),
        "next_due": next_due,
        "overdue": refresh is not None and now > next_due + period + dt.timedelta(minutes=1),
    }


def _period_words(seconds: int) -> str:
    if seconds % 3600 == 0:
        n, unit = seconds // 3600, "hour"
    elif seconds % 60 == 0:
        n, unit = seconds // 60, "minute"
    else:
        n, unit = seconds, "second"
    return f"{unit}" if n == 1 else f"{n} {unit}s"


def queue_depth() -> list[dict]:
    """Live counts (two grouped queries): scans waiting for the model, cases per status."""
    scans = dict(
        Scan.objects.filter(status__in=(Scan.Status.QUEUED, Scan.Status.FAILED))
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    cases = worklist_counts()
    return [
        {"stage": "awaiting_model", "label": "Waiting for the model", "n": scans.get("queued", 0)},
        {"stage": "prediction_failed", "label": "Prediction failed", "n": scans.get("failed", 0)},
    ] + [
        {"stage": value, "label": label, "n": cases[value]}
        for value, label in Case.Status.choices
        if value != Case.Status.DONE
    ]


def quality_report(*, filters: QualityFilters) -> dict:
    """Every dashboard figure for a date range and model version (all versions when empty).

    Sums the daily counts of the range (one query, at most a row per day and version), so
    the cost follows the length of the range, not the number of reviewed cases.
    """
    rows = DailyCounts.objects.filter(day__gte=filters.start, day__lte=filters.end)
    if filters.model_version:
        rows = rows.filter(model_version=filters.model_version)
    weeks: dict[dt.date, dict] = {}
    latest: tuple[dt.date, str] | None = None
    for day, version, counts in rows.values_list("day", "model_version", "counts"):
        monday = day - dt.timedelta(days=day.weekday())
        metrics.merge(weeks.setdefault(monday, metrics.empty_counts()), counts)
        if version and (latest is None or (day, version) > latest):
            latest = (day, version)
    # The range's total from its weeks: a seventh of the additions of summing the days again.
    total = metrics.empty_counts()
    for counts in weeks.values():
        metrics.merge(total, counts)
    version = filters.model_version or (latest[1] if latest else shipped_version())
    reference = model_reference(version)
    threshold, threshold_source = threshold_in_force(version)
    report = metrics.figures(
        total,
        fingerprint=reference.fingerprint,
        reference=reference.card,
        psi_threshold=settings.QUALITY_DRIFT_PSI_THRESHOLD,
        min_drift_scans=settings.QUALITY_DRIFT_MIN_SCANS,
        bands=BAND_LABELS,
    )
    report["weekly"] = metrics.weekly_trend(
        (monday.isoformat(), counts) for monday, counts in sorted(weeks.items())
    )
    report["queue"] = queue_depth()
    refresh = last_refresh()
    report["meta"] = {
        "start": filters.start.isoformat(),
        "end": filters.end.isoformat(),
        "model_version": filters.model_version,
        "reference_version": version,
        "has_reference": reference.fingerprint is not None or reference.card is not None,
        # The threshold new predictions of that version are flagged with (site's or model's).
        "threshold": threshold,
        "site_threshold": threshold_source == "site",
        "refreshed_at": refresh.finished_at.isoformat() if refresh else None,
    }
    report["alerts"] = [
        {
            "id": str(a.public_id),
            "kind": a.kind,
            "model_version": a.model_version,
            "message": a.message,
            "opened_at": a.opened_at.isoformat(),
        }
        for a in open_alerts()
    ]
    return report


def second_read_share(*, days: int = 30, now: dt.datetime | None = None) -> dict:
    """Reading load a site can plan for: of the first reads of the last ``days`` days, how
    many the current double-reading rule sends to a second reader. The rule itself
    (reviews.services) is replayed on each read with today's options, so the figure follows
    any change of the sampled share; ``sampled`` is the random sample's part, the rest are
    reads that contradict a confident AI."""
    options = SiteOptions.current()
    since = (now or timezone.now()) - dt.timedelta(days=days)
    reads = Review.objects.filter(kind=Review.Kind.FIRST, created_at__gte=since).select_related(
        "case__prediction"
    )
    n = second = sampled = 0
    for review in reads.iterator(chunk_size=500):
        n += 1
        in_sample = double_read_selected(case=review.case, rate=options.double_read_rate)
        sampled += in_sample
        second += in_sample or _needs_second_read(
            case=review.case, label=review.label, options=options
        )
    return {
        "days": days,
        "reads": n,
        "second": second,
        "share": second / n if n else None,
        "sampled": sampled,
        "confident_disagreements": second - sampled,
        "rate": options.double_read_rate,
    }
