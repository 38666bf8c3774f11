"""Run ``python -m ml.train`` for a training job, in a subprocess, under a time limit.

1. Unpack each export zip (ImageFolder ``<split>/<label>/*.png``) into a scratch folder.
2. Build the command: the exports as ``--data`` / ``--extra`` (the base data first when the
   job includes it), ``--init-from`` the chosen version, ``--out`` under the registry's
   models folder, plus settings.REGISTRY_TRAINING_ARGS.
3. Run it, keeping the last lines of its output and the epoch count on the job row every
   few seconds; kill it past settings.REGISTRY_TRAINING_TIME_LIMIT.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from tumorapp.registry.models import TrainingJob

EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+)")
LOG_LINES = 40
UPDATE_SECONDS = 2.0


class TrainingFailed(Exception):
    """The message is what the job page shows."""


def unpack_export(export, into: Path) -> Path:
    """The export's images as an ImageFolder (the manifest and card come along)."""
    target = into / f"export-{export.version_id[:12]}"
    with default_storage.open(export.file.name, "rb") as fh, zipfile.ZipFile(fh) as zf:
        for member in zf.infolist():
            # Our own zips; still, never write outside the target folder.
            if member.filename.startswith("/") or ".." in Path(member.filename).parts:
                raise TrainingFailed(f"Unsafe path in the export: {member.filename}")
        zf.extractall(target)
    return target


def command(job: TrainingJob, folders: list[Path], out: Path) -> list[str]:
    data = [Path(settings.REGISTRY_BASE_DATA_DIR)] if job.include_base else []
    data += folders
    cmd = [sys.executable, "-m", "ml.train", "--data", str(data[0])]
    for extra in data[1:]:
        cmd += ["--extra", str(extra)]
    cmd += ["--out", str(out), "--version", job.version, "--epochs", str(job.epochs)]
    if job.init_from is not None:
        cmd += ["--init-from", job.init_from.path]
    if not job.include_base:
        cmd.append("--no-cache")  # scratch folders: caching them would only fill var/ml
    return cmd + list(settings.REGISTRY_TRAINING_ARGS)


def run(job: TrainingJob) -> Path:
    """Train; returns the model folder written. Raises TrainingFailed with the reason."""
    out = Path(settings.REGISTRY_MODELS_DIR) / job.version
    if out.exists():
        raise TrainingFailed(f"{out} exists already.")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"train-{job.public_id}-") as scratch:
        folders = [unpack_export(e, Path(scratch)) for e in job.exports.order_by("created_at")]
        cmd = command(job, folders, out)
        TrainingJob.objects.filter(pk=job.pk).update(command=cmd, progress=2)
        code, tail = _supervise(job, cmd)
    if code != 0:
        raise TrainingFailed(f"ml.train exited with {code}:\n" + "\n".join(tail[-15:]))
    return out


def _supervise(job: TrainingJob, cmd: list[str]) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(  # noqa: S603 - argv built from settings and our own rows, no shell
        cmd,
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    tail: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
    epochs = {"done": 0, "total": job.epochs}

    def read() -> None:
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            match = EPOCH_LINE.match(line)
            if match:
                epochs["done"], epochs["total"] = int(match.group(1)) - 1, int(match.group(2))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + settings.REGISTRY_TRAINING_TIME_LIMIT
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise TrainingFailed(
                f"Stopped after {settings.REGISTRY_TRAINING_TIME_LIMIT} s (the time limit):\n"
                + "\n".join(list(tail)[-15:])
            )
        _report(job, tail, epochs)
        time.sleep(UPDATE_SECONDS)
    reader.join(timeout=5)
    _report(job, tail, epochs)
    return proc.returncode, list(tail)


def _report(job: TrainingJob, tail, epochs: dict) -> None:
    # Epochs are most of the time; scanning before and calibrating after take the rest.
    progress = 5 + int(85 * epochs["done"] / max(epochs["total"], 1))
    TrainingJob.objects.filter(pk=job.pk, status="running").update(
        progress=min(progress, 95), log_tail="\n".join(tail)
    )
