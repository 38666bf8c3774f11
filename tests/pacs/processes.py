"""Real platform processes for the PACS tests: ``manage.py dicom_receiver`` and a Celery
inference worker, on the pytest database, the test broker and a private media folder. Each
runs in its own process group and is stopped (or SIGKILLed) by the pid it was started with."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.pacs.modality import SCANNER_AET
from tests.pacs.orthanc import ORTHANC_AET, free_port

REPO = Path(__file__).resolve().parents[2]
FAKE_PREDICTOR = "tests.tumorapp.inference.fakes.FakePredictor"
RECEIVER_AET = "NEUROTRIAGE"


class Processes:
    def __init__(self, media_dir: Path, log_dir: Path, *, quiet_seconds: float = 2.0):
        db = connection.settings_dict
        self.receiver_port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tumorapp.settings.base",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "MEDIA_ROOT": str(media_dir),
            "INFERENCE_PREDICTOR": FAKE_PREDICTOR,
            "DICOM_RECEIVER_AE_TITLE": RECEIVER_AET,
            "DICOM_RECEIVER_ALLOWED_AE_TITLES": f"{ORTHANC_AET},{SCANNER_AET}",
            "DICOM_STUDY_QUIET_SECONDS": str(quiet_seconds),
            "DICOM_RECEIVER_TIMEOUT": "10",
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        }
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def _start(self, name: str, argv: list[str], **extra_env: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def start_receiver(self, *, wait: bool = True, **extra_env: str) -> subprocess.Popen:
        """Start the receiver on ``receiver_port`` and (``wait``) return once it answers
        C-ECHO."""
        from tests.pacs.modality import echo

        proc = self._start(
            "receiver",
            [sys.executable, "manage.py", "dicom_receiver", "--port", str(self.receiver_port)],
            **extra_env,
        )
        if not wait:
            return proc
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the receiver exited at start:\n{self.logs()}")
            if echo(port=self.receiver_port, called_aet=RECEIVER_AET) == 0:
                return proc
            time.sleep(0.2)
        raise RuntimeError(f"the receiver did not answer C-ECHO:\n{self.logs()}")

    def start_worker(self) -> subprocess.Popen:
        return self._start(
            "worker",
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "tumorapp",
                "worker",
                "-Q",
                "inference,default",
                "--pool=solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"pacs{len(self.procs)}@%h",
                "--loglevel=INFO",
            ],
        )

    def kill(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def terminate(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(proc)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )

    def full_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_dir.glob("*.log"))

    def stop_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                self.terminate(proc)


def wait_for(predicate, *, timeout: float, what: str, logs=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}")
