"""Retraining with safe defaults (issue 17, item 1): fine-tune the active version, replay
the base data unless a reason is written down, and the parent's own recipe."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from tumorapp.audit.models import AuditEvent
from tumorapp.datasets.models import DatasetExport
from tumorapp.registry import training
from tumorapp.registry.models import TrainingJob
from tumorapp.registry.services import model_promote, model_register, training_job_create

pytestmark = pytest.mark.django_db

RECIPE = {"learning_rate": 5e-4, "max_epochs": 6, "epochs_run": 6, "frozen_blocks": 10}


@pytest.fixture
def active(model_folder):
    model = model_register(path=model_folder("parent", training=RECIPE))
    model_promote(model=model)
    return model


@pytest.fixture
def export(dave):
    return DatasetExport.objects.create(
        created_by=dave,
        status="succeeded",
        file="exports/e.zip",
        version_id="b" * 64,
        finished_at=timezone.now(),
    )


def test_a_training_fine_tunes_the_active_version_with_its_recipe_and_the_base_data(
    active, export, dave, settings, tmp_path
):
    # when the data team names nothing but the export
    job = training_job_create(actor=dave, exports=[export])
    # then the job fine-tunes the active version, replays the base data, with its recipe
    assert job.init_from == active and job.include_base
    assert (job.epochs, job.learning_rate, job.frozen_blocks) == (6, 5e-4, 10)
    settings.REGISTRY_BASE_DATA_DIR = tmp_path / "base"
    cmd = training.command(job, [Path("/scratch/export")], tmp_path / "out")
    assert cmd[cmd.index("--data") + 1] == str(tmp_path / "base")
    assert cmd[cmd.index("--extra") + 1] == "/scratch/export"
    assert cmd[cmd.index("--init-from") + 1] == active.path
    assert cmd[cmd.index("--lr") + 1] == "0.0005"
    assert cmd[cmd.index("--epochs") + 1] == "6"
    assert cmd[cmd.index("--frozen-blocks") + 1] == "10"


def test_leaving_the_base_data_out_needs_a_reason_which_is_stored_and_audited(active, export, dave):
    with pytest.raises(ValidationError) as refused:
        training_job_create(actor=dave, exports=[export], include_base=False)
    assert "base_excluded_reason" in refused.value.message_dict
    reason = "Site-only ablation for the model card, not for promotion."
    job = training_job_create(
        actor=dave, exports=[export], include_base=False, base_excluded_reason=reason
    )
    assert job.base_excluded_reason == reason
    event = AuditEvent.objects.get(action="model.training_started")
    assert event.details["base_excluded_reason"] == reason and not event.details["include_base"]


def test_from_scratch_only_when_asked_and_a_given_epoch_count_wins(active, export, dave):
    job = training_job_create(actor=dave, exports=[export], from_scratch=True)
    assert job.init_from is None and job.epochs is None and job.learning_rate is None
    TrainingJob.objects.all().delete()
    job = training_job_create(actor=dave, exports=[export], epochs=2)
    assert job.init_from == active and job.epochs == 2 and job.learning_rate == 5e-4


def test_without_an_active_version_the_parent_must_be_named(export, dave):
    with pytest.raises(ValidationError) as refused:
        training_job_create(actor=dave, exports=[export])
    assert "init_from" in refused.value.message_dict


def test_the_api_defaults_are_the_safe_ones(active, export, dave, api_for):
    created = api_for(dave).post(
        "/api/v1/trainings/", {"exports": [str(export.public_id)]}, format="json"
    )
    assert created.status_code == 202, created.data
    assert created.data["init_from"] == "parent" and created.data["include_base"] is True
    assert created.data["learning_rate"] == 5e-4 and created.data["frozen_blocks"] == 10
    refused = api_for(dave).post(
        "/api/v1/trainings/",
        {"exports": [str(export.public_id)], "include_base": False},
        format="json",
    )
    assert refused.status_code == 400
    assert "base_excluded_reason" in refused.data["error"]["message"]


def test_the_page_offers_the_safe_defaults(active, export, dave, client_for):
    page = client_for(dave).get(reverse("registry:model_list")).content.decode()
    assert 'name="include_base" id="id_include_base" checked' in page
    assert f'<option value="{active.public_id}" selected>' in page
    assert "Train from scratch instead" in page and "learning rate 0.0005" in page
    # an unticked base box without a reason is refused on the page too
    response = client_for(dave).post(
        reverse("registry:training_create"), {"exports": [export.public_id]}
    )
    assert response.status_code == 200 and "Say why the base data is left out" in (
        response.content.decode()
    )
    assert not TrainingJob.objects.exists()
