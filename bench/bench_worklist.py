"""Time the radiologist's worklist page and the next-case claim with 10,000 cases.

    python bench/bench_worklist.py [--cases N] [--runs N]

Builds the cases in a scratch PostgreSQL database (test_<DATABASE name>_bench, dropped
afterwards), then times full requests through Django's test client: the middleware, the
session, the template, the queries. Prints the figures and writes docs/bench-worklist.md.
"""

from __future__ import annotations

import argparse
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


def build(n: int):
    """1. Users. 2. Scans, runs and predictions in bulk. 3. Cases with their triage priority."""
    import random
    from datetime import timedelta

    from django.contrib.auth.models import Group

    from reviews.models import Case
    from reviews.services import triage_priority
    from tumorapp.accounts.models import User
    from tumorapp.accounts.roles import Role
    from tumorapp.inference.models import InferenceRun, Prediction
    from tumorapp.scans.models import Scan

    rng = random.Random(5)
    tech = User.objects.create_user("bench-tech", password="x" * 16)
    tech.groups.add(Group.objects.get(name=Role.TECHNOLOGIST.value))
    readers = []
    for i in range(8):
        reader = User.objects.create_user(f"bench-rad{i}", password="x" * 16)
        reader.groups.add(Group.objects.get(name=Role.RADIOLOGIST.value))
        readers.append(reader)
    scans = Scan.objects.bulk_create(
        Scan(
            uploaded_by=tech,
            source_format="png",
            sha256=f"{i:064x}",
            size_bytes=40_000,
            image=f"scans/{i:064x}.png",
            width=512,
            height=512,
            intensity_mean=60.0,
            intensity_std=40.0,
            intensity_p01=0.0,
            intensity_p99=200.0,
            status="predicted",
        )
        for i in range(n)
    )
    runs = InferenceRun.objects.bulk_create(
        InferenceRun(scan=s, status="succeeded", model_version="bench", attempts=1) for s in scans
    )
    predictions = []
    for scan, run in zip(scans, runs, strict=True):
        label = rng.choice(LABELS)
        p_tumor = rng.uniform(0.0, 0.3) if label == "no_tumor" else rng.uniform(0.3, 1.0)
        top = max(p_tumor, 1 - p_tumor)
        probabilities = dict.fromkeys(LABELS, 0.0)
        probabilities[label] = top
        predictions.append(
            Prediction(
                scan=scan,
                run=run,
                model_version="bench",
                label=label,
                probabilities=probabilities,
                p_tumor=p_tumor,
                tumor_suspected=p_tumor >= 0.3,
                ood=rng.random() < 0.03,
            )
        )
    predictions = Prediction.objects.bulk_create(predictions)
    now = timezone.now()
    statuses = [Case.Status.FIRST_READ] * 7 + [Case.Status.SECOND_READ, Case.Status.DONE] * 1
    Case.objects.bulk_create(
        Case(
            scan_id=p.scan_id,
            prediction=p,
            ai_label=p.label,
            priority=triage_priority(prediction=p),
            opened_at=now - timedelta(minutes=rng.uniform(0, 600)),
            status=rng.choice(statuses),
            first_reader=readers[1],
        )
        for p in predictions
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return readers[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with scratch_database("bench"):
        started = time.perf_counter()
        reader = build(args.cases)
        build_s = time.perf_counter() - started
        from reviews.models import Case
        from reviews.services import case_claim_next, case_release

        client = Client()
        client.force_login(reader)
        rows = []

        def page(query=""):
            def get():
                response = client.get("/worklist/" + query)
                assert response.status_code == 200, response.status_code

            return get

        for name, query in (
            ("Worklist, all open cases", ""),
            ("Worklist, filtered by AI class", "?predicted=glioma"),
            ("Worklist, filtered by status", "?status=second_read"),
        ):
            rows.append((name, summary(timed(page(query), args.runs))))

        def claim_and_release():
            case = case_claim_next(reader=reader)
            case_release(case=case, reader=reader)

        rows.append(
            ("Next-case claim + release (services)", summary(timed(claim_and_release, args.runs)))
        )
        with CaptureQueriesContext(connection) as queries:
            page()()
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN ANALYZE SELECT * FROM reviews_case WHERE NOT (status = 'done') "
                "ORDER BY priority, opened_at LIMIT 50"
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
        total = Case.objects.count()

    lines = [
        "# Worklist benchmark",
        "",
        f"`python bench/bench_worklist.py --cases {args.cases} --runs {args.runs}` on "
        f"{platform.node() or 'this machine'} ({os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, PostgreSQL). {total} cases, each a scan with its "
        f"prediction, built in {build_s:.1f} s.",
        "",
        "Full requests through Django's test client (middleware, session, template, queries); "
        f"{args.runs} timed runs after one warm-up. The tail (p95, max) moves with other load on "
        "the machine; the median is the figure to compare. Target: under 300 ms.",
        "",
        "| What | Time |",
        "| --- | --- |",
        *[f"| {name} | {figures} |" for name, figures in rows],
        "",
        f"The worklist page ran {len(queries)} queries. Plan of its case query:",
        "",
        "```",
        plan,
        "```",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (REPO / "docs" / "bench-worklist.md").write_text(text)


if __name__ == "__main__":
    main()
