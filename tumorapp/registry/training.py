"""Run ``python -m ml.train`` for a training job, in a subprocess, under a time limit.

1. Unpack each export zip (ImageFolder ``<split>/<label>/*.png``) into the job's scratch
   folder (settings.JOBS_SCRATCH_DIR), after deleting what a killed attempt left there.
2. Build the command: the base data first when the job includes it (the default: replay),
   then the exports, as ``--data`` / ``--extra``; ``--init-from`` the parent version; the
   recipe the job recorded from the parent's manifest (``--epochs``, ``--lr``,
   ``--frozen-blocks``); ``--out`` a hidden folder of this attempt's own beside the model
   folders; plus settings.REGISTRY_TRAINING_ARGS.
3. Run it with TensorFlow's and Python's warnings silenced at source, keeping the last lines
   of its output (known noise dropped), the phase (epochs, calibration, OOD guard) and the
   seconds each phase took on the job row every few seconds; kill it past
   settings.REGISTRY_TRAINING_TIME_LIMIT (and, through the kernel's parent-death signal,
   when the worker itself dies).
4. Publish: rename the attempt's folder to ``REGISTRY_MODELS_DIR/<version>`` (atomic), so a
   model folder under a version's name is always complete; a half-written one is never
   seen, and the next attempt or the give-up deletes it.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from tumorapp.core.jobs import JobRefused
from tumorapp.registry.models import TrainingJob

Phase = TrainingJob.Phase
EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+)")
#: Lines ml.train prints when it enters a phase after the epochs.
PHASE_LINES = {
    "Calibrating: temperature and threshold": Phase.CALIBRATING,
    "Fitting the OOD guard": Phase.OOD_GUARD,
}
#: Progress (%) at the start of each phase; the epochs share 10-80 between them.
PHASE_PROGRESS = {
    Phase.READING: 5,
    Phase.TRAINING: 10,
    Phase.CALIBRATING: 82,
    Phase.OOD_GUARD: 92,
    Phase.REGISTERING: 98,
}
#: TensorFlow, absl, oneDNN, CUDA and Python warning lines: noise on the job page.
NOISE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d\d"  # absl's own format
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.\d]*: [IWEF] "  # TensorFlow's C++ logging
    r"|WARNING: All log messages before absl::InitializeLog"
    r"|.*oneDNN custom operations are on"
    r"|.*rebuild TensorFlow with the appropriate compiler flags"
    r"|.*This TensorFlow binary is optimized"
    r"|.*Unable to register cu(?:DNN|FFT|BLAS) factory"
    r"|.*Could not find cuda drivers"
    r"|.*TF-TRT Warning"
    r"|.*(?:User|Deprecation|Future|Runtime|Resource)Warning: "
    r"|\s+warnings\.warn\("
    r")"
)
LOG_LINES = 40
UPDATE_SECONDS = 2.0


class TrainingFailed(JobRefused):
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
    cmd = [sys.executable, "-m", settings.REGISTRY_TRAINING_MODULE, "--data", str(data[0])]
    for extra in data[1:]:
        cmd += ["--extra", str(extra)]
    cmd += ["--out", str(out), "--version", job.version]
    if job.init_from is not None:
        cmd += ["--init-from", job.init_from.path]
    if job.epochs is not None:
        cmd += ["--epochs", str(job.epochs)]
    if job.learning_rate is not None:
        cmd += ["--lr", repr(float(job.learning_rate))]
    if job.frozen_blocks is not None:
        cmd += ["--frozen-blocks", str(job.frozen_blocks)]
    if not job.include_base:
        cmd.append("--no-cache")  # scratch folders: caching them would only fill var/ml
    return cmd + list(settings.REGISTRY_TRAINING_ARGS)


def base_data_problem() -> str | None:
    """What is wrong with settings.REGISTRY_BASE_DATA_DIR for training and comparisons, and
    what to do about it; None when it holds an ImageFolder with a Testing split."""
    root = Path(settings.REGISTRY_BASE_DATA_DIR)
    fix = (
        "Put the public base data set there (<split>/<class>/*: Training/ and Testing/ with "
        "glioma, meningioma, pituitary, no_tumor) or point REGISTRY_BASE_DATA_DIR at it. "
        "Without it, retraining cannot replay the base data (the default) and comparisons "
        "cannot use the base Testing split."
    )
    if not root.is_dir():
        return f"REGISTRY_BASE_DATA_DIR={root} does not exist. {fix}"
    if not any(p.is_dir() and p.name.lower() in ("testing", "test") for p in root.iterdir()):
        return f"REGISTRY_BASE_DATA_DIR={root} has no Testing folder. {fix}"
    return None


def _scratch(job: TrainingJob) -> Path:
    return Path(settings.JOBS_SCRATCH_DIR) / f"train-{job.public_id}"


def _published(job: TrainingJob) -> Path:
    return Path(settings.REGISTRY_MODELS_DIR) / job.version


def _attempt_dirs(job: TrainingJob) -> list[Path]:
    root = Path(settings.REGISTRY_MODELS_DIR)
    return sorted(root.glob(f".{job.version}.attempt-*")) if root.is_dir() else []


def discard(job: TrainingJob) -> None:
    """Delete what the job's attempts left: the scratch folder, every unpublished model
    folder, and a published one no registered version names (a given-up job)."""
    shutil.rmtree(_scratch(job), ignore_errors=True)
    for folder in _attempt_dirs(job):
        shutil.rmtree(folder, ignore_errors=True)
    from tumorapp.registry.models import ModelVersion

    out = _published(job)
    if out.exists() and not ModelVersion.objects.filter(path=str(out.resolve())).exists():
        shutil.rmtree(out, ignore_errors=True)


def run(job: TrainingJob) -> Path:
    """Train; returns the published model folder. Raises TrainingFailed with the reason.

    A folder already published under the version's name is complete (published only by a
    rename after a successful run): an earlier attempt died before registering it, so it
    is returned as it is, not trained again."""
    out = _published(job)
    if (out / "manifest.json").is_file():
        return out
    if out.exists():
        raise TrainingFailed(f"{out} exists already.")
    out.parent.mkdir(parents=True, exist_ok=True)
    if job.include_base and not Path(settings.REGISTRY_BASE_DATA_DIR).is_dir():
        raise TrainingFailed(base_data_problem() or "The base data is missing.")
    for folder in _attempt_dirs(job):  # a killed attempt's half-written model folder
        shutil.rmtree(folder, ignore_errors=True)
    scratch = _scratch(job)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    attempt_dir = out.parent / f".{job.version}.attempt-{job.attempts}"
    try:
        folders = [unpack_export(e, scratch) for e in job.exports.order_by("created_at")]
        cmd = command(job, folders, attempt_dir)
        TrainingJob.objects.filter(pk=job.pk).update(command=cmd, progress=2)
        code, tail = _supervise(job, cmd)
        if code != 0:
            raise TrainingFailed(f"ml.train exited with {code}:\n" + "\n".join(tail[-15:]))
        if not (attempt_dir / "manifest.json").is_file():
            raise TrainingFailed(f"ml.train wrote no model folder at {attempt_dir}.")
        attempt_dir.rename(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(attempt_dir, ignore_errors=True)
    return out


class _Progress:
    """What the supervisor has seen of the run so far (written by the reader thread)."""

    def __init__(self, epochs_total: int | None):
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.epochs_done, self.epochs_total = 0, epochs_total or 0
        self.phase = Phase.READING
        self.phase_started = time.monotonic()
        self.observed: dict[str, float] = {}
        self.reported: dict[str, float] = {}

    def enter(self, phase: str) -> None:
        if phase == self.phase:
            return
        now = time.monotonic()
        self.observed[self.phase] = round(now - self.phase_started, 1)
        self.phase, self.phase_started = phase, now

    def line(self, line: str) -> None:
        if not line.strip() or NOISE.match(line):
            return
        self.tail.append(line)
        match = EPOCH_LINE.match(line)
        if match:
            self.enter(Phase.TRAINING)
            self.epochs_done, self.epochs_total = int(match.group(1)) - 1, int(match.group(2))
            return
        if line in PHASE_LINES:
            self.epochs_done = self.epochs_total  # the last epoch has ended
            self.enter(PHASE_LINES[line])
            return
        if line.startswith("{") and '"model_dir"' in line:
            try:
                summary = json.loads(line)
            except ValueError:
                return
            phases = summary.get("phases")
            if isinstance(phases, dict):
                self.reported = {str(k): float(v) for k, v in phases.items()}

    def progress(self) -> int:
        start = PHASE_PROGRESS.get(self.phase, 5)
        if self.phase == Phase.TRAINING and self.epochs_total:
            start += int(70 * self.epochs_done / self.epochs_total)
        return min(start, 98)

    def seconds(self) -> dict[str, float]:
        """ml.train's own phase figures when it printed them, else the observed ones."""
        if self.reported:
            return self.reported
        current = round(time.monotonic() - self.phase_started, 1)
        labels = dict(Phase.choices)
        return {str(labels[k]): v for k, v in {**self.observed, self.phase: current}.items()}


