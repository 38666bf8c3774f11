"""Time the quality dashboard with 100,000 reviewed cases.

    python bench/bench_quality.py [--cases N] [--days N] [--runs N]

Builds the cases (scan, run, prediction, reported case, first read) with bulk_create in a
scratch PostgreSQL database (test_<DATABASE name>_bench, dropped afterwards), spread over
``--days`` days. Then times: the full roll-up (first run of the beat task), the incremental
roll-up every beat does (yesterday and today), the dashboard page and the JSON API through
Django's test client, and for comparison the figures computed straight from the cases with no
roll-up. Prints the figures and writes docs/bench-quality.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tumorapp.settings.test")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.common import scratch_database, summary, timed  # noqa: E402

LABELS = ("glioma", "meningioma", "pituitary", "no_tumor")
BATCH = 5000


def build(n: int, days: int):
    """1. Users. 2. Scans, runs, predictions, cases and first reads in bulk, spread over
    ``days`` days, with their real timestamps (auto_now_add is switched off for the build)."""
    import random
    from datetime import timedelta

    from django.contrib.auth.models import Group

    from reviews.models import Case, Review
    from tumorapp.accounts.models import User
    from tumorapp.accounts.roles import Role
    from tumorapp.inference.models import InferenceRun, Prediction
    from tumorapp.scans.models import Scan

    for model, name in (
        (Scan, "uploaded_at"),
        (InferenceRun, "queued_at"),
        (Prediction, "created_at"),
        (Review, "created_at"),
    ):
        model._meta.get_field(name).auto_now_add = False

    rng = random.Random(9)
    tech = User.objects.create_user("bench-tech", password="x" * 16)
    tech.groups.add(Group.objects.get(name=Role.TECHNOLOGIST.value))
    admin = User.objects.create_user("bench-admin", password="x" * 16)
    admin.groups.add(Group.objects.get(name=Role.ADMIN.value))
    readers = []
    for i in range(12):
        reader = User.objects.create_user(f"bench-rad{i}", password="x" * 16)
        reader.groups.add(Group.objects.get(name=Role.RADIOLOGIST.value))
        readers.append(reader)
    now = timezone.now()
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        uploaded = [now - timedelta(days=rng.uniform(0, days)) for _ in range(size)]
        scans = Scan.objects.bulk_create(
            Scan(
                uploaded_by=tech,
                uploaded_at=uploaded[k],
                source_format="png",
                sha256=f"{start + k:064x}",
                size_bytes=40_000,
                image=f"scans/{start + k:064x}.png",
                width=rng.choice((512, 512, 512, 256, 630)),
                height=512,
                intensity_mean=rng.gauss(60, 12),
                intensity_std=rng.gauss(45, 8),
                intensity_p01=0.0,
                intensity_p99=200.0,
                status="predicted",
            )
            for k in range(size)
        )
        runs = InferenceRun.objects.bulk_create(
            InferenceRun(
                scan=s,
                status="succeeded",
                model_version="bench",
                attempts=1,
                queued_at=s.uploaded_at,
            )
            for s in scans
        )
        predictions = []
        for scan, run in zip(scans, runs, strict=True):
            label = rng.choice(LABELS)
            top = rng.uniform(0.4, 1.0)
            probabilities = dict.fromkeys(LABELS, (1 - top) / 3)
            probabilities[label] = top
            predictions.append(
                Prediction(
                    scan=scan,
                    run=run,
                    model_version="bench",
                    label=label,
                    probabilities=probabilities,
                    p_tumor=1 - probabilities["no_tumor"],
                    tumor_suspected=label != "no_tumor",
                    ood=rng.random() < 0.03,
                    created_at=scan.uploaded_at + timedelta(seconds=rng.uniform(5, 120)),
                )
            )
        predictions = Prediction.objects.bulk_create(predictions)
        cases = []
        for p in predictions:
            final = p.label if rng.random() < 0.85 else rng.choice(LABELS)
            cases.append(
                Case(
                    scan_id=p.scan_id,
                    prediction=p,
                    ai_label=p.label,
                    priority=(2 if p.tumor_suspected else 4) * 1000 + rng.randrange(1000),
                    opened_at=p.created_at,
                    status=Case.Status.DONE,
                    first_reader=rng.choice(readers),
                    final_label=final,
                    resolution=Case.Resolution.SINGLE,
                    decided_at=min(now, p.created_at + timedelta(hours=rng.uniform(0.1, 30))),
                )
            )
        cases = Case.objects.bulk_create(cases)
        Review.objects.bulk_create(
            Review(
                case=c,
                reader=c.first_reader,
                kind=Review.Kind.FIRST,
                ai_label=c.ai_label,
                initial_label=rng.choice(LABELS) if rng.random() < 0.3 else "",
                label=c.final_label,
                created_at=c.decided_at,
            )
            for c in cases
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with scratch_database("bench"):
        started = time.perf_counter()
        admin = build(args.cases, args.days)
        build_s = time.perf_counter() - started

        from reviews.models import Case
        from tumorapp.quality import metrics
        from tumorapp.quality.models import DailyCounts
        from tumorapp.quality.selectors import QualityFilters
        from tumorapp.quality.services import collect_counts, quality_refresh

        rows = []
        full = quality_refresh(full=True)
        rows.append(("Full roll-up (first beat, all days)", f"{1000 * full.seconds:7.0f} ms"))
        incremental = [quality_refresh().seconds * 1000 for _ in range(5)]
        rows.append(("Incremental roll-up (each beat: yesterday + today)", summary(incremental)))

        client = Client()
        client.force_login(admin)

        def get(url):
            def fetch():
                response = client.get(url)
                assert response.status_code == 200, response.status_code

            return fetch

        year_ago = (timezone.localdate() - dt.timedelta(days=364)).isoformat()
        for name, url in (
            ("Dashboard page, default range (90 days)", "/quality/"),
            ("Dashboard page, one year", f"/quality/?start={year_ago}"),
            (
                "Dashboard page, one model version, one year",
                f"/quality/?start={year_ago}&model_version=bench",
            ),
            ("JSON API, one year", f"/api/v1/quality/?start={year_ago}"),
        ):
            rows.append((name, summary(timed(get(url), args.runs))))

        def without_rollups():
            everything = metrics.empty_counts()
            for counts in collect_counts(start=None).values():
                metrics.merge(everything, counts)
            metrics.figures(everything)

        rows.append(
            (
                "Same figures straight from the cases (no roll-up)",
                summary(timed(without_rollups, 3)),
            )
        )
        with CaptureQueriesContext(connection) as queries:
            get(f"/quality/?start={year_ago}")()
        total = Case.objects.filter(status=Case.Status.DONE).count()
        day_rows = DailyCounts.objects.count()
        default = QualityFilters.default()

    lines = [
        "# Quality dashboard benchmark",
        "",
        f"`python bench/bench_quality.py --cases {args.cases} --days {args.days} "
        f"--runs {args.runs}` on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} CPUs shared with other work, "
        f"Python {platform.python_version()}, PostgreSQL). {total:,} reviewed cases (each a scan, "
        f"run, prediction, reported case and first read) over {args.days} days, built with "
        f"bulk_create in {build_s:.0f} s; the roll-up holds {day_rows} day rows.",
        "",
        "The page never reads the cases: the beat task `quality.refresh` (every 5 minutes) folds "
        "each day's events into one row of additive counts per day and model version, and the "
        "page sums the rows of the chosen range. Requests go through Django's test client "
        f"(middleware, session, template, queries); {args.runs} timed runs after one warm-up. "
        "The median is the figure to compare; the tail moves with other load on the machine. "
        f"The default range is {default.start} to {default.end}.",
        "",
        "| What | Time |",
        "| --- | --- |",
        *[f"| {name} | {figures} |" for name, figures in rows],
        "",
        f"The one-year dashboard page ran {len(queries)} queries.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (REPO / "docs" / "bench-quality.md").write_text(text)


if __name__ == "__main__":
    main()
