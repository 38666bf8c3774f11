"""The job kernel: every kind of background work (an inference run, a dataset export, a
training run, a comparison, a re-scoring) is a row of a model derived from ``Job``, claimed,
kept alive, finished and given up on by the functions here, run by a task derived from
``JobTask`` and watched by the one sweeper, ``jobs_sweep`` (beat task ``jobs.sweep``).

The life of a job row::

    queued ──claim──► running ──succeed──► succeeded
      ▲                 │ ──fail──────────► failed
      └──release/sweep──┘

1. A worker claims the row with a conditional UPDATE that must change exactly one row: a
   queued row, or a running row whose lease ran out (its worker died). Every claim counts
   as an attempt; a row that used up its attempts is failed with the reason instead.
2. While the work runs, a heartbeat thread renews the lease, so a long export or training
   run keeps it and a killed worker loses it within one lease.
3. The worker that holds the claim finishes the row (``job_succeed``, guarded by its name,
   so a worker that lost its lease never publishes), fails it with the reason, or releases
   it after a transient error so the retry claims it again.
4. The sweeper re-queues and re-sends every unfinished row whose lease ran out, and gives
   up (through the kind's task, which cleans up after it) on the ones out of attempts.

Services never import their tasks: a new job is sent by its kind's task name
(``job_submit``, after commit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import ClassVar

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from django.apps import apps
from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    models,
    transaction,
)
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

#: Failures worth another attempt: the database, storage or network hiccuped, not the input.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


class JobRefused(Exception):
    """This job cannot succeed by trying again; the message is the reason shown to users."""


class JobLost(Exception):
    """This worker no longer holds the job (its lease ran out and another worker claimed it):
    its result is discarded and the row is left to the holder."""


def initial_lease():
    """A new job's lease: when the sweeper may send it again if no worker claimed it."""
    return timezone.now() + timedelta(seconds=settings.JOBS_LEASE_SECONDS)


class Job(models.Model):
    """A job row. A concrete kind names the task that runs it (``task_name``) and may name
    the settings that hold its lease and its attempts."""

    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # Who holds the claim ("host:pid[:thread]"); only that worker may finish the row.
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Running: the worker is presumed dead after this. Queued: the sweeper sends it again.
    lease_expires_at = models.DateTimeField(null=True, blank=True, default=initial_lease)
    finished_at = models.DateTimeField(null=True, blank=True)

    #: The Celery task (by name) that runs a job of this kind.
    task_name: ClassVar[str] = ""
    #: Settings holding the lease (seconds) and the claims allowed per job.
    lease_setting: ClassVar[str] = "JOBS_LEASE_SECONDS"
    attempts_setting: ClassVar[str] = "JOBS_MAX_ATTEMPTS"
    #: Relations the claimed row is read with (what the task body uses).
    claim_related: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True
        indexes = [
            models.Index(
                fields=["status", "lease_expires_at"], name="%(app_label)s_%(class)s_lease"
            )
        ]

    @classmethod
    def lease(cls) -> timedelta:
        return timedelta(seconds=getattr(settings, cls.lease_setting))

    @classmethod
    def max_attempts(cls) -> int:
        return getattr(settings, cls.attempts_setting)

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


def job_models() -> list[type[Job]]:
    """Every concrete job kind of the installed apps."""
    return [m for m in apps.get_models() if issubclass(m, Job) and m.task_name]


def worker_name(hostname: str | None = None) -> str:
    thread = threading.current_thread()
    suffix = "" if thread is threading.main_thread() else f":{thread.name}"
    return f"{hostname or 'local'}:{os.getpid()}{suffix}"[:200]


def _claimable(now) -> Q:
    return Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, lease_expires_at__lt=now)


def job_claim(model: type[Job], *, job_id: int, worker: str) -> Job | None:
    """queued (or running past its lease) -> running for ``worker``, one attempt more; the
    claimed row, or None when it is not this worker's to run (finished, held by a live
    worker, or out of attempts: see ``job_exhausted``)."""
    now = timezone.now()
    claimed = model.objects.filter(
        _claimable(now), pk=job_id, attempts__lt=model.max_attempts()
    ).update(
        status=JobStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        lease_expires_at=now + model.lease(),
        worker=worker[:200],
    )
    if not claimed:
        return None
    return model.objects.select_related(*model.claim_related).get(pk=job_id)


