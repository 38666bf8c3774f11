"""Drift against the training fingerprint, the sensitivity check, and alert episodes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from tests.factories import UserFactory
from tests.tumorapp.quality.conftest import (
    MODEL,
    TRAIN_CONTRAST,
    TRAIN_CONTRAST_SD,
    TRAIN_MEAN,
    TRAIN_MEAN_SD,
)
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.inference.models import Prediction
from tumorapp.quality.models import Alert
from tumorapp.quality.selectors import QualityFilters, quality_report
from tumorapp.quality.services import quality_refresh


def like_training(n: int, seed: int, *, intensity_scale=1.0, widths=(512,)) -> list[dict]:
    """Scans drawn from the fingerprint's distributions, optionally rescaled or resized."""
    rng = np.random.default_rng(seed)
    return [
        {
            "width": int(widths[i % len(widths)]),
            "height": int(widths[i % len(widths)]),
            "intensity_mean": float(rng.normal(TRAIN_MEAN, TRAIN_MEAN_SD) * intensity_scale),
            "intensity_std": float(rng.normal(TRAIN_CONTRAST, TRAIN_CONTRAST_SD) * intensity_scale),
        }
        for i in range(n)
    ]


def drift_events():
    return AuditEvent.objects.filter(action=Action.QUALITY_ALERT_RAISED)


def psi_by_feature(report) -> dict[str, float]:
    return {f["name"]: f["psi"] for f in report["drift"]["features"]}


def test_uploads_like_the_training_data_raise_no_drift(model_folder, make_scans):
    make_scans(like_training(200, seed=7))
    quality_refresh(full=True)
    report = quality_report(filters=QualityFilters.default())
    assert all(score < 0.1 for score in psi_by_feature(report).values()), psi_by_feature(report)
    assert report["drift"]["alert"] is False
    assert not Alert.objects.exists()
    assert not drift_events().exists()


def test_rescaled_intensities_raise_the_drift_alert_once(model_folder, make_scans):
    make_scans(like_training(200, seed=7, intensity_scale=2.0))
    quality_refresh(full=True)
    report = quality_report(filters=QualityFilters.default())
    psi = psi_by_feature(report)
    assert psi["mean_intensity"] > 0.25 and psi["contrast"] > 0.25
    assert psi["width"] < 0.1
    alert = Alert.objects.get()
    assert alert.kind == Alert.Kind.DRIFT and alert.model_version == MODEL
    assert "mean_intensity" in alert.message
    assert report["alerts"][0]["kind"] == "drift"
    # Evaluated again (next beat), the same episode stays open and is not audited again.
    quality_refresh()
    quality_refresh()
    assert Alert.objects.count() == 1
    assert drift_events().count() == 1


def test_a_different_resolution_mix_raises_the_drift_alert(model_folder, make_scans):
    make_scans(like_training(200, seed=8, widths=(256, 512, 1024)))
    quality_refresh(full=True)
    psi = psi_by_feature(quality_report(filters=QualityFilters.default()))
    assert psi["width"] > 0.25 and psi["height"] > 0.25
    assert psi["mean_intensity"] < 0.1
    assert Alert.objects.filter(kind=Alert.Kind.DRIFT, closed_at__isnull=True).count() == 1


def test_too_few_scans_do_not_alert(model_folder, make_scans, settings):
    settings.QUALITY_DRIFT_MIN_SCANS = 50
    make_scans(like_training(20, seed=9, intensity_scale=2.0))
    quality_refresh(full=True)
    assert not Alert.objects.exists()


def test_the_episode_closes_when_drift_ends_and_a_new_one_opens_later(
    model_folder, make_scans, settings
):
    settings.QUALITY_DRIFT_MIN_SCANS = 50
    predictions = make_scans(like_training(100, seed=7, intensity_scale=2.0))
    quality_refresh(full=True)
    assert Alert.objects.get().is_open
    # The drifted scans age out of the drift window, normal ones arrive.
    Prediction.objects.filter(pk__in=[p.pk for p in predictions]).update(
        created_at=timezone.now() - dt.timedelta(days=settings.QUALITY_DRIFT_DAYS + 1)
    )
    make_scans(like_training(100, seed=10))
    quality_refresh(full=True)
    assert not Alert.objects.get().is_open
    assert AuditEvent.objects.filter(action=Action.QUALITY_ALERT_CLEARED).count() == 1
    make_scans(like_training(400, seed=11, intensity_scale=2.0))
    quality_refresh()
    assert Alert.objects.filter(closed_at__isnull=True).count() == 1
    assert Alert.objects.count() == 2
    assert drift_events().count() == 2


