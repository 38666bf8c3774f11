"""Real processes for the fault suite: a private Redis, a private PostgreSQL cluster, the site
under gunicorn, Celery workers and the beat sweeper, each in its own process group, and an
HTTP client that retries the way a careful client does.

Nothing here touches the shared services on 6379 and 5432 except the pytest database the
caller names. ``Processes.close`` kills every group it started, so a failing test leaves
nothing running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
FAKE = "tests.tumorapp.inference.fakes.FakePredictor"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, logs=None):
    """Poll ``predicate`` until it returns something true; fail naming ``what`` and the logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        time.sleep(0.25)
    tail = logs() if logs else ""
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


class Processes:
    """Starts named processes, each in its own session, logging to files; kills them all."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.log_files: dict[str, Path] = {}
        self._count = 0

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        self._count += 1
        self.log_files[name] = self.log_dir / f"{self._count:03d}-{name}.log"
        log = open(self.log_files[name], "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 15) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        else:  # the leader died alone: its children may still hold the group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def wait_for_line(self, name: str, text: str, timeout: float = 60) -> None:
        """Wait until process ``name`` has logged ``text`` (a worker's "ready.")."""
        wait_until(
            lambda: text in self.log_files[name].read_text(errors="replace"),
            timeout=timeout,
            what=f"{name} to log {text!r}",
            logs=self.logs,
        )

    def logs(self, tail: int = 2500) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def close(self) -> None:
        for name in list(self.procs):
            with contextlib.suppress(Exception):
                self.kill(name)


class PrivateRedis:
    """A throwaway redis-server on a free port, with no persistence: a restart empties it,
    which is the worst case for queued messages."""

    def __init__(self, procs: Processes):
        self.procs = procs
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.procs.start(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            dict(os.environ),
        )
        import redis

        wait_until(
            lambda: redis.Redis(port=self.port, socket_timeout=1).ping(),
            timeout=15,
            what="the private redis-server",
            logs=self.procs.logs,
        )

    def stop(self) -> None:
        self.procs.kill("redis")

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_timeout=2)


class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster on a free port. PostgreSQL refuses to run as root,
    so as root the cluster belongs to the postgres user and its tools run through runuser."""

    def __init__(self, *, fsync: bool = False):
        """``fsync`` off suits tests (a crash of the server, not of the machine, loses
        nothing); the load benchmark turns it on, as in production."""
        self.port = free_port()
        self.fsync = fsync
        self.root = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        else:
            self._as = []
        self.started = False

    def url(self, name: str = "faults") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as, *argv], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        )
        self.start()
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "faults")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=200"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
            "-w", "start",
        )  # fmt: skip
        self.started = True

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash as far as clients can tell: connections drop mid-query
        and the next start replays the write-ahead log."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.started = False

    def close(self) -> None:
        if self.started:
            with contextlib.suppress(Exception):
                self.stop()
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():  # pg_ctl failed: kill the postmaster by its recorded pid
            with contextlib.suppress(Exception):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def collect_static(root: Path) -> Path:
    """Collect the static files once: the site runs as in production (hashed file names)."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=REPO,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tumorapp.settings.base",
            "STATIC_ROOT": str(root),
        },
        check=True,
        timeout=300,
    )
    return root


def site_env(
    *, database_url: str, broker_url: str, media_root: Path, static_root: Path, **extra: str
) -> dict:
    """The environment of every process of the site under test (web, workers, beat)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tumorapp.settings.base",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(media_root),
        "STATIC_ROOT": str(static_root),
        "INFERENCE_PREDICTOR": FAKE,
        "INFERENCE_LEASE_SECONDS": "4",
        "INFERENCE_SWEEP_SECONDS": "2",
        # One client makes every request here: the throttles are for people, not this test.
        "THROTTLE_UPLOAD": "100000/min",
        "THROTTLE_USER": "100000/min",
        "PYTHONPATH": str(REPO),
        **extra,
    }


class Site:
    """The site's processes: gunicorn, inference workers, and one beat + default worker."""

    def __init__(self, procs: Processes, env: dict[str, str]):
        self.procs = procs
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = 0

    def start_web(self, workers: int = 2, threads: int = 2, keepalive: int = 2) -> None:
        self.procs.start(
            "web",
            [
                str(BIN / "gunicorn"),
                "tumorapp.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                "--keep-alive",
                str(keepalive),
            ],
            self.env,
        )
        wait_until(
            lambda: requests.get(f"{self.base}/health/", timeout=2).status_code < 500,
            timeout=60,
            what="gunicorn",
            logs=self.procs.logs,
        )

    def start_worker(
        self, *, pool: str = "solo", settings: str | None = None, queues: str = "inference", **extra
    ) -> str:
        name = f"worker{self.workers}"
        self.workers += 1
        env = {**self.env, **extra}
        if settings:
            env["DJANGO_SETTINGS_MODULE"] = settings
        self.procs.start(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "tumorapp",
                "worker",
                "-Q",
                queues,
                f"--pool={pool}",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}@%h",
                "--loglevel=INFO",
            ],
            env,
        )
        return name

    def start_beat(self, schedule_dir: Path) -> None:
        """Beat alone: it sends the periodic tasks (the job sweep) to their queues."""
        self.procs.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "tumorapp",
                "beat",
                "-s",
                str(schedule_dir / "beat-schedule"),
                "--loglevel=INFO",
            ],
            self.env,
        )

    def start_sweeper(self, schedule_dir: Path) -> None:
        """Beat (which sends the periodic sweep) embedded in a worker of the default queue."""
        self.procs.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "tumorapp",
                "worker",
                "-B",
                "-s",
                str(schedule_dir / "beat-schedule"),
                "-Q",
                "default",
                "--pool=solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                "beat@%h",
                "--loglevel=INFO",
            ],
            self.env,
        )


class Api:
    """Token-authenticated HTTP calls to the site under test."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.base + path, timeout=kw.pop("timeout", 20), **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(self.base + path, timeout=kw.pop("timeout", 20), **kw)

    def upload(self, name: str, data: bytes) -> requests.Response:
        return self.post("/api/v1/scans/", files=[("files", (name, data, "image/jpeg"))])
