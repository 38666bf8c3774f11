"""A site operating point (issue 17, item 4): an admin fits the tumour threshold on the
site's reviewed cases for a target sensitivity, sees its interval and the false-alarm rate,
applies it (audited, a row per version), and new predictions are flagged with it."""

import dataclasses
import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tumorapp.audit.models import AuditEvent
from tumorapp.quality.selectors import QualityFilters, quality_report
from tumorapp.registry.models import SiteOperatingPoint
from tumorapp.registry.selectors import (
    effective_threshold,
    operating_point,
    operating_point_proposal,
)
from tumorapp.registry.services import model_promote, model_register, operating_point_apply

pytestmark = pytest.mark.django_db


def _slice(brightness: int, seed: int) -> bytes:
    """The stand-in predictor's P(tumour) is the mean brightness / 255."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(brightness + rng.normal(0, 4, (64, 64)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def reviewed_site(model_folder, folder_predictor, media_dir, bob, alice, capture):
    """v1 active (its own threshold 0.3); 10 reviewed tumours with P(tumour) 0.55-0.9 and
    10 reviewed normals with 0.12-0.5."""
    single_reads_only()
    v1 = model_register(path=model_folder("v1"))
    model_promote(model=v1)
    for i in range(10):
        read(upload(bob, f"t{i}.png", _slice(140 + 9 * i, i), capture), alice, "glioma")
        read(upload(bob, f"n{i}.png", _slice(30 + 10 * i, 100 + i), capture), alice, "no_tumor")
    return v1


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def test_an_applied_operating_point_flags_new_predictions(reviewed_site, carol, bob, capture):
    v1 = reviewed_site
    assert effective_threshold(v1) == 0.3
    # given the proposal for 0.97 sensitivity on the site's reviewed cases
    proposal = operating_point_proposal(model=v1, target=0.97)
    assert (proposal["n"], proposal["tumours"], proposal["normals"]) == (20, 10, 10)
    low, high = proposal["threshold_ci95"]
    assert 0.5 < proposal["threshold"] < 0.6 and low <= proposal["threshold"] <= high
    assert proposal["at_threshold"]["sensitivity"]["value"] == 1.0
    # fewer false alarms than the model's own threshold on the same cases
    fewer = proposal["at_threshold"]["false_alarm_rate"]["value"]
    assert fewer < proposal["at_current"]["false_alarm_rate"]["value"]
    before = upload(bob, "before.png", _slice(105, 500), capture)
    assert before.prediction.tumor_suspected  # P(tumour) ~0.41 >= 0.3
    # when the admin applies it
    point = operating_point_apply(model=v1, target=0.97, actor=carol)
    # then it is in force for v1, versioned and audited
    assert effective_threshold(v1) == effective_threshold("v1") == point.threshold
    assert SiteOperatingPoint.objects.filter(model=v1).count() == 1
    event = AuditEvent.objects.get(action="model.operating_point_applied")
    assert event.actor == carol and event.details["previous_threshold"] == 0.3
    # and a new prediction with the same P(tumour) is no longer flagged
    after = upload(bob, "after.png", _slice(105, 501), capture)
    assert not after.prediction.tumor_suspected
    # the review screen's selector and the dashboard say which threshold is in force
    assert operating_point("v1")["threshold"] == point.threshold
    assert operating_point("v1")["source"] == "site"
    filters = dataclasses.replace(QualityFilters.default(), model_version="v1")
    meta = quality_report(filters=filters)["meta"]
    assert meta["site_threshold"] and meta["threshold"] == point.threshold


def test_too_few_reviewed_cases_give_no_proposal(model_folder, carol):
    v1 = model_register(path=model_folder("v1"))
    proposal = operating_point_proposal(model=v1, target=0.97)
    assert "Too few reviewed cases" in proposal["error"]
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        operating_point_apply(model=v1, target=0.97, actor=carol)


def test_the_admin_fits_and_applies_from_the_page(reviewed_site, carol, dave, client_for):
    v1 = reviewed_site
    url = reverse("registry:operating_point", args=[v1.public_id])
    page = client_for(carol).get(url, {"target": "0.9"}).content.decode()
    assert 'id="proposed-threshold"' in page and "Expected false-alarm rate" in page
    client_for(carol).post(url, {"target": "0.9"})
    point = SiteOperatingPoint.objects.get()
    assert point.target_sensitivity == 0.9 and point.applied_by == carol
    models_page = client_for(carol).get(reverse("registry:model_list")).content.decode()
    assert f"{point.threshold:.3f}" in models_page and 'pill info">site' in models_page
    # the data team and other roles cannot set it
    assert client_for(dave).post(url, {"target": "0.9"}).status_code == 403
    assert SiteOperatingPoint.objects.count() == 1
