import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from reviews.models import Case
from tests.tumorapp.datasets.reviewed import single_reads_only, upload
from tests.tumorapp.scans import images
from tumorapp.audit.models import AuditEvent
from tumorapp.inference.models import Prediction
from tumorapp.registry.models import JobStatus, ModelVersion, RescoreJob
from tumorapp.registry.selectors import active_model
from tumorapp.registry.services import (
    model_promote,
    model_register,
    model_rollback,
    rescore_create,
)

pytestmark = pytest.mark.django_db


def test_registering_reads_the_card_and_is_idempotent(model_folder, carol):
    folder = model_folder("v1", accuracy=0.91)
    model = model_register(path=folder, actor=carol)
    assert model.status == ModelVersion.Status.CANDIDATE
    assert model.metrics["accuracy"] == 0.91 and model.card["threshold"] == 0.3
    assert model.fingerprint == {"class_counts": {"glioma": 3}}
    assert model_register(path=folder) == model
    assert AuditEvent.objects.filter(action="model.registered").count() == 1


def test_a_known_version_from_another_folder_is_refused(model_folder, tmp_path):
    model_register(path=model_folder("v1"))
    from tests.tumorapp.registry.conftest import write_model_folder

    with pytest.raises(ValidationError):
        model_register(path=write_model_folder(tmp_path / "elsewhere", "v1"))


def test_promotion_keeps_exactly_one_active_and_rollback_restores_the_previous(model_folder, carol):
    v1 = model_register(path=model_folder("v1"))
    v2 = model_register(path=model_folder("v2"))
    model_promote(model=v1, actor=carol)
    # when v2 is promoted
    model_promote(model=v2, actor=carol)
    v1.refresh_from_db()
    assert active_model() == v2 and v1.status == ModelVersion.Status.RETIRED
    assert ModelVersion.objects.filter(status="active").count() == 1
    # when the admin rolls back
    back = model_rollback(actor=carol)
    assert back == v1 and active_model() == v1
    v2.refresh_from_db()
    assert v2.status == ModelVersion.Status.RETIRED
    actions = list(
        AuditEvent.objects.filter(action__startswith="model.").values_list("action", flat=True)
    )
    assert actions.count("model.promoted") == 2 and "model.rolled_back" in actions
    # and nothing earlier to roll back to is an error, not a silent change
    with pytest.raises(ValidationError):
        model_rollback(actor=carol)


def test_the_database_refuses_two_active_versions(model_folder):
    v1 = model_register(path=model_folder("v1"))
    v2 = model_register(path=model_folder("v2"))
    model_promote(model=v1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v2.pk).update(status="active")


def test_new_scans_are_predicted_by_the_active_version_without_a_restart(
    model_folder, folder_predictor, media_dir, bob, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    v1 = model_register(path=model_folder("v1"))
    v2 = model_register(path=model_folder("v2"))
    model_promote(model=v1)
    first = upload(bob, "a.png", images.png_bytes(seed=21), capture)
    assert first.prediction.model_version == "v1"
    # when v2 is promoted, the same process predicts the next scan with v2
    model_promote(model=v2)
    second = upload(bob, "b.png", images.png_bytes(seed=22), capture)
    assert second.prediction.model_version == "v2"


def test_rescoring_re_predicts_waiting_cases_and_keeps_the_old_prediction(
    model_folder,
    folder_predictor,
    media_dir,
    bob,
    alice,
    carol,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    single_reads_only()
    v1 = model_register(path=model_folder("v1"))
    v2 = model_register(path=model_folder("v2"))
    model_promote(model=v1)
    waiting = upload(bob, "a.png", images.png_bytes(seed=31), capture)
    from tests.tumorapp.datasets.reviewed import read

    reported = read(upload(bob, "b.png", images.png_bytes(seed=32), capture), alice, "glioma")
    model_promote(model=v2)
    # when the admin re-scores
    with capture(execute=True):
        job = rescore_create(actor=carol)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.total == 1
    # then the waiting case follows v2's prediction, and v1's stays in the history
    waiting.refresh_from_db()
    assert waiting.prediction.model_version == "v2"
    assert set(
        Prediction.objects.filter(scan=waiting.scan).values_list("model_version", flat=True)
    ) == {"v1", "v2"}
    # a reported case keeps its reads and its prediction
    assert Prediction.objects.filter(scan=reported.scan).count() == 1
    assert Case.objects.get(pk=reported.pk).prediction.model_version == "v1"
    assert RescoreJob.objects.count() == 1
