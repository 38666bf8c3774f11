"""Tasks are sent only after their transaction commits."""

import pytest
from django.db import transaction

from tumorapp.celery import app
from tumorapp.core.queue import enqueue

RAN: list[str] = []


@app.task(name="tests.record")
def record(value: str) -> None:
    RAN.append(value)


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_enqueued_in_a_rolled_back_transaction_never_runs():
    # given a transaction that enqueues a task and then fails
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue(record, "rolled-back")
        raise RuntimeError("upload failed half way")
    # then the task never ran
    assert RAN == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_runs_once_after_commit_and_not_before():
    with transaction.atomic():
        enqueue(record, "committed")
        assert RAN == []
    assert RAN == ["committed"]