def job_exhausted(model: type[Job], *, job_id: int) -> int | None:
    """The attempts of an unfinished job free to claim whose attempts are used up (it may
    only be given up), else None."""
    return (
        model.objects.filter(
            _claimable(timezone.now()), pk=job_id, attempts__gte=model.max_attempts()
        )
        .values_list("attempts", flat=True)
        .first()
    )


def job_heartbeat(model: type[Job], *, job_id: int, worker: str) -> bool:
    """Renew the lease of a job ``worker`` still holds. A row locked by a transaction (the
    job finishing) is skipped rather than waited for; the next beat comes soon enough."""
    now = timezone.now()
    with transaction.atomic():
        held = model.objects.filter(
            pk=job_id, status=JobStatus.RUNNING, worker=worker
        ).select_for_update(skip_locked=True)
        return bool(
            model.objects.filter(pk__in=held.values("pk")).update(
                heartbeat_at=now, lease_expires_at=now + model.lease()
            )
        )


def job_succeed(model: type[Job], *, job_id: int, worker: str | None = None, **fields) -> bool:
    """Mark an unfinished job succeeded (writing ``fields`` too), only while ``worker``
    holds it when one is named; False when not (the caller must not publish its result)."""
    rows = model.objects.filter(pk=job_id, status__in=UNFINISHED)
    if worker is not None:
        rows = rows.filter(status=JobStatus.RUNNING, worker=worker)
    updates = {"finished_at": timezone.now(), **fields}
    return bool(rows.update(status=JobStatus.SUCCEEDED, lease_expires_at=None, error="", **updates))


def job_fail(model: type[Job], *, job_id: int, reason: str) -> bool:
    """Mark an unfinished job failed with the reason; False when it had finished already."""
    return bool(
        model.objects.filter(pk=job_id, status__in=UNFINISHED).update(
            status=JobStatus.FAILED,
            error=reason[:4000],
            finished_at=timezone.now(),
            lease_expires_at=None,
        )
    )


def job_release(model: type[Job], *, job_id: int, worker: str, error: str) -> bool:
    """Give a claimed job back to the queue after a transient failure (the retry claims it);
    when the database itself is what failed, the lease runs out and the sweeper sends it."""
    try:
        return bool(
            model.objects.filter(pk=job_id, status=JobStatus.RUNNING, worker=worker).update(
                status=JobStatus.QUEUED,
                error=error[:4000],
                lease_expires_at=timezone.now() + model.lease(),
            )
        )
    except DatabaseError:
        logger.warning("%s %s: could not release it (%s)", model.__name__, job_id, error)
        return False


def gave_up_reason(attempts: int) -> str:
    return f"Gave up after {attempts} attempts: the worker stopped or failed each time."


def enqueue(task_name: str, job_id: int) -> None:
    """Send a job to the task named, once the caller's transaction commits (by name: a
    service never imports its task). The embedded site runs it in-process."""
    from tumorapp.core.queue import enqueue as enqueue_task

    enqueue_task(task_name, job_id)


def job_submit(job: Job) -> None:
    """Send a new job to its kind's task once the caller's transaction commits."""
    enqueue(type(job).task_name, job.pk)


def job_task(model: type[Job]) -> JobTask:
    from tumorapp.core.queue import task_named

    return task_named(model.task_name)


def jobs_sweep(*, limit: int = 500) -> int:
    """Re-send every unfinished job whose lease ran out; returns how many were sent.

    A running job past its lease lost its worker; a queued one lost its message (or was
    never sent: the broker was down). Each goes back to queued with a fresh lease by a
    conditional UPDATE, so two sweepers never send the same job twice; a job out of
    attempts is given up with the reason instead (by its task, which cleans up after it).
    A row with no lease at all predates the kernel and is stale too.
    """
    now = timezone.now()
    stale = Q(status__in=UNFINISHED) & (
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    )
    sent = 0
    for model in job_models():
        rows = list(
            model.objects.filter(stale)
            .order_by(F("lease_expires_at").asc(nulls_first=True))
            .values_list("pk", "attempts")[:limit]
        )
        resent = 0
        for job_id, attempts in rows:
            if attempts >= model.max_attempts():
                job_task(model).give_up(job_id, gave_up_reason(attempts))
                continue
            changed = model.objects.filter(stale, pk=job_id).update(
                status=JobStatus.QUEUED, lease_expires_at=now + model.lease()
            )
            if changed:
                enqueue(model.task_name, job_id)
                resent += 1
        if rows:
            logger.info("job sweep: %s: %d stale, %d re-sent", model.__name__, len(rows), resent)
        sent += resent
    return sent


