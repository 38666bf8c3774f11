"""One AI answer: the answer agrees with the "suspected tumour" flag everywhere it is used."""

import importlib
import random

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError

from reviews.labels import ai_answer
from reviews.models import Case, SiteOptions
from reviews.services import case_claim_next, review_submit
from tests.factories import PredictionFactory

# Flagged (P(tumour) 0.35 >= the 0.3 threshold) while "no tumour" is the likeliest class.
FLAGGED_ARGMAX_NO_TUMOUR = {
    "glioma": 0.1,
    "meningioma": 0.2,
    "pituitary": 0.05,
    "no_tumor": 0.65,
}


def flagged_case(make_case):
    return make_case(
        p_tumor=0.35, label="no_tumor", probabilities=FLAGGED_ARGMAX_NO_TUMOUR, threshold=0.3
    )


def random_probabilities(rng: random.Random) -> dict[str, float]:
    raw = [rng.random() ** 3 for _ in range(4)]
    total = sum(raw)
    classes = ("glioma", "meningioma", "pituitary", "no_tumor")
    return {c: r / total for c, r in zip(classes, raw, strict=True)}


def test_a_flagged_case_answers_its_most_likely_tumour_class(make_case):
    case = flagged_case(make_case)
    assert case.prediction.tumor_suspected
    assert case.ai_label == "meningioma"


@pytest.mark.django_db
def test_no_random_prediction_gets_an_answer_that_contradicts_its_flag(make_case):
    rng = random.Random(17)
    for _ in range(300):
        probabilities = random_probabilities(rng)
        p_tumor = 1 - probabilities["no_tumor"]
        threshold = rng.choice([0.1, 0.2, 0.3, 0.5])
        case = make_case(p_tumor=p_tumor, probabilities=probabilities, threshold=threshold)
        tumours = {c: p for c, p in probabilities.items() if c != "no_tumor"}
        if p_tumor >= threshold:
            assert case.ai_label == max(tumours, key=tumours.get)
        else:
            assert case.ai_label == "no_tumor"


def test_the_accept_key_cannot_record_no_tumour_on_a_flagged_case(make_case, alice):
    # given a site with single reads and a flagged case whose argmax is "no tumour"
    options = SiteOptions.current()
    options.double_read_rate = 0.0
    options.save()
    case = flagged_case(make_case)
    claimed = case_claim_next(reader=alice)
    assert claimed == case
    # when the reader submits "no tumour" without a reason (what accepting the argmax did)
    # then it is refused: it differs from the AI's answer
    with pytest.raises(ValidationError):
        review_submit(case=claimed, reader=alice, label="no_tumor")
    # and accepting the AI's answer records the tumour class
    review = review_submit(case=claimed, reader=alice, label=claimed.ai_label)
    assert (review.label, review.ai_label) == ("meningioma", "meningioma")
    case.refresh_from_db()
    assert case.final_label == "meningioma"


def test_the_api_gives_the_same_answer_as_the_case_screen(make_case, alice, api_for):
    case = flagged_case(make_case)
    body = api_for(alice).post("/api/v1/reviews/next/").json()
    assert body["case"]["id"] == str(case.public_id)
    assert body["ai"]["label"] == "meningioma"


def test_the_worklist_and_case_screen_show_the_answer(make_case, alice, client_for):
    case = flagged_case(make_case)
    client = client_for(alice)
    worklist = client.get("/worklist/").content.decode()
    row = worklist.split('<tr class="band-')[1]
    assert "<td>Meningioma</td>" in row
    page = client.get(f"/worklist/cases/{case.public_id}/").content.decode()
    assert "<strong>Meningioma</strong>" in page


def test_the_migration_recomputes_stored_answers(make_case):
    # given a prediction and its case stored before: the argmax on a flagged scan
    case = flagged_case(make_case)
    PredictionFactory._meta.model.objects.filter(pk=case.prediction_id).update(label="no_tumor")
    Case.objects.filter(pk=case.pk).update(ai_label="no_tumor")
    # when the data migration runs
    migration = importlib.import_module("reviews.migrations.0007_one_ai_answer")
    migration.recompute(django_apps, None)
    # then both carry the answer that agrees with the flag
    case.refresh_from_db()
    case.prediction.refresh_from_db()
    assert (case.prediction.label, case.ai_label) == ("meningioma", "meningioma")


def test_ai_answer_rule():
    assert ai_answer(FLAGGED_ARGMAX_NO_TUMOUR, True) == "meningioma"
    assert ai_answer({"glioma": 0.9, "no_tumor": 0.1}, False) == "no_tumor"
