"""Writes of the quality app: the daily roll-ups (quality_refresh) and alert episodes."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from ml.fingerprint import BINS
from reviews.labels import UNREADABLE
from reviews.models import Case, Review
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record
from tumorapp.inference.models import Prediction
from tumorapp.quality import metrics
from tumorapp.quality.models import Alert, DailyCounts, Refresh
from tumorapp.quality.reference import model_reference
from tumorapp.scans.models import Scan

FEATURE_EDGES: dict[str, list[float]] = {k: [float(e) for e in v] for k, v in BINS.items()}

# DICOM acquisition fields, as lookups from Scan (on the slice's series, or on the scan
# itself); the first that exists in this database is used, and a category with none is skipped.
CATEGORY_FIELDS: dict[str, tuple[str, ...]] = {
    "manufacturer": ("series__manufacturer", "manufacturer"),
    "scanner_model": ("series__manufacturer_model_name", "manufacturer_model_name"),
    "field_strength": ("series__magnetic_field_strength", "magnetic_field_strength"),
}
NO_CASE_BAND = "none"
# Arbitrary constant: the PostgreSQL advisory lock that serialises quality refreshes.
_REFRESH_LOCK_KEY = 7_202_612


def _lookup_exists(model, lookup: str) -> bool:
    head, _, rest = lookup.partition("__")
    try:
        field = model._meta.get_field(head)
    except FieldDoesNotExist:
        return False
    if not rest:
        return not field.is_relation
    return field.is_relation and _lookup_exists(field.related_model, rest)


def scan_category_fields() -> dict[str, str]:
    """Category -> lookup from Scan, for the DICOM fields this database has."""
    found = {}
    for category, candidates in CATEGORY_FIELDS.items():
        for lookup in candidates:
            if _lookup_exists(Scan, lookup):
                found[category] = lookup
                break
    return found


def _band(priority: int | None) -> str:
    return NO_CASE_BAND if priority is None else str(priority // 1000)


def _seconds(later: dt.datetime | None, earlier: dt.datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


def collect_counts(*, start: dt.datetime | None) -> dict[tuple[dt.date, str], dict]:
    """Fold every event at or after ``start`` (everything when None) into per (local day,
    model version) counts.

    1. Reported cases (by decision time): model vs final label, calibration, time from
       prediction to final label.
    2. Predictions (by prediction time): input statistics for drift, OOD, time from upload.
    3. Reads (by submission time): reader throughput, automation bias, agreement with the AI.
    4. Reads of reported double-read cases (by decision time): agreement with the final label.
    """
    buckets: dict[tuple[dt.date, str], dict] = defaultdict(metrics.empty_counts)

    def bucket(when: dt.datetime, version: str) -> dict:
        return buckets[(timezone.localdate(when), version)]

    # An unreadable / non-brain image has no tumour answer to judge the model by.
    cases = Case.objects.filter(status=Case.Status.DONE).exclude(final_label=UNREADABLE)
    predictions = Prediction.objects.all()
    reads = Review.objects.all()
    judged = Review.objects.filter(
        kind__in=(Review.Kind.FIRST, Review.Kind.SECOND), case__status=Case.Status.DONE
    ).exclude(case__resolution=Case.Resolution.SINGLE)
    if start is not None:
        cases = cases.filter(decided_at__gte=start)
        predictions = predictions.filter(created_at__gte=start)
        reads = reads.filter(created_at__gte=start)
        judged = judged.filter(case__decided_at__gte=start)

    for (
        decided,
        version,
        final,
        ai,
        suspected,
        probabilities,
        priority,
        predicted,
    ) in cases.values_list(
        "decided_at",
        "prediction__model_version",
        "final_label",
        "ai_label",
        "prediction__tumor_suspected",
        "prediction__probabilities",
        "priority",
        "prediction__created_at",
    ).iterator(chunk_size=5000):
        metrics.add_reviewed(
            bucket(decided, version),
            final_label=final,
            ai_label=ai,
            tumor_suspected=suspected,
            confidence=float(probabilities.get(ai, max(probabilities.values(), default=0.0))),
            prediction_to_final_s=_seconds(decided, predicted),
            band=_band(priority),
        )

    category_fields = scan_category_fields()
    columns = [
        "created_at",
        "model_version",
        "ood",
        "scan__uploaded_at",
        "scan__width",
        "scan__height",
        "scan__intensity_mean",
        "scan__intensity_std",
        "scan__case__priority",
    ] + [f"scan__{lookup}" for lookup in category_fields.values()]
    for row in predictions.values_list(*columns).iterator(chunk_size=5000):
        created, version, ood, uploaded, width, height, mean, std, priority = row[:9]
        categories = {
            category: str(value)
            for category, value in zip(category_fields, row[9:], strict=True)
            if value not in (None, "")
        }
        metrics.add_prediction(
            bucket(created, version),
            ood=ood,
            features={
                "width": width,
                "height": height,
                "aspect": width / height if height else 0.0,
                "mean_intensity": mean,
                "contrast": std,
            },
            edges=FEATURE_EDGES,
            categories=categories,
            upload_to_prediction_s=_seconds(created, uploaded),
            band=_band(priority),
        )

    for created, version, reader, kind, label, ai, initial in reads.values_list(
        "created_at",
        "case__prediction__model_version",
        "reader__username",
        "kind",
        "label",
        "ai_label",
        "initial_label",
    ).iterator(chunk_size=5000):
        metrics.add_read(
            bucket(created, version),
            reader=reader,
            first_read=kind == Review.Kind.FIRST,
            label=label,
            ai_label=ai,
            initial_label=initial,
        )

    for decided, version, reader, label, final in judged.values_list(
        "case__decided_at",
        "case__prediction__model_version",
        "reader__username",
        "label",
        "case__final_label",
    ).iterator(chunk_size=5000):
        metrics.add_read_vs_final(
            bucket(decided, version), reader=reader, label=label, final_label=final
        )
    return dict(buckets)


def quality_refresh(*, full: bool = False, now: dt.datetime | None = None) -> Refresh:
    """Rewrite the daily counts from yesterday on (or all of them), then check the alerts.

    Events are filed under the day they happened (decision, prediction, read), which is
    always "now" when they are written, so rewriting yesterday and today catches everything
    new since the last run, midnight included; an amendment changes the final class of a
    case decided on an older day, so that day is rewritten too. The first run, or ``full``,
    rebuilds all days.
    """
    now = now or timezone.now()
    started = time.perf_counter()
    first_day = None
    if not full and DailyCounts.objects.exists():
        first_day = timezone.localdate(now) - dt.timedelta(days=1)
        first_day = min(first_day, _amended_from(first_day) or first_day)
    start = (
        None
        if first_day is None
        else dt.datetime.combine(first_day, dt.time.min, tzinfo=timezone.get_current_timezone())
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A beat and a "Recompute now" at once would both rewrite the same days (and
            # could open the same alert twice); the second waits for the first.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REFRESH_LOCK_KEY])
        buckets = collect_counts(start=start)
        stale = DailyCounts.objects.all()
        if first_day is not None:
            stale = stale.filter(day__gte=first_day)
        stale.delete()
        DailyCounts.objects.bulk_create(
            DailyCounts(day=day, model_version=version, counts=counts, computed_at=now)
            for (day, version), counts in sorted(buckets.items())
        )
        refresh = Refresh.objects.create(
            started_at=now,
            finished_at=timezone.now(),
            first_day=first_day,
            rows=len(buckets),
            seconds=round(time.perf_counter() - started, 3),
        )
        # The job rows only say when the figures were last computed; a week of them is plenty.
        Refresh.objects.filter(finished_at__lt=now - dt.timedelta(days=7)).delete()
        quality_alerts_evaluate(now=now)
    return refresh


def _amended_from(since: dt.date) -> dt.date | None:
    """The first day holding a read of a case amended since ``since`` (its decision lies on
    or after that day), or None."""
    start = dt.datetime.combine(since, dt.time.min, tzinfo=timezone.get_current_timezone())
    first = Review.objects.filter(
        case__reviews__kind=Review.Kind.AMENDMENT, case__reviews__created_at__gte=start
    ).aggregate(first=Min("created_at"))["first"]
    return timezone.localdate(first) if first else None


def _recent_counts(*, days: int, now: dt.datetime) -> dict[str, dict]:
    since = timezone.localdate(now) - dt.timedelta(days=days - 1)
    merged: dict[str, dict] = {}
    for version, counts in DailyCounts.objects.filter(day__gte=since).values_list(
        "model_version", "counts"
    ):
        metrics.merge(merged.setdefault(version, metrics.empty_counts()), counts)
    return merged


@transaction.atomic
def quality_alerts_evaluate(*, now: dt.datetime | None = None) -> list[Alert]:
    """Open an alert episode for each failing check that has none open, close the episodes
    whose check passes again; audit each opening and closing once. Returns the open alerts.

    Checks, per model version seen recently and shipped with a reference:
    - sensitivity on the cases reported in the last QUALITY_SENSITIVITY_DAYS days is below
      the model card's 95 % interval (at least QUALITY_SENSITIVITY_MIN_POSITIVES tumours);
    - a fingerprinted input feature of the last QUALITY_DRIFT_DAYS days' scans has a PSI
      above QUALITY_DRIFT_PSI_THRESHOLD (at least QUALITY_DRIFT_MIN_SCANS scans).

    And once over every model version: of the last QUALITY_BIAS_DAYS days' blind first
    answers that differed from the AI (at least QUALITY_BIAS_MIN_DISAGREEMENTS), at least
    QUALITY_BIAS_SWITCH_SHARE were switched to the AI's answer after the reveal.
    """
    now = now or timezone.now()
    failing: dict[tuple[str, str], tuple[str, dict]] = {}
    for version, counts in _recent_counts(days=settings.QUALITY_SENSITIVITY_DAYS, now=now).items():
        reference = model_reference(version)
        sensitivity = metrics.model_vs_final(counts)["sensitivity"]
        if metrics.sensitivity_below_card(
            sensitivity, reference.card, min_positives=settings.QUALITY_SENSITIVITY_MIN_POSITIVES
        ):
            low, high = reference.card["sensitivity_ci95"]
            failing[(Alert.Kind.SENSITIVITY, version)] = (
                f"Tumour sensitivity of {version} on the last "
                f"{settings.QUALITY_SENSITIVITY_DAYS} days' reported cases is "
                f"{100 * sensitivity['value']:.1f} % ({sensitivity['successes']} of "
                f"{sensitivity['n']}), below the model card's 95 % interval "
                f"{100 * low:.1f}-{100 * high:.1f} %.",
                {"sensitivity": sensitivity, "card": reference.card},
            )
    for version, counts in _recent_counts(days=settings.QUALITY_DRIFT_DAYS, now=now).items():
        reference = model_reference(version)
        result = metrics.drift(
            counts,
            fingerprint=reference.fingerprint,
            psi_threshold=settings.QUALITY_DRIFT_PSI_THRESHOLD,
            min_scans=settings.QUALITY_DRIFT_MIN_SCANS,
        )
        if result["alert"]:
            drifted = {f["name"]: round(f["psi"], 3) for f in result["features"] if f["alert"]}
            failing[(Alert.Kind.DRIFT, version)] = (
                f"Input drift for {version} over the last {settings.QUALITY_DRIFT_DAYS} days "
                f"({result['scans']} scans): "
                + ", ".join(f"{name} PSI {score:.2f}" for name, score in drifted.items())
                + f" (threshold {result['threshold']:.2f}).",
                {"psi": drifted, "scans": result["scans"], "threshold": result["threshold"]},
            )

    bias = metrics.empty_counts()["bias"]
    for counts in _recent_counts(days=settings.QUALITY_BIAS_DAYS, now=now).values():
        metrics.merge(bias, counts["bias"])
    if metrics.automation_bias_alarm(
        bias,
        min_disagreements=settings.QUALITY_BIAS_MIN_DISAGREEMENTS,
        share=settings.QUALITY_BIAS_SWITCH_SHARE,
    ):
        switched = metrics.automation_bias(bias)["switched_to_ai"]
        failing[(Alert.Kind.AUTOMATION_BIAS, "")] = (
            f"Possible automation bias: of the last {settings.QUALITY_BIAS_DAYS} days' blind "
            f"first answers that differed from the AI, {switched['successes']} of "
            f"{switched['n']} ({100 * switched['value']:.0f} %) were changed to the AI's answer "
            f"after it was revealed (alert at {100 * settings.QUALITY_BIAS_SWITCH_SHARE:.0f} %).",
            {"switched_to_ai": switched, "bias": bias},
        )

    open_alerts = {
        (a.kind, a.model_version): a
        for a in Alert.objects.select_for_update().filter(closed_at__isnull=True)
    }
    for key, alert in open_alerts.items():
        if key not in failing:
            alert.closed_at = now
            alert.save(update_fields=["closed_at"])
            audit_record(
                action=Action.QUALITY_ALERT_CLEARED,
                target=alert,
                details={"kind": alert.kind, "model_version": alert.model_version},
            )
    still_open = [a for key, a in open_alerts.items() if key in failing]
    for (kind, version), (message, details) in failing.items():
        if (kind, version) in open_alerts:
            continue
        alert = Alert.objects.create(
            kind=kind, model_version=version, message=message, details=details, opened_at=now
        )
        audit_record(
            action=Action.QUALITY_ALERT_RAISED,
            target=alert,
            details={"kind": kind, "model_version": version, "message": message},
        )
        still_open.append(alert)
    return still_open