class Heartbeat(threading.Thread):
    """Renews a claimed job's lease every ``every`` seconds until stopped."""

    def __init__(self, model: type[Job], job_id: int, worker: str, every: float):
        super().__init__(name=f"heartbeat-{model.__name__}-{job_id}", daemon=True)
        self.model, self.job_id, self.worker, self.every = model, job_id, worker, every
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    job_heartbeat(self.model, job_id=self.job_id, worker=self.worker)
                except DatabaseError as exc:
                    logger.warning("heartbeat of %s %s: %s", self.model.__name__, self.job_id, exc)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


@contextlib.contextmanager
def heartbeat(model: type[Job], *, job_id: int, worker: str) -> Iterator[None]:
    """Keep the job's lease alive while the block runs (a beat every third of the lease, or
    JOBS_HEARTBEAT_SECONDS when shorter)."""
    every = min(float(settings.JOBS_HEARTBEAT_SECONDS), model.lease().total_seconds() / 3)
    beat = Heartbeat(model, job_id, worker, max(every, 0.2))
    beat.start()
    try:
        yield
    finally:
        beat.stop()


class JobTask(Task):
    """The base of every job's task. The task is sent the job's id; ``__call__`` claims the
    row (nothing to claim: return), keeps its lease alive while the task body runs with the
    claimed row, and ends every kind the same way:

    - ``JobRefused`` (bad input, a model that cannot load): failed at once with its message;
    - ``JobLost``: this worker lost the job to another; nothing is written;
    - a transient error (``TRANSIENT_ERRORS``): released and retried with backoff, failed
      when the retries are used up;
    - any other error: failed with the error's name and message.

    ``give_up`` fails the row and calls ``on_give_up`` (the kind's own clean-up: delete a
    half-written file, mark the scan failed); the sweeper gives up through it too.
    """

    abstract = True
    #: The job model this task runs (a ``Job`` subclass).
    job_model: type[Job]
    max_retries = 2
    retry_backoff = 5
    retry_backoff_max = 300  # well below the broker's visibility timeout (settings)
    retry_jitter = True

    def __call__(self, job_id: int, *args, **kwargs):
        model = self.job_model
        worker = worker_name(getattr(self.request, "hostname", None))
        job = job_claim(model, job_id=job_id, worker=worker)
        if job is None:
            attempts = job_exhausted(model, job_id=job_id)
            if attempts is not None:
                self.give_up(job_id, gave_up_reason(attempts))
            else:
                logger.info("%s %s: nothing to claim", model.__name__, job_id)
            return None
        try:
            with heartbeat(model, job_id=job_id, worker=worker):
                return self.run(job, *args, **kwargs)
        except JobRefused as exc:
            self.give_up(job_id, str(exc))
        except JobLost as exc:
            logger.warning("%s", exc)
        except TRANSIENT_ERRORS as exc:
            error = f"{type(exc).__name__}: {exc}"
            job_release(model, job_id=job_id, worker=worker, error=error)
            retries = self.request.retries or 0
            if self.request.called_directly or retries >= self.max_retries:
                self.give_up(job_id, f"Gave up after repeated transient errors: {error}")
                return None
            countdown = get_exponential_backoff_interval(
                self.retry_backoff, retries, self.retry_backoff_max, self.retry_jitter
            )
            raise self.retry(exc=exc, countdown=countdown) from exc
        except Exception as exc:
            logger.exception("%s %s failed", model.__name__, job_id)
            self.give_up(job_id, f"{type(exc).__name__}: {exc}")
        return None

    def give_up(self, job_id: int, reason: str) -> bool:
        """Fail the job with the reason and clean up after it; False when it had finished."""
        with transaction.atomic():
            if not job_fail(self.job_model, job_id=job_id, reason=reason):
                return False
            self.on_give_up(job_id, reason)
        logger.warning("%s %s failed: %s", self.job_model.__name__, job_id, reason)
        return True

    def on_give_up(self, job_id: int, reason: str) -> None:
        """A kind's own clean-up when its job is given up (inside the failing transaction)."""

    def apply_async(self, args=None, kwargs=None, **options):
        # The job row is committed and queued before the send: when the broker is down the
        # error is logged and the sweeper sends the job once the lease runs out.
        try:
            return super().apply_async(args, kwargs, **options)
        except BrokerError as exc:
            logger.error("broker unavailable, %s%s left for the sweeper: %s", self.name, args, exc)
            return None