@pytest.fixture
def reader(db):
    return UserFactory(username="reader", role=Role.RADIOLOGIST)


def reviewed_tumours(make_reviewed, reader, *, flagged: int, missed: int):
    for i in range(flagged + missed):
        make_reviewed(
            final="glioma",
            ai="glioma" if i < flagged else "no_tumor",
            suspected=i < flagged,
            confidence=0.9,
            reader=reader,
        )


def test_sensitivity_below_the_model_card_interval_raises_an_alert(
    model_folder, make_reviewed, reader
):
    # Card: 95 % (95 % CI 90-98 %). Recent: 20 of 25 = 80 %, below 90 %.
    reviewed_tumours(make_reviewed, reader, flagged=20, missed=5)
    quality_refresh(full=True)
    alert = Alert.objects.get(kind=Alert.Kind.SENSITIVITY)
    assert "80.0 %" in alert.message and "90.0-98.0 %" in alert.message
    event = drift_events().get()
    assert event.details["kind"] == "sensitivity"
    assert event.target_id == str(alert.public_id)


def test_sensitivity_within_the_interval_raises_nothing(model_folder, make_reviewed, reader):
    # 23 of 24 = 95.8 %: inside the card's interval.
    reviewed_tumours(make_reviewed, reader, flagged=23, missed=1)
    quality_refresh(full=True)
    assert not Alert.objects.exists()


def test_too_few_tumours_say_nothing(model_folder, make_reviewed, reader, settings):
    settings.QUALITY_SENSITIVITY_MIN_POSITIVES = 20
    reviewed_tumours(make_reviewed, reader, flagged=5, missed=5)
    quality_refresh(full=True)
    assert not Alert.objects.exists()


def test_a_model_without_a_reference_never_alerts(make_scans, settings, tmp_path):
    settings.QUALITY_MODELS_DIR = tmp_path
    make_scans(like_training(200, seed=7, intensity_scale=3.0), model_version="unknown")
    quality_refresh(full=True)
    report = quality_report(filters=QualityFilters.default())
    assert report["drift"]["has_fingerprint"] is False
    assert all(f["psi"] is None for f in report["drift"]["features"])
    assert not Alert.objects.exists()


def test_ood_rate(model_folder, make_scans):
    make_scans([{"ood": True}] * 3 + [{}] * 7)
    quality_refresh(full=True)
    ood = quality_report(filters=QualityFilters.default())["drift"]["ood"]
    assert (ood["successes"], ood["n"]) == (3, 10)


def test_scanner_categories_come_from_the_dicom_series(model_folder, make_scans):
    from tumorapp.quality.services import scan_category_fields
    from tumorapp.scans.models import Scan

    if "manufacturer" not in scan_category_fields():
        pytest.skip("this tree's Scan has no DICOM acquisition fields yet")
    from tumorapp.scans.models import Series, Study

    study = Study.objects.create(study_uid="1.2.3", patient_key="p")
    siemens = Series.objects.create(
        study=study,
        series_uid="1.2.3.1",
        manufacturer="SIEMENS",
        manufacturer_model_name="Skyra",
        magnetic_field_strength=3.0,
    )
    predictions = make_scans(like_training(5, seed=1))
    Scan.objects.filter(pk__in=[p.scan_id for p in predictions[:3]]).update(series=siemens)
    quality_refresh(full=True)
    categories = quality_report(filters=QualityFilters.default())["drift"]["categories"]
    assert categories == {
        "manufacturer": {"SIEMENS": 3},
        "scanner_model": {"Skyra": 3},
        "field_strength": {"3.0": 3},
    }


def test_the_shipped_fingerprint_is_comparable(make_scans):
    """The committed model's fingerprint bins match the bins the roll-up counts in."""
    from tumorapp.quality.reference import model_reference, shipped_version

    version = shipped_version()
    if not version:
        pytest.skip("no model shipped in this tree")
    reference = model_reference(version)
    assert reference.fingerprint and reference.card["sensitivity_ci95"]
    make_scans(like_training(60, seed=2), model_version=version)
    quality_refresh(full=True)
    features = quality_report(filters=QualityFilters.default())["drift"]["features"]
    assert {f["name"] for f in features} == set(reference.fingerprint["features"])
    assert all(f["psi"] is not None for f in features)


def test_old_refresh_rows_are_pruned(db, model_folder):
    from tumorapp.quality.models import Refresh

    old = timezone.now() - dt.timedelta(days=8)
    Refresh.objects.create(started_at=old, finished_at=old)
    recent = Refresh.objects.create(started_at=old, finished_at=timezone.now())
    latest = quality_refresh()
    assert set(Refresh.objects.all()) == {recent, latest}