def _supervise(job: TrainingJob, cmd: list[str]) -> tuple[int, list[str]]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # Silence TensorFlow's C++ logging, absl and Python warnings at source.
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONWARNINGS": "ignore",
        "ABSL_MIN_LOG_LEVEL": "3",
    }
    # The run dies with its worker (a SIGKILLed worker must not leave it training on).
    setpriv = shutil.which("setpriv")
    if setpriv:
        cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
    proc = subprocess.Popen(  # noqa: S603 - argv built from settings and our own rows, no shell
        cmd,
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    seen = _Progress(job.epochs)

    def read() -> None:
        for line in proc.stdout:
            seen.line(line.rstrip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + settings.REGISTRY_TRAINING_TIME_LIMIT
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise TrainingFailed(
                f"Stopped after {settings.REGISTRY_TRAINING_TIME_LIMIT} s (the time limit):\n"
                + "\n".join(list(seen.tail)[-15:])
            )
        _report(job, seen)
        time.sleep(UPDATE_SECONDS)
    reader.join(timeout=5)
    if proc.returncode == 0:
        seen.enter(Phase.REGISTERING)
    _report(job, seen)
    return proc.returncode, list(seen.tail)


def _report(job: TrainingJob, seen: _Progress) -> None:
    TrainingJob.objects.filter(pk=job.pk, status="running").update(
        progress=seen.progress(),
        phase=seen.phase,
        phase_seconds=seen.seconds(),
        log_tail="\n".join(seen.tail),
    )
