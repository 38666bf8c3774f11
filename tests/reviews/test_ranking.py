"""One ranking rule: unusual images first, then the answer the case screen shows; a study is
keyed on its highest-P(tumour) slice. Property-checked over random predictions."""

import importlib

import pytest
from django.apps import apps as django_apps
from hypothesis import given, settings
from hypothesis import strategies as st

from reviews.labels import is_tumour
from reviews.models import Case
from reviews.services import answer_of, case_open_for_prediction, triage_priority
from tests.factories import InferenceRunFactory, PredictionFactory, ScanFactory
from tumorapp.inference.models import Prediction
from tumorapp.scans.models import Series, Study

CLASSES = ("glioma", "meningioma", "pituitary", "no_tumor")


@st.composite
def predictions(draw) -> Prediction:
    weights = [draw(st.floats(0.001, 1.0)) for _ in CLASSES]
    probabilities = {c: w / sum(weights) for c, w in zip(CLASSES, weights, strict=True)}
    p_tumor = 1.0 - probabilities["no_tumor"]
    threshold = draw(st.sampled_from([0.05, 0.2, 0.3, 0.5, 0.7]))
    ood = draw(st.booleans())
    return Prediction(
        probabilities=probabilities,
        p_tumor=p_tumor,
        tumor_suspected=p_tumor >= threshold,
        ood=ood,
        ood_score=draw(st.floats(1.0, 50.0)) if ood else draw(st.floats(0.0, 1.0)),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(predictions(), min_size=2, max_size=40))
def test_the_triage_order_follows_one_rule(batch):
    ranked = sorted(batch, key=lambda p: triage_priority(prediction=p))
    bands = [Case.Band(triage_priority(prediction=p) // 1000) for p in ranked]
    for p, band in zip(ranked, bands, strict=True):
        # the band says what the case screen says: unusual, or the AI's answer
        if p.ood:
            assert band == Case.Band.UNUSUAL
        elif is_tumour(answer_of(p)):
            assert band == Case.Band.SUSPECTED and p.tumor_suspected
        else:
            assert band in (Case.Band.UNCERTAIN, Case.Band.ROUTINE)
            assert not p.tumor_suspected
    for a, b in zip(ranked, ranked[1:], strict=False):
        # every unusual image before every other, every suspected tumour before the rest
        assert not (b.ood and not a.ood)
        if not a.ood and not b.ood:
            assert not (is_tumour(answer_of(b)) and not is_tumour(answer_of(a)))
        # unusual images, the most unusual first; suspected tumours, highest P(tumour) first
        # (out of order only where the within-band order rounds them to a tie)
        if a.ood and b.ood:
            assert a.ood_score >= b.ood_score or within_band(a) == within_band(b)
        if not (a.ood or b.ood) and is_tumour(answer_of(a)) and is_tumour(answer_of(b)):
            assert a.p_tumor >= b.p_tumor or within_band(a) == within_band(b)


def within_band(p: Prediction) -> int:
    return triage_priority(prediction=p) % 1000


def study_slice(study, series, instance: int, **prediction_fields) -> Prediction:
    scan = ScanFactory(series=series, instance_number=instance)
    run = InferenceRunFactory(scan=scan)
    return PredictionFactory(run=run, scan=scan, **prediction_fields)


@pytest.mark.django_db
def test_a_study_is_keyed_on_its_highest_probability_slice():
    study = Study.objects.create(study_uid="1.2.3", patient_key="p")
    series = Series.objects.create(study=study, series_uid="1.2.3.1", series_number=1)
    # given slices: a suspected one, the most likely tumour, and an unusual one
    case_open_for_prediction(prediction=study_slice(study, series, 1, p_tumor=0.6))
    top = study_slice(study, series, 2, p_tumor=0.93, label="meningioma")
    case_open_for_prediction(prediction=top)
    case = case_open_for_prediction(prediction=study_slice(study, series, 3, p_tumor=0.4))
    # then the key slice is the highest P(tumour), and its answer the case's
    case.refresh_from_db()
    assert (case.scan_id, case.ai_label) == (top.scan_id, "meningioma")
    assert case.band == Case.Band.SUSPECTED
    # when an unusual slice arrives, the study goes first (is it a brain MRI?), the key stays
    odd = study_slice(study, series, 4, p_tumor=0.1, label="no_tumor", ood=True, ood_score=3.0)
    case = case_open_for_prediction(prediction=odd)
    case.refresh_from_db()
    assert case.band == Case.Band.UNUSUAL and case.scan_id == top.scan_id


@pytest.mark.django_db
def test_the_migration_moves_stored_cases_to_the_new_bands(make_case):
    # given cases ranked by the old rule: an OOD tumour "uncertain" (2) below a suspected
    # tumour (1), an escalated routine case (0) and a reported case (3)
    unusual = make_case(p_tumor=0.99, label="glioma", ood=True, ood_score=2.0)
    suspected = make_case(p_tumor=0.5, label="glioma")
    escalated = make_case(p_tumor=0.05, label="no_tumor")
    reported = make_case(p_tumor=0.05, label="no_tumor")
    for case, old in ((unusual, 2010), (suspected, 1500), (escalated, 50), (reported, 3950)):
        Case.objects.filter(pk=case.pk).update(priority=old)
    Case.objects.filter(pk=reported.pk).update(status=Case.Status.DONE)
    # when the migration runs
    importlib.import_module("reviews.migrations.0009_triage_bands").forwards(django_apps, None)
    # then waiting cases follow the new rule, escalated stays escalated, reported moved up
    bands = {c.pk: c.band for c in Case.objects.all()}
    assert bands[unusual.pk] == Case.Band.UNUSUAL
    assert bands[suspected.pk] == Case.Band.SUSPECTED
    assert bands[escalated.pk] == Case.Band.ESCALATED
    assert bands[reported.pk] == Case.Band.ROUTINE
