"""The comparison's statistics and the non-regression gate (issue 17, item 3): a candidate
that forgets a class is refused promotion unless an admin writes down why."""

import io

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from PIL import Image

from tests.tumorapp.registry.fakes import FORGETFUL, PATH
from tumorapp.audit.models import AuditEvent
from tumorapp.registry import stats
from tumorapp.registry.models import JobStatus
from tumorapp.registry.selectors import active_model
from tumorapp.registry.services import comparison_create, model_promote, model_register


def _png(brightness: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(brightness + rng.normal(0, 8, (32, 32)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def base_testing(settings, tmp_path):
    """Bright gliomas and dark normals: the stand-in predictor gets them all right."""
    for label, brightness in (("glioma", 210), ("no_tumor", 40)):
        folder = tmp_path / "base" / "Testing" / label
        folder.mkdir(parents=True)
        for seed in range(8):
            (folder / f"{seed}.png").write_bytes(_png(brightness, seed))
    settings.REGISTRY_BASE_DATA_DIR = tmp_path / "base"


@pytest.fixture
def versions(model_folder, db):
    v1 = model_register(path=model_folder("v1"))
    v2 = model_register(path=model_folder("v2"))
    model_promote(model=v1)
    return v1, v2


def _compare(dave, candidate, capture):
    with capture(execute=True):
        comparison = comparison_create(actor=dave, candidate=candidate, include_base_testing=True)
    comparison.refresh_from_db()
    assert comparison.status == JobStatus.SUCCEEDED, comparison.error
    return comparison


@pytest.mark.django_db
def test_a_candidate_that_forgets_a_class_is_refused_without_an_override(
    versions, base_testing, dave, carol, settings, client_for, django_capture_on_commit_callbacks
):
    v1, v2 = versions
    settings.INFERENCE_PREDICTOR = FORGETFUL
    # given a comparison where the candidate answers "no tumour" to every glioma
    comparison = _compare(dave, v2, django_capture_on_commit_callbacks)
    base = comparison.result["sets"]["base_testing"]
    assert base["candidate"]["recall_ci"]["glioma"]["value"] == 0.0
    assert base["baseline"]["recall_ci"]["glioma"]["value"] == 1.0
    assert base["baseline"]["auc"]["auc"] == 1.0 and base["candidate"]["auc"]["ci95"]
    assert base["mcnemar"]["class"]["only_a"] == 8 and base["mcnemar"]["class"]["p_value"] < 0.01
    assert comparison.result["gate"]["regressions"]
    # the page shows the intervals and the held-back gate
    page = client_for(carol).get(reverse("registry:comparison_detail", args=[comparison.public_id]))
    html = page.content.decode()
    assert "ROC AUC" in html and "Held back" in html and "recall of glioma" in html
    assert "despite the gate" in html
    # and the promotion's confirmation page asks for the reason
    confirm = client_for(carol).get(reverse("registry:promote", args=[v2.public_id]))
    assert 'name="override_reason"' in confirm.content.decode()
    # when an admin promotes without a reason, it is refused (page, service and API)
    client_for(carol).post(reverse("registry:promote", args=[v2.public_id]), {"confirm": "yes"})
    assert active_model() == v1
    with pytest.raises(ValidationError, match="recall of glioma"):
        model_promote(model=v2, actor=carol)
    # and allowed with one, audited with the regressions it overrode
    reason = "Glioma cases go to the neuro centre; this site never sees them."
    client_for(carol).post(
        reverse("registry:promote", args=[v2.public_id]),
        {"override_reason": reason, "confirm": "yes"},
    )
    assert active_model() == v2
    event = AuditEvent.objects.filter(action="model.promoted", actor=carol).get()
    assert event.details["gate_overridden"] and event.details["reason"] == reason
    assert "glioma" in event.details["regressions"][0]


@pytest.mark.django_db
def test_the_api_refuses_a_regression_and_accepts_an_override(
    versions, base_testing, dave, carol, settings, api_for, django_capture_on_commit_callbacks
):
    _, v2 = versions
    settings.INFERENCE_PREDICTOR = FORGETFUL
    _compare(dave, v2, django_capture_on_commit_callbacks)
    admin = api_for(carol)
    refused = admin.post(
        f"/api/v1/models/{v2.public_id}/promote/", {"confirm": True}, format="json"
    )
    assert refused.status_code == 400 and "glioma" in str(refused.data)
    allowed = admin.post(
        f"/api/v1/models/{v2.public_id}/promote/",
        {"override_reason": "Accepted by the clinical lead, ticket 42.", "confirm": True},
        format="json",
    )
    assert allowed.status_code == 200 and allowed.data["status"] == "active"


@pytest.mark.django_db
def test_a_candidate_as_good_as_the_active_passes_the_gate(
    versions, base_testing, dave, carol, settings, django_capture_on_commit_callbacks
):
    _, v2 = versions
    settings.INFERENCE_PREDICTOR = PATH
    comparison = _compare(dave, v2, django_capture_on_commit_callbacks)
    assert comparison.result["gate"]["regressions"] == []
    model_promote(model=v2, actor=carol)
    assert active_model() == v2


def test_delong_auc_matches_the_rank_statistic_and_its_interval_is_sane():
    rng = np.random.default_rng(3)
    positive = rng.random(300) < 0.4
    scores = rng.normal(size=300) + positive
    result = stats.roc_auc_ci(scores, positive)
    pos, neg = scores[positive], scores[~positive]
    expected = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert result["auc"] == pytest.approx(expected)
    low, high = result["ci95"]
    assert low < result["auc"] < high and 0.05 < high - low < 0.2
    assert stats.roc_auc_ci(scores, np.zeros(300, bool)) is None


def test_mcnemar_exact_and_the_interval_rule():
    a = np.array([True] * 9 + [False] * 11)
    b = np.array([False] * 9 + [True] * 1 + [False] * 10)
    result = stats.mcnemar_exact(a, b)
    assert (result["only_a"], result["only_b"]) == (9, 1)
    assert result["p_value"] == pytest.approx(0.021484375)
    assert stats.worse_beyond_interval(stats.proportion(0, 20), stats.proportion(18, 20))
    assert not stats.worse_beyond_interval(stats.proportion(16, 20), stats.proportion(18, 20))
    assert not stats.worse_beyond_interval(None, stats.proportion(18, 20))
    # a perfect candidate is never worse than a perfect baseline (the interval's rounding)
    for n in range(1, 200):
        assert not stats.worse_beyond_interval(stats.proportion(n, n), stats.proportion(n, n))
