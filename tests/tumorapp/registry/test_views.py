import io
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tests.tumorapp.registry.fakes import PATH
from tests.tumorapp.scans import images
from tumorapp.audit.models import AuditEvent
from tumorapp.datasets import manifest
from tumorapp.datasets.models import DatasetExport
from tumorapp.datasets.services import export_create
from tumorapp.registry.models import Comparison, JobStatus, ModelVersion, TrainingJob
from tumorapp.registry.selectors import active_model
from tumorapp.registry.services import comparison_create, model_promote, model_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions(model_folder):
    v1 = model_register(path=model_folder("v1"))
    v2 = model_register(path=model_folder("v2"))
    model_promote(model=v1)
    return v1, v2


def test_an_admin_promotes_and_rolls_back_from_the_page(two_versions, carol, client_for):
    v1, v2 = two_versions
    client = client_for(carol)
    page = client.get(reverse("registry:model_list")).content.decode()
    assert "v1" in page and "Promote" in page
    client.post(reverse("registry:promote", args=[v2.public_id]), {"confirm": "yes"})
    assert active_model() == v2
    page = client.get(reverse("registry:model_list")).content.decode()
    assert "Roll back to v1" in page
    client.post(reverse("registry:rollback"), {"confirm": "yes"})
    assert active_model() == v1
    assert AuditEvent.objects.filter(action="model.promoted", actor=carol).count() == 1
    assert AuditEvent.objects.filter(action="model.rolled_back", actor=carol).count() == 1


def test_the_data_team_cannot_promote(two_versions, dave, client_for, api_for):
    _, v2 = two_versions
    assert (
        client_for(dave).post(reverse("registry:promote", args=[v2.public_id])).status_code == 403
    )
    assert api_for(dave).post(f"/api/v1/models/{v2.public_id}/promote/").status_code == 403
    assert active_model().version == "v1"


def test_the_data_team_starts_a_training_job_and_follows_its_failure(
    two_versions,
    dave,
    client_for,
    settings,
    tmp_path,
    media_dir,
    django_capture_on_commit_callbacks,
):
    # given a finished export and a training argument ml.train refuses
    settings.REGISTRY_MODELS_DIR = tmp_path / "site-models"
    settings.REGISTRY_TRAINING_ARGS = ["--no-such-option"]
    settings.REGISTRY_BASE_DATA_DIR = tmp_path / "base"
    (tmp_path / "base" / "Testing").mkdir(parents=True)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("DATASET_CARD.md", "empty")
    name = default_storage.save("exports/e.zip", ContentFile(buffer.getvalue()))
    export = DatasetExport.objects.create(
        created_by=dave, status="succeeded", file=name, version_id="a" * 64
    )
    client = client_for(dave)
    # when dave starts a training from the page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("registry:training_create"),
            {
                "exports": [export.public_id],
                "include_base": "on",
                "init_from": two_versions[0].public_id,
                "epochs": 2,
            },
        )
    job = TrainingJob.objects.get()
    assert response["Location"] == reverse("registry:training_detail", args=[job.public_id])
    # then the job failed with ml.train's own message, shown on its page
    assert job.status == JobStatus.FAILED and "no-such-option" in job.error
    assert job.command[1:3] == ["-m", "ml.train"] and "--init-from" in job.command
    page = client.get(response["Location"]).content.decode()
    assert "no-such-option" in page
    assert AuditEvent.objects.filter(action="model.training_started", actor=dave).exists()


def test_a_training_needs_data(dave, client_for):
    response = client_for(dave).post(reverse("registry:training_create"), {"epochs": 2})
    assert response.status_code == 200 and "Choose at least one export" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_a_comparison_shows_both_models_side_by_side(
    two_versions, dave, client_for, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.INFERENCE_PREDICTOR = PATH
    # given a tiny base Testing split
    for label in ("glioma", "no_tumor"):
        folder = tmp_path / "base" / "Testing" / label
        folder.mkdir(parents=True)
        for seed in range(3):
            (folder / f"{seed}.png").write_bytes(images.png_bytes(32, 32, seed=seed))
    settings.REGISTRY_BASE_DATA_DIR = tmp_path / "base"
    client = client_for(dave)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("registry:comparison_create"),
            {"candidate": two_versions[1].public_id, "include_base_testing": "on"},
        )
    comparison = Comparison.objects.get()
    assert comparison.status == JobStatus.SUCCEEDED, comparison.error
    base = comparison.result["sets"]["base_testing"]
    assert base["candidate"]["n"] == base["baseline"]["n"] == 6
    assert set(base["candidate"]["recall"]) == {"glioma", "meningioma", "pituitary", "no_tumor"}
    page = client.get(response["Location"]).content.decode()
    assert "Base data, Testing split" in page and "Calibration error" in page


