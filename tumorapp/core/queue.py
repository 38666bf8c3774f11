"""The one way tasks are sent: after the surrounding transaction commits.

A task enqueued inside a transaction that rolls back is never sent, and a worker never
reads a row that is not committed yet.
"""

from __future__ import annotations

from functools import partial

from celery import Task
from django.db import transaction


def enqueue(task: Task, *args, **kwargs) -> None:
    transaction.on_commit(partial(task.apply_async, args=args, kwargs=kwargs))
