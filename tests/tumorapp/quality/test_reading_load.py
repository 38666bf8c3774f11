"""Reading load a site can plan for (issue 17, item 6): the site options page shows the
share of first reads the current double-reading rule sends to a second reader."""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from reviews.models import Case, Review, SiteOptions
from tests.tumorapp.datasets.conftest import media_dir  # noqa: F401 - shared fixture
from tests.tumorapp.datasets.reviewed import read, single_reads_only, upload
from tumorapp.quality.selectors import second_read_share

pytestmark = pytest.mark.django_db


def _slice(brightness: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(brightness + rng.normal(0, 4, (64, 64)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.usefixtures("media_dir")
def test_the_options_page_shows_the_expected_share_of_second_reads(
    bob, alice, carol, client_for, settings, django_capture_on_commit_callbacks
):
    from tests.tumorapp.inference.fakes import FakePredictor

    settings.INFERENCE_PREDICTOR = "tests.tumorapp.inference.fakes.FakePredictor"
    FakePredictor.loads = 0
    capture = django_capture_on_commit_callbacks
    single_reads_only()
    # given four first reads: one contradicts a confident AI (a bright slice: "glioma" at
    # P >= 0.9 read as no tumour), three agree with it
    bright = upload(bob, "bright.png", _slice(245, 1), capture)
    assert bright.prediction.probabilities[bright.ai_label] >= 0.9
    read(bright, alice, "no_tumor", reason="other")
    for seed in range(2, 5):
        case = upload(bob, f"s{seed}.png", _slice(20 * seed + 40, seed), capture)
        read(case, alice, case.ai_label)
    assert Review.objects.filter(kind="first").count() == 4
    # then with no random sample, one in four goes to a second reader
    load = second_read_share()
    assert (load["reads"], load["second"], load["confident_disagreements"]) == (4, 1, 1)
    assert load["share"] == 0.25
    # with every case sampled, all four would
    options = SiteOptions.current()
    options.double_read_rate = 1.0
    options.save()
    assert second_read_share()["share"] == 1.0
    page = client_for(carol).get(reverse("reviews:site_options")).content.decode()
    assert 'id="second-read-share">100.0 %' in page and "4 of 4" in page
    assert Case.objects.filter(status="second_read").count() == 1


@pytest.mark.usefixtures("media_dir")
def test_a_correction_can_name_the_model_error(
    bob, alice, settings, django_capture_on_commit_callbacks
):
    settings.INFERENCE_PREDICTOR = "tests.tumorapp.inference.fakes.FakePredictor"
    single_reads_only()
    assert {"missed_tumour", "false_alarm", "wrong_type", "artefact_misread"} <= set(
        Review.Reason.values
    )
    # a dim slice the AI calls normal, read as a glioma: the model missed a tumour
    case = upload(bob, "dim.png", _slice(60, 7), django_capture_on_commit_callbacks)
    assert case.ai_label == "no_tumor"
    read(case, alice, "glioma", reason=Review.Reason.MISSED_TUMOUR)
    assert Review.objects.get(case=case).reason == "missed_tumour"
