"""The embedded site (no broker) runs long jobs off the request, on background threads, with
the same job rows as workers: queued when the request answers, running while it works,
succeeded after."""

import threading

import pytest
from django.urls import reverse

from tumorapp.core.queue import runs_in_background, wait_for_background
from tumorapp.datasets import services as dataset_services
from tumorapp.datasets.models import DatasetExport
from tumorapp.datasets.tasks import build_export
from tumorapp.inference.tasks import predict_run


@pytest.fixture
def thread_mode(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TASKS_EMBEDDED_MODE = "thread"
    yield
    wait_for_background()


def test_long_jobs_go_to_the_pool_and_a_slice_prediction_stays_inline(thread_mode, settings):
    assert runs_in_background(build_export)
    assert not runs_in_background(predict_run)
    settings.TASKS_EMBEDDED_MODE = "inline"
    assert not runs_in_background(build_export)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.TASKS_EMBEDDED_MODE = "thread"
    assert not runs_in_background(build_export)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_export_request_returns_before_the_job_and_the_job_finishes_after(
    thread_mode, media_dir, dave, client_for, monkeypatch
):
    # given a build that holds until the test releases it
    started, release = threading.Event(), threading.Event()
    real_build = dataset_services._build

    def held_build(export):
        started.set()
        if not release.wait(timeout=30):
            raise RuntimeError("never released")
        return real_build(export)

    monkeypatch.setattr(dataset_services, "_build", held_build)
    client = client_for(dave)
    # when the data team starts an export
    response = client.post(reverse("datasets:export_list"), {"correction": "any"})
    # then the request has answered while the job has not finished
    assert response.status_code == 302
    assert not release.is_set()
    export = DatasetExport.objects.get()
    assert export.status in (DatasetExport.Status.QUEUED, DatasetExport.Status.RUNNING)
    # and while it works its row says running, and so does its page
    assert started.wait(timeout=10)
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.RUNNING
    page = client.get(response["Location"]).content.decode()
    assert "unning" in page
    # when the job is released, it finishes on its own thread with the same row states
    release.set()
    wait_for_background()
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.SUCCEEDED, export.error
    assert export.started_at is not None and export.finished_at is not None
