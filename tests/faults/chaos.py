"""A chaos round: upload scans, SIGKILL a busy worker every few seconds and start a fresh one,
then count what became of every scan.

The count reads the database, never the workers' word for it: a scan is *done* when its run
succeeded with exactly one prediction and one "prediction made" audit event, *duplicated*
when it has more than one of either, *failed* when its run was given up, and *stuck* when its
run is still queued or running once nothing has moved for longer than a lease and two sweeps.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count

from tests.faults.harness import Api, Site
from tests.tumorapp.scans import images
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.scans.models import Scan


@dataclass
class Report:
    uploaded: int = 0
    done: int = 0
    failed: int = 0
    stuck: int = 0
    lost: int = 0  # accepted by the API but no run row at all
    duplicated: int = 0
    kills: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"uploaded {self.uploaded}, done {self.done}, failed {self.failed}, stuck "
            f"{self.stuck}, lost {self.lost}, duplicated {self.duplicated}, kills {self.kills}, "
            f"{self.seconds:.1f} s"
        )


def upload_scans(api: Api, count: int, *, first_seed: int = 0) -> list[str]:
    """Upload ``count`` distinct images; returns the scans' public ids."""
    ids = []
    for seed in range(first_seed, first_seed + count):
        response = api.upload(f"chaos-{seed}.jpg", images.jpeg_bytes(96, 96, seed=seed))
        assert response.status_code == 201, response.text
        ids.append(response.json()["results"][0]["scan"]["id"])
    return ids


def _busy_workers(site: Site) -> list[str]:
    """Names of live workers holding a running run (the worker column is ``name@host:pid``).

    A worker on a run's last allowed attempt is spared: a scan whose worker dies on every
    attempt is given up as poison by design (tests/faults/test_poison.py), and a monkey that
    only ever kills busy workers would otherwise hunt down the retried scans at the end."""
    held = InferenceRun.objects.filter(
        status=InferenceRun.Status.RUNNING, attempts__lt=settings.INFERENCE_MAX_ATTEMPTS
    ).values_list("worker", flat=True)
    names = {w.split("@", 1)[0] for w in held}
    return [n for n in site.procs.procs if n in names]


def _unfinished(scan_ids: list[str]) -> int:
    return InferenceRun.objects.filter(
        scan__public_id__in=scan_ids,
        status__in=(InferenceRun.Status.QUEUED, InferenceRun.Status.RUNNING),
    ).count()


def chaos_round(
    site: Site,
    scan_ids: list[str],
    *,
    kills: int,
    every: float,
    quiet: float,
    deadline: float,
    worker_settings: str | None = None,
    seed: int = 1,
) -> Report:
    """Kill a busy worker every ``every`` seconds (``kills`` times) and replace it; then wait
    until every run finished, or until nothing finished for ``quiet`` seconds, or
    ``deadline`` seconds in all; then count."""
    rng = random.Random(seed)
    started = time.monotonic()
    report = Report(uploaded=len(scan_ids))
    next_kill = started + every
    last_left, last_change = _unfinished(scan_ids), started
    while time.monotonic() - started < deadline:
        now = time.monotonic()
        left = _unfinished(scan_ids)
        if left != last_left:
            last_left, last_change = left, now
        if left == 0:
            break
        if report.kills < kills and now >= next_kill:
            busy = _busy_workers(site)
            if busy:
                victim = rng.choice(busy)
                site.procs.kill(victim)
                site.start_worker(settings=worker_settings)
                report.kills += 1
                next_kill = now + every
        elif report.kills >= kills and now - last_change > quiet:
            break
        time.sleep(0.2)
    report.seconds = time.monotonic() - started
    return count(scan_ids, report)


def count(scan_ids: list[str], report: Report) -> Report:
    scans = {
        str(s.public_id): s
        for s in Scan.objects.filter(public_id__in=scan_ids).annotate(
            n_runs=Count("runs", distinct=True)
        )
    }
    predictions = dict(
        Prediction.objects.filter(scan__public_id__in=scan_ids)
        .values_list("scan__public_id")
        .annotate(n=Count("id"))
    )
    made = dict(
        AuditEvent.objects.filter(action=Action.PREDICTION_MADE, target_id__in=list(scans.keys()))
        .values_list("target_id")
        .annotate(n=Count("id"))
    )
    for scan_id in scan_ids:
        scan = scans.get(scan_id)
        run = InferenceRun.objects.filter(scan__public_id=scan_id).order_by("-pk").first()
        n_pred = predictions.get(_uuid(scan_id), 0)
        n_made = made.get(scan_id, 0)
        if scan is None or run is None:
            report.lost += 1
            report.failures.append(f"{scan_id}: no scan or no run")
        elif scan.n_runs > 1 or n_pred > 1 or n_made > 1:
            report.duplicated += 1
            report.failures.append(f"{scan_id}: {scan.n_runs} runs, {n_pred} predictions")
        elif run.status == InferenceRun.Status.SUCCEEDED and n_pred == 1 and n_made == 1:
            report.done += 1
        elif run.status == InferenceRun.Status.FAILED:
            report.failed += 1
            report.failures.append(f"{scan_id}: failed: {run.error}")
        else:
            report.stuck += 1
            report.failures.append(f"{scan_id}: {run.status}, attempts {run.attempts}")
    return report


def _uuid(value: str):
    import uuid

    return uuid.UUID(value)
