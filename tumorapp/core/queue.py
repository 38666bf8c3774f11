"""The one way tasks are sent: after the surrounding transaction commits.

A task enqueued inside a transaction that rolls back is never sent, and a worker never
reads a row that is not committed yet.

With no broker (the embedded site) Celery runs tasks in-process. ``TASKS_EMBEDDED_MODE``
says where: ``"thread"`` (the default) hands each task to a small pool of background
threads, so a request that starts a training run, a comparison or an export returns at
once and the job's own row reports queued -> running -> succeeded as it does with workers;
``"inline"`` runs it inside the request (the unit tests, which read the outcome right
after). Tasks named in ``TASKS_EMBEDDED_INLINE`` (a slice's prediction: about a second)
run inline in either mode, so an upload answers with its reading.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from celery import Task
from django.apps import apps
from django.conf import settings
from django.db import close_old_connections, connections, transaction

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def enqueue(task: Task | str, *args, **kwargs) -> None:
    """Send ``task`` (a task or its registered name) once the surrounding transaction
    commits. A name is resolved when sent, so a service never imports the task module."""
    transaction.on_commit(partial(_send, task, args, kwargs))


def task_named(name: str) -> Task:
    """The registered task of that name, importing the apps' ``tasks`` modules the first
    time (a web process imports none of them otherwise). Celery's own
    ``import_default_modules`` is not used: under Django it re-runs setup and the checks."""
    from celery import current_app

    if name not in current_app.tasks:
        current_app.loader.autodiscover_tasks(
            [config.name for config in apps.get_app_configs()], "tasks"
        )
    return current_app.tasks[name]


def _send(task: Task | str, args: tuple, kwargs: dict) -> Future | None:
    if isinstance(task, str):
        task = task_named(task)
    if runs_in_background(task):
        return _background_pool().submit(_run, task, args, kwargs)
    task.apply_async(args=args, kwargs=kwargs)
    return None


def runs_in_background(task: Task) -> bool:
    """True when the embedded site runs this task on its thread pool, off the request."""
    return (
        bool(settings.CELERY_TASK_ALWAYS_EAGER)
        and settings.TASKS_EMBEDDED_MODE == "thread"
        and task.name not in settings.TASKS_EMBEDDED_INLINE
    )


def _background_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.TASKS_EMBEDDED_THREADS, thread_name_prefix="embedded-task"
            )
        return _pool


def _run(task: Task, args: tuple, kwargs: dict) -> None:
    """Run one task as an eager Celery call would (retries, failure handling), then give
    the thread's database connection back: the pool outlives any request."""
    close_old_connections()
    try:
        result = task.apply(args=args, kwargs=kwargs)
        if result.failed():
            logger.error("Embedded task %s failed: %r", task.name, result.result)
    except Exception:
        logger.exception("Embedded task %s crashed", task.name)
    finally:
        connections.close_all()


def wait_for_background() -> None:
    """Block until every background task sent so far has finished (management commands
    and tests; a request never waits)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True)
