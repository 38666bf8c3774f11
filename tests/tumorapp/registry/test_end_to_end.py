"""The loop the product exists for, end to end with the real model code: scans are uploaded
and predicted by the shipped model, radiologists correct them, the data team exports and
retrains (fine-tuning the shipped model for one epoch in a real ``python -m ml.train``
subprocess), compares the candidate with the active model, an admin promotes it, and the
next upload is predicted by the new version."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db.models import F as models_f

from reviews.models import Case
from tests.factories import UserFactory
from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import AuditEvent
from tumorapp.datasets.services import export_create
from tumorapp.inference import predictor as predictor_module
from tumorapp.registry.models import JobStatus, ModelVersion
from tumorapp.registry.services import (
    comparison_create,
    model_promote,
    model_register,
    promotion_regressions,
    training_job_create,
)

TESTING = Path(django_settings.REGISTRY_BASE_DATA_DIR) / "Testing"
FOLDERS = {
    "glioma": "glioma_tumor",
    "meningioma": "meningioma_tumor",
    "pituitary": "pituitary_tumor",
    "no_tumor": "no_tumor",
}
PER_CLASS = 6

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db,
    pytest.mark.skipif(not TESTING.is_dir(), reason="the public data set is not checked out"),
]


@pytest.fixture
def real_model(settings, tmp_path):
    settings.INFERENCE_PREDICTOR = "ml.predict.Predictor"
    settings.REGISTRY_MODELS_DIR = tmp_path / "site-models"
    # One short epoch on a couple of dozen images: a minute on two cores.
    settings.REGISTRY_TRAINING_ARGS = ["--outliers", "3", "--batch-size", "8", "--threads", "2"]
    predictor_module._loaded.clear()
    yield
    predictor_module._loaded.clear()


def test_corrections_become_a_new_model_that_predicts_the_next_upload(
    real_model, media_dir, bob, alice, carol, dave, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    single_reads_only()
    shipped = model_register(path=django_settings.REGISTRY_SHIPPED_MODEL_DIR)
    model_promote(model=shipped, actor=carol)

    # given real slices uploaded and predicted by the shipped model
    cases = {}
    for label, folder in FOLDERS.items():
        for path in sorted((TESTING / folder).glob("*.jpg"))[:PER_CLASS]:
            case = upload(bob, path.name, path.read_bytes(), capture)
            cases.setdefault(case.pk, (case, label))  # the public set holds byte duplicates
    cases = list(cases.values())
    assert {c.prediction.model_version for c, _ in cases} == {shipped.version}

    # and read by a radiologist, who corrects the AI where it is wrong
    # (a correction of a confident AI gets a second read, which agrees)
    second = UserFactory(username="grace", role=Role.RADIOLOGIST)
    for case, truth in cases:
        if read(case, alice, truth).status == Case.Status.SECOND_READ:
            read(case, second, truth)
    corrected = Case.objects.exclude(final_label=models_f("ai_label")).count()

    # when the data team exports them and retrains from the shipped model
    with capture(execute=True):
        export = export_create(actor=dave)
    export.refresh_from_db()
    assert export.status == "succeeded" and export.total == len(cases)
    with capture(execute=True):
        job = training_job_create(
            actor=dave,
            exports=[export],
            init_from=shipped,
            epochs=1,
            include_base=False,
            base_excluded_reason="A one-epoch smoke test on two dozen images.",
        )
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error + job.log_tail
    candidate = job.candidate
    assert candidate.status == ModelVersion.Status.CANDIDATE and candidate.parent == shipped
    assert list(candidate.training_exports.all()) == [export]
    assert "model_dir" in job.log_tail and job.progress == 100

    # and compares it with the active model on the export's held-out cases
    with capture(execute=True):
        comparison = comparison_create(actor=dave, candidate=candidate, export=export)
    comparison.refresh_from_db()
    assert comparison.status == JobStatus.SUCCEEDED, comparison.error
    reviewed = comparison.result["sets"]["reviewed"]
    held_out = export.counts.get("test", {})
    assert reviewed["candidate"]["n"] == reviewed["baseline"]["n"] == sum(held_out.values())

    # and an admin promotes it; a one-epoch candidate on two dozen images may well lose site
    # sensitivity, in which case the gate refuses it until the admin writes a reason
    lost = promotion_regressions(model=candidate, baseline=shipped)
    if lost:
        with pytest.raises(ValidationError, match="regression"):
            model_promote(model=candidate, actor=carol)
        assert candidate.status == ModelVersion.Status.CANDIDATE
    model_promote(model=candidate, actor=carol, override_reason="End-to-end smoke promotion.")
    promoted = AuditEvent.objects.filter(action="model.promoted").latest("pk")
    assert promoted.details.get("gate_overridden", False) == bool(lost)

    # then the next upload is predicted by the new version
    path = sorted((TESTING / "glioma_tumor").glob("*.jpg"))[PER_CLASS]
    after = upload(bob, path.name, path.read_bytes(), capture)
    assert after.prediction.model_version == candidate.version != shipped.version
    assert AuditEvent.objects.filter(action="model.promoted").count() == 2
    assert (
        corrected
        == Case.objects.filter(status="done").exclude(final_label=models_f("ai_label")).count()
    )