def test_the_active_version_cannot_be_its_own_candidate(two_versions, dave, client_for):
    v1, _ = two_versions
    response = client_for(dave).post(
        reverse("registry:comparison_create"),
        {"candidate": v1.public_id, "include_base_testing": "on"},
    )
    assert response.status_code == 200 and not Comparison.objects.exists()
    assert ModelVersion.objects.get(pk=v1.pk).status == "active"


def test_the_api_trains_compares_and_promotes_by_role(
    two_versions, dave, carol, api_for, settings, tmp_path, django_capture_on_commit_callbacks
):
    v1, v2 = two_versions
    settings.INFERENCE_PREDICTOR = PATH
    folder = tmp_path / "base" / "Testing" / "glioma"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(images.png_bytes(32, 32, seed=1))
    settings.REGISTRY_BASE_DATA_DIR = tmp_path / "base"
    team, admin = api_for(dave), api_for(carol)
    # the data team lists versions and starts a comparison
    assert {m["version"] for m in team.get("/api/v1/models/").data["results"]} == {"v1", "v2"}
    with django_capture_on_commit_callbacks(execute=True):
        created = team.post(
            "/api/v1/comparisons/",
            {"candidate": str(v2.public_id), "include_base_testing": True},
            format="json",
        )
    assert created.status_code == 202
    detail = team.get(f"/api/v1/comparisons/{created.data['id']}/").data
    assert detail["status"] == "succeeded" and detail["baseline"] == "v1"
    assert detail["result"]["sets"]["base_testing"]["candidate"]["n"] == 1
    # training needs data: without the base data, an export
    no_data = {"epochs": 2, "include_base": False, "base_excluded_reason": "Testing the API."}
    assert team.post("/api/v1/trainings/", no_data, format="json").status_code == 400
    # the admin promotes and rolls back
    confirmed = {"confirm": True}
    promoted = admin.post(f"/api/v1/models/{v2.public_id}/promote/", confirmed, format="json")
    assert promoted.data["status"] == "active"
    assert admin.post("/api/v1/models/rollback/", confirmed, format="json").data["version"] == "v1"


def test_the_navigation_offers_datasets_and_models_to_their_roles(users):
    from tumorapp.core.navigation import navigation_for

    def labels(user):
        return {item.label for item in navigation_for(user)}

    assert {"Datasets", "Models"} <= labels(users["data_team"])
    assert "Models" in labels(users["admin"]) and "Datasets" not in labels(users["admin"])
    for role in ("radiologist", "technologist", "none"):
        assert not {"Datasets", "Models"} & labels(users[role])


def test_an_admin_re_scores_from_the_page(two_versions, carol, client_for):
    response = client_for(carol).post(reverse("registry:rescore"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="model.rescore_started", actor=carol).exists()


def test_a_comparison_counts_a_type_unknown_tumour_for_sensitivity_only(
    two_versions,
    bob,
    alice,
    dave,
    client_for,
    settings,
    media_dir,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    single_reads_only()
    # given an export whose test split holds a glioma, a normal and a tumour of unknown type
    monkeypatch.setattr(manifest, "split_of", lambda group: "test")
    for seed, label in ((1, "glioma"), (2, "no_tumor"), (3, "tumor_unknown")):
        read(
            upload(bob, f"s{seed}.png", images.png_bytes(64, 64, seed=seed), capture), alice, label
        )
    with capture(execute=True):
        export = export_create(actor=dave)
    export.refresh_from_db()
    assert export.counts == {"test": {"glioma": 1, "no_tumor": 1, "tumor_unknown": 1}}
    # when the data team compares the candidate on it
    settings.INFERENCE_PREDICTOR = PATH
    with capture(execute=True):
        comparison = comparison_create(actor=dave, candidate=two_versions[1], export=export)
    comparison.refresh_from_db()
    # then the comparison succeeds: the three images count for tumour sensitivity and
    # specificity, the two with a model class for accuracy and recall
    assert comparison.status == JobStatus.SUCCEEDED, comparison.error
    for role in ("candidate", "baseline"):
        figures = comparison.result["sets"]["reviewed"][role]
        assert (figures["n"], figures["type_unknown"]) == (3, 1)
        assert (figures["tumour"]["positives"], figures["tumour"]["negatives"]) == (2, 1)
        assert figures["recall"]["meningioma"] is None and 0 <= figures["accuracy"] <= 1
    page = client_for(dave).get(reverse("registry:comparison_detail", args=[comparison.public_id]))
    assert "1 tumour of unknown type: in tumour sensitivity only" in page.content.decode()
