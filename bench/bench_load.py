"""Load test: simulated users doing what each role does, against a production-like stack.

    .venv/bin/python bench/bench_load.py                 # 50 users, 5 minutes, the shipped model
    .venv/bin/python bench/bench_load.py --minutes 1 --users 20 --predictor fake

Starts its own stack on free ports and stops it at the end: a private PostgreSQL 15 cluster
(fsync on), a private Redis, gunicorn (4 workers x 4 threads, keep-alive 10 s, base settings,
DEBUG off, static files collected), 2 Celery inference workers (prefork, the shipped
model) and beat with the sweeper. The upload, login and per-user throttles are raised
through THROTTLE_* for the run: fifty simulated people share one IP address.

Users (30% technologists, 60% radiologists, 10% admins):
- technologist (API token): upload a real slice, read the scan back, list their uploads;
- radiologist (signed-in pages): worklist, "next case", the case page and its image,
  submit a read (sometimes disagreeing, with a reason), back to the worklist;
- admin (signed-in pages): the audit log, filtered by action, and its second page.
Each waits 1-4 s between steps. A warm-up uploads 150 slices and lets the model read them so
radiologists have work at the start, then runs every user for 30 s unmeasured (each gunicorn
worker imports its views on first use). Prints requests/s, p50/p95/p99 per endpoint, errors, and
the resident memory (RSS) of the web and worker process groups after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml import DEFAULT_DATA_DIR  # noqa: E402
from tests.faults.harness import (  # noqa: E402
    Api,
    PrivatePostgres,
    PrivateRedis,
    Processes,
    Site,
    collect_static,
    site_env,
    wait_until,
)

DATA = DEFAULT_DATA_DIR
LABELS = ("glioma", "meningioma", "pituitary", "no_tumor")
PASSWORD = "load-test password 42"  # noqa: S105 - users of a throwaway database
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CASE_URL = re.compile(r"/worklist/cases/([0-9a-f-]{36})/")

SEED = """
import json, django
django.setup()
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from reviews.models import SiteOptions
from tumorapp.accounts.models import User
from tumorapp.accounts.roles import Role
spec = json.loads({spec!r})
SiteOptions.objects.update_or_create(pk=1, defaults={{"double_read_rate": 0.1}})
tokens = {{}}
for role, names in spec.items():
    group = Group.objects.get(name=Role(role).value)
    for name in names:
        user = User.objects.create_user(username=name, password={password!r})
        user.groups.set([group])
        tokens[name] = Token.objects.create(user=user).key
