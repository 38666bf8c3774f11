"""Time a dataset export of 10,000 reviewed cases and measure its peak memory.

    python bench/bench_export.py [--cases N]

1. In a scratch PostgreSQL database (test_<DATABASE name>_exportbench, dropped afterwards)
   and a scratch storage folder, build N reported cases, each a stored 256x256 PNG slice
   (distinct smooth patterns, so perceptual hashes differ as real slices do) with its
   prediction and a first read (a quarter of them corrections).
2. Run the export in a fresh child process (``--child``) exactly as the worker does
   (``export_build``), so its peak resident memory is the export's own and not the builder's.
3. Print the figures and write docs/bench-export.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tumorapp.settings.test")
# Scratch storage (and embedded secrets) for this run only: test settings store under VAR_DIR.
SCRATCH = Path(os.environ.setdefault("TUMORAPP_VAR_DIR", tempfile.mkdtemp(prefix="bench-export-")))

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.common import scratch_database  # noqa: E402

LABELS = ("glioma", "meningioma", "pituitary", "no_tumor")


def slice_png(rng, size: int = 256) -> bytes:
    """A smooth random pattern inside an ellipse: compresses like an MRI slice (tens of KB)."""
    import io

    import numpy as np
    from PIL import Image

    coarse = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    pattern = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), float)
    yy, xx = np.mgrid[0:size, 0:size]
    inside = ((yy - size / 2) / (size * 0.42)) ** 2 + ((xx - size / 2) / (size * 0.36)) ** 2 < 1
    pixels = np.where(inside, pattern + rng.normal(0, 4, pattern.shape), 0)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def build(n: int) -> int:
    """Users, stored images, scans, runs, predictions, reported cases and reads, in bulk."""
    import hashlib
    import random

    import numpy as np
    from django.contrib.auth.models import Group
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from reviews.models import Case, Review
    from tumorapp.accounts.models import User
    from tumorapp.accounts.roles import Role
    from tumorapp.datasets.models import DatasetExport
    from tumorapp.inference.models import InferenceRun, Prediction
    from tumorapp.scans.models import Scan

    rng, np_rng = random.Random(7), np.random.default_rng(7)
    tech = User.objects.create_user("bench-tech", password="x" * 16)
    tech.groups.add(Group.objects.get(name=Role.TECHNOLOGIST.value))
    reader = User.objects.create_user("bench-rad", password="x" * 16)
    reader.groups.add(Group.objects.get(name=Role.RADIOLOGIST.value))
    team = User.objects.create_user("bench-data", password="x" * 16)
    team.groups.add(Group.objects.get(name=Role.DATA_TEAM.value))
    scans = []
    for _ in range(n):
        png = slice_png(np_rng)
        sha = hashlib.sha256(png).hexdigest()
        key = default_storage.save(f"scans/{sha[:2]}/{sha}.png", ContentFile(png))
        scans.append(
            Scan(
                uploaded_by=tech,
                original_filename="Doe^John.png",
                source_format="png",
                sha256=sha,
                size_bytes=len(png),
                image=key,
                width=256,
                height=256,
                intensity_mean=60.0,
                intensity_std=40.0,
                intensity_p01=0.0,
                intensity_p99=200.0,
                status="predicted",
            )
        )
    scans = Scan.objects.bulk_create(scans, batch_size=1000)
    runs = InferenceRun.objects.bulk_create(
        (
            InferenceRun(scan=s, status="succeeded", model_version="bench", attempts=1)
            for s in scans
        ),
        batch_size=1000,
    )
    predictions = []
    for scan, run in zip(scans, runs, strict=True):
        label = rng.choice(LABELS)
        probabilities = dict.fromkeys(LABELS, 0.1)
        probabilities[label] = 0.7
        predictions.append(
            Prediction(
                scan=scan,
                run=run,
                model_version="bench",
                label=label,
                probabilities=probabilities,
                p_tumor=0.2 if label == "no_tumor" else 0.8,
                tumor_suspected=label != "no_tumor",
                ood=False,
            )
        )
    predictions = Prediction.objects.bulk_create(predictions, batch_size=1000)
    now = timezone.now()
    cases, finals = [], []
    for p in predictions:
        final = rng.choice(LABELS) if rng.random() < 0.25 else p.label
        finals.append(final)
        cases.append(
            Case(
                scan_id=p.scan_id,
                prediction=p,
                ai_label=p.label,
                priority=4000,
                opened_at=now,
                status=Case.Status.DONE,
                first_reader=reader,
                final_label=final,
                resolution=Case.Resolution.SINGLE,
                decided_at=now,
            )
        )
    cases = Case.objects.bulk_create(cases, batch_size=1000)
    Review.objects.bulk_create(
        (
            Review(
                case=c,
                reader=reader,
                kind=Review.Kind.FIRST,
                ai_label=c.ai_label,
                label=final,
                reason="" if final == c.ai_label else "other",
            )
            for c, final in zip(cases, finals, strict=True)
        ),
        batch_size=1000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return DatasetExport.objects.create(created_by=team).pk


def child(export_id: int) -> None:
    """The worker's side: one export task (claim, heartbeat, export_build), figures as JSON
    on stdout."""
    from tumorapp.datasets.models import DatasetExport
    from tumorapp.datasets.tasks import build_export

    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    build_export.apply(args=[export_id])
    seconds = time.perf_counter() - started
    export = DatasetExport.objects.get(pk=export_id)
    print(
        json.dumps(
            {
                "status": export.status,
                "error": export.error,
                "images": export.total,
                "seconds": round(seconds, 1),
                "zip_bytes": export.size_bytes,
                "counts": export.counts,
                "baseline_rss_mb": round(baseline_kb / 1024, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    database = connection.settings_dict
    try:
        with scratch_database("exportbench") as test_name:
            started = time.perf_counter()
            export_id = build(args.cases)
            build_s = time.perf_counter() - started
            user, host, port = database["USER"], database["HOST"], database["PORT"] or 5432
            env = {
                **os.environ,
                "DATABASE_URL": f"postgres://{user}@{host}:{port}/{test_name}",
                "TUMORAPP_VAR_DIR": str(SCRATCH),
            }
            if database.get("PASSWORD"):
                env["DATABASE_URL"] = (
                    f"postgres://{user}:{database['PASSWORD']}@{host}:{port}/{test_name}"
                )
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(export_id)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)

    assert result["status"] == "succeeded", result["error"]
    rate = result["images"] / result["seconds"]
    lines = [
        "# Dataset export benchmark",
        "",
        f"`python bench/bench_export.py --cases {args.cases}` on "
        f"{platform.node() or 'this machine'} ({os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, PostgreSQL, local file storage). "
        f"{args.cases} reported cases, each a stored 256x256 PNG slice with its prediction and "
        f"first read, built in {build_s:.0f} s.",
        "",
        "The export runs in a fresh process exactly as the worker runs it (the job task: "
        "claim the row and keep its lease by heartbeat; `export_build`: query with joins and "
        "prefetches, read each PNG from storage, perceptual hash and split group, write it "
        "into a zip in the job's scratch folder, manifest rows to CSV and JSONL files beside "
        "it, then save the zip to storage and publish the row and the items in bulk).",
        "",
        "| What | Figure |",
        "| --- | --- |",
        f"| Images exported | {result['images']} |",
        f"| Time | {result['seconds']:.1f} s ({rate:.0f} images/s) |",
        f"| Zip size | {result['zip_bytes'] / 1e6:.0f} MB |",
        f"| Peak resident memory of the process | {result['peak_rss_mb']:.0f} MB "
        f"(of which {result['baseline_rss_mb']:.0f} MB is Django loaded, before the export) |",
        f"| Splits | {json.dumps({k: sum(v.values()) for k, v in result['counts'].items()})} |",
        "",
        "Memory holds one image at a time plus one small row object per image (the export's "
        "items, written in bulk at the end, and the split-group index); the zip and the "
        "manifests are on disk until the zip is handed to storage as a file.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (REPO / "docs" / "bench-export.md").write_text(text)


if __name__ == "__main__":
    main()