print(json.dumps(tokens))
"""


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.started = self.stopped = 0.0

    def timed(self, name: str, call, *args, expect=(200,), **kwargs):
        started = time.perf_counter()
        try:
            response = call(*args, **kwargs)
        except requests.RequestException as exc:
            with self.lock:
                self.errors[name].append(f"{type(exc).__name__}: {str(exc)[:90]}")
            return None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.samples[name].append(elapsed)
            if response.status_code not in expect:
                self.errors[name].append(str(response.status_code))
        return response


def _images() -> list[Path]:
    files = sorted(DATA.glob("*/*/*.jpg"))
    random.Random(7).shuffle(files)
    return files


class ImagePool:
    """Each real slice is uploaded once (a repeat would be a duplicate, not a new scan)."""

    def __init__(self):
        self.files = _images()
        self.lock = threading.Lock()

    def take(self) -> tuple[str, bytes]:
        with self.lock:
            path = self.files.pop() if self.files else None
        if path is None:  # the data set ran out: a fresh noise image, never a duplicate
            import io

            import numpy as np
            from PIL import Image

            out = io.BytesIO()
            noise = np.random.default_rng().integers(0, 256, (256, 256), dtype=np.uint8)
            Image.fromarray(noise, "L").save(out, format="JPEG")
            return "generated.jpg", out.getvalue()
        return path.name, path.read_bytes()


def _signed_in(base: str, username: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{base}/accounts/login/", timeout=30).text
    browser.post(
        f"{base}/accounts/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": CSRF.search(form).group(1),
        },
        timeout=30,
        allow_redirects=False,
    )
    return browser


def _csrf(browser: requests.Session) -> str:
    return browser.cookies.get("csrftoken", "")


def technologist(base, token, stats: Stats, pool: ImagePool, stop: threading.Event, rng):
    api = Api(base, token)
    while not stop.is_set():
        name, data = pool.take()
        upload = "POST /api/v1/scans/ (upload)"
        response = stats.timed(upload, api.upload, name, data, expect=(200, 201))
        if response is not None and response.status_code in (200, 201):
            scan = response.json()["results"][0]["scan"]
            if scan:
                stop.wait(rng.uniform(1, 3))
                stats.timed("GET /api/v1/scans/{id}/", api.get, f"/api/v1/scans/{scan['id']}/")
        stats.timed("GET /api/v1/scans/?mine=1", api.get, "/api/v1/scans/?mine=1")
        stop.wait(rng.uniform(1, 4))


def radiologist(base, username, stats: Stats, stop: threading.Event, rng):
    browser = _signed_in(base, username)
    while not stop.is_set():
        stats.timed("GET /worklist/", browser.get, f"{base}/worklist/", timeout=30)
        stop.wait(rng.uniform(1, 3))
        taken = stats.timed(
            "POST /worklist/next/",
            browser.post,
            f"{base}/worklist/next/",
            data={"csrfmiddlewaretoken": _csrf(browser)},
            allow_redirects=False,
            timeout=30,
            expect=(302,),
        )
        found = CASE_URL.search(taken.headers.get("Location", "")) if taken is not None else None
        if found is None:  # nothing waiting: back to the worklist after a pause
            stop.wait(rng.uniform(2, 4))
            continue
        case = f"{base}/worklist/cases/{found.group(1)}/"
        stats.timed("GET /worklist/cases/{id}/", browser.get, case, timeout=30)
        stats.timed("GET /worklist/cases/{id}/image/", browser.get, f"{case}image/", timeout=30)
        stop.wait(rng.uniform(2, 4))  # reading the slice
        stats.timed(
            "POST /worklist/cases/{id}/ (read)",
            browser.post,
            case,
            # "other" is accepted when the read agrees with the AI and required when not
            data={
                "csrfmiddlewaretoken": _csrf(browser),
                "label": rng.choice(LABELS),
                "reason": "other",
            },
            allow_redirects=False,
            timeout=30,
            expect=(302,),
        )


def admin(base, username, stats: Stats, stop: threading.Event, rng):
    browser = _signed_in(base, username)
    pages = ("/audit/", "/audit/?action=review.submitted", "/audit/?page=2")
    while not stop.is_set():
        for page in pages:
            stats.timed(f"GET {page}", browser.get, base + page, timeout=30)
            stop.wait(rng.uniform(1, 4))


def _rss_by_group(procs: Processes) -> dict[str, float]:
    """Resident memory (MiB) of every process in each named process group."""
    groups = {proc.pid: name for name, proc in procs.procs.items()}
    totals: dict[str, float] = defaultdict(float)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pgrp = int(fields[2])
            if pgrp in groups:
                status = (stat.parent / "status").read_text()
                kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
                totals[groups[pgrp]] += kib / 1024
        except (OSError, AttributeError, IndexError, ValueError):
            continue
    return dict(totals)


def _percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def report(stats: Stats, rss_start, rss_end, args) -> dict:
    seconds = stats.stopped - stats.started
    rows = []
    for name in sorted(stats.samples):
        values = stats.samples[name]
        rows.append(
            {
                "endpoint": name,
                "requests": len(values),
                "per_s": round(len(values) / seconds, 2),
                "p50_ms": round(_percentile(values, 50) * 1000, 1),
                "p95_ms": round(_percentile(values, 95) * 1000, 1),
                "p99_ms": round(_percentile(values, 99) * 1000, 1),
                "errors": len(stats.errors.get(name, [])),
            }
        )
    total = sum(r["requests"] for r in rows)
    print(f"\n{args.users} users, {seconds:.0f} s, {total} requests, {total / seconds:.1f} req/s")
    print("\n| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| `{r['endpoint']}` | {r['requests']} | {r['per_s']} | {r['p50_ms']} | "
            f"{r['p95_ms']} | {r['p99_ms']} | {r['errors']} |"
        )
    errors = {name: sorted(set(codes)) for name, codes in stats.errors.items() if codes}
    print(f"\nerrors: {sum(len(c) for c in stats.errors.values())} {errors or ''}")
    print("\n| process group | RSS after warm-up (MiB) | RSS at end (MiB) | growth |")
    print("|---|---:|---:|---:|")
    for name in sorted(rss_start):
        start, end = rss_start[name], rss_end.get(name, 0.0)
        print(f"| {name} | {start:.0f} | {end:.0f} | {100 * (end - start) / start:+.1f}% |")
    return {
        "seconds": seconds,
        "rows": rows,
        "errors": errors,
        "rss_start": rss_start,
        "rss_end": rss_end,
    }


def run_users(base, spec, tokens, pool, seconds: float, stats: Stats, *, seed: int) -> Stats:
    """Run every simulated user for ``seconds``; they arrive over a few seconds."""
    stop = threading.Event()
    rng = random.Random(seed)
    threads = [
        threading.Thread(
            target=technologist,
            args=(base, tokens[n], stats, pool, stop, random.Random(rng.random())),
        )
        for n in spec["technologist"]
    ]
    threads += [
        threading.Thread(target=role, args=(base, n, stats, stop, random.Random(rng.random())))
        for role, names in ((radiologist, spec["radiologist"]), (admin, spec["admin"]))
        for n in names
    ]
    rng.shuffle(threads)
    stats.started = time.monotonic()
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    stats.stopped = time.monotonic()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--predictor", choices=("real", "fake"), default="real")
    parser.add_argument("--warmup-scans", type=int, default=150)
    parser.add_argument("--warmup-seconds", type=float, default=30)
    parser.add_argument(
        "--json",
        type=Path,
        default=REPO / "docs" / "bench-load.json",
        help="also write the figures here (docs/reliability.md quotes them)",
    )
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in this folder")
    args = parser.parse_args()

    n_tech = max(1, round(args.users * 0.3))
    n_admin = max(1, round(args.users * 0.1))
    n_rad = args.users - n_tech - n_admin
    spec = {
        "technologist": [f"tech{i}" for i in range(n_tech)],
        "radiologist": [f"rad{i}" for i in range(n_rad)],
        "admin": [f"admin{i}" for i in range(n_admin)],
    }
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    (work / "logs").mkdir()
    procs = Processes(work / "logs")
    pg = PrivatePostgres(fsync=True)
    try:
        pg.init()
        redis_server = PrivateRedis(procs)
        redis_server.start()
        env = site_env(
            database_url=pg.url(),
            broker_url=redis_server.url,
            media_root=work / "media",
            static_root=collect_static(work / "static"),
            THROTTLE_LOGIN="100000/min",
            INFERENCE_LEASE_SECONDS="360",
            INFERENCE_SWEEP_SECONDS="30",
        )
        if args.predictor == "real":
            env["INFERENCE_PREDICTOR"] = "ml.predict.Predictor"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True
        )
        seeded = subprocess.run(
            [sys.executable, "-c", SEED.format(spec=json.dumps(spec), password=PASSWORD)],
            cwd=REPO, env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        tokens = json.loads(seeded.stdout.strip().splitlines()[-1])
        site = Site(procs, env)
        # Users pause up to 4 s between requests on a kept-alive connection; gunicorn's 2 s
        # default would close it under them (a reverse proxy holds it in production).
        site.start_web(workers=4, threads=4, keepalive=10)
        site.start_sweeper(work)
        site.start_worker(pool="prefork")
        site.start_worker(pool="prefork")

        print(f"warm-up: uploading {args.warmup_scans} slices and waiting for the model")
        pool = ImagePool()
        api = Api(site.base, tokens["tech0"])
        for _ in range(args.warmup_scans):
            api.upload(*pool.take())
        wait_until(
            lambda: api.get("/api/v1/scans/?status=queued").json()["count"] == 0,
            timeout=600,
            what="the warm-up scans to be predicted",
            logs=procs.logs,
        )
        # Every gunicorn worker imports its views on first use: warm them up, unmeasured.
        print(f"warm-up: all users for {args.warmup_seconds} s, not measured")
        run_users(site.base, spec, tokens, pool, args.warmup_seconds, Stats(), seed=1)
        rss_start = _rss_by_group(procs)
        print(f"running {args.users} users for {args.minutes} min")
        stats = run_users(site.base, spec, tokens, pool, args.minutes * 60, Stats(), seed=2)
        rss_end = _rss_by_group(procs)
        figures = report(stats, rss_start, rss_end, args)
        queued = api.get("/api/v1/scans/?status=queued").json()["count"]
        print(f"\nscans still queued for the model at the end: {queued}")
        if args.json:
            args.json.write_text(json.dumps({**figures, "queued_at_end": queued}, indent=2))
    finally:
        procs.close()
        pg.close()
        if args.logs:
            shutil.copytree(work / "logs", args.logs, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
