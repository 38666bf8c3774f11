"""Quality fixtures: a model folder built from known numbers, and cases with set timestamps."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from django.utils import timezone

from ml.fingerprint import build_fingerprint
from reviews.models import Case, Review
from tests.factories import UserFactory
from tumorapp.accounts.roles import Role
from tumorapp.inference.models import InferenceRun, Prediction
from tumorapp.quality import reference
from tumorapp.scans.models import Scan

MODEL = "test-model-1"
CARD = {
    "sensitivity": 0.95,
    "sensitivity_ci95": [0.9, 0.98],
    "specificity": 0.9,
    "specificity_ci95": [0.85, 0.94],
    "threshold": 0.3,
}
# The training images of the fingerprint: 512x512, mean intensity ~ N(60, 12), SD ~ N(45, 8).
TRAIN_MEAN, TRAIN_MEAN_SD, TRAIN_CONTRAST, TRAIN_CONTRAST_SD = 60.0, 12.0, 45.0, 8.0


def training_features(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "width": np.full(n, 512.0),
        "height": np.full(n, 512.0),
        "aspect": np.ones(n),
        "mean_intensity": rng.normal(TRAIN_MEAN, TRAIN_MEAN_SD, n),
        "contrast": rng.normal(TRAIN_CONTRAST, TRAIN_CONTRAST_SD, n),
    }


@pytest.fixture
def model_folder(tmp_path, settings):
    """models/<dir> with a manifest, a fingerprint of 2,000 known images and card metrics."""
    folder = tmp_path / "models" / "test-model"
    folder.mkdir(parents=True)
    labels = np.array(["glioma", "meningioma", "pituitary", "no_tumor"] * 500)
    fingerprint = build_fingerprint(
        training_features(2000, seed=1), labels, ("glioma", "meningioma", "pituitary", "no_tumor")
    )
    (folder / "fingerprint.json").write_text(json.dumps(fingerprint))
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "format_version": 1,
                "version": MODEL,
                "threshold": 0.3,
                "validation": {"tumour": {**CARD, "sensitivity": 0.5}},
            }
        )
    )
    (folder / "metrics.json").write_text(
        json.dumps({"model_version": MODEL, "testing_full": {"tumour_at_threshold": CARD}})
    )
    settings.QUALITY_MODELS_DIR = tmp_path / "models"
    settings.QUALITY_CARD_METRICS = tmp_path / "absent.json"
    reference._load.cache_clear()
    yield folder
    reference._load.cache_clear()


@pytest.fixture
def uploader(db):
    return UserFactory(username="uploader", role=Role.TECHNOLOGIST)


@pytest.fixture
def make_scans(uploader):
    """make_scans(rows, at=..., model_version=...) -> predictions, in bulk.

    Each row is a dict of Scan fields (width, height, intensity_mean, intensity_std) and
    optionally ood; uploaded ``upload_s`` seconds before ``at`` and predicted at ``at``.
    """
    counter = iter(range(10**6))

    def make(rows, *, at=None, model_version=MODEL, upload_s=30.0):
        at = at or timezone.now()
        scans = Scan.objects.bulk_create(
            Scan(
                uploaded_by=uploader,
                source_format="png",
                sha256=f"s{next(counter):063x}",
                size_bytes=1000,
                image="scans/x.png",
                width=row.get("width", 512),
                height=row.get("height", 512),
                intensity_mean=row.get("intensity_mean", 60.0),
                intensity_std=row.get("intensity_std", 45.0),
                intensity_p01=0.0,
                intensity_p99=200.0,
                status="predicted",
            )
            for row in rows
        )
        Scan.objects.filter(pk__in=[s.pk for s in scans]).update(
            uploaded_at=at - dt.timedelta(seconds=upload_s)
        )
        runs = InferenceRun.objects.bulk_create(
            InferenceRun(scan=s, status="succeeded", model_version=model_version) for s in scans
        )
        predictions = Prediction.objects.bulk_create(
            Prediction(
                scan=s,
                run=r,
                model_version=model_version,
                label="no_tumor",
                probabilities={"glioma": 0.1, "meningioma": 0.0, "pituitary": 0.0, "no_tumor": 0.9},
                p_tumor=0.1,
                tumor_suspected=False,
                ood=row.get("ood", False),
            )
            for s, r, row in zip(scans, runs, rows, strict=True)
        )
        Prediction.objects.filter(pk__in=[p.pk for p in predictions]).update(created_at=at)
        return predictions

    return make


@pytest.fixture
def make_reviewed(uploader):
    """make_reviewed(final=..., ai=..., suspected=..., confidence=..., ..., **scan_fields).

    One scan, prediction and reported case with its first read, every timestamp set:
    uploaded at ``at - upload_s - decide_s``, predicted ``upload_s`` later, decided and read
    ``decide_s`` after the prediction.
    """
    counter = iter(range(10**6))

    def make(
        *,
        final,
        ai,
        suspected,
        confidence,
        reader,
        initial="",
        at=None,
        upload_s=60.0,
        decide_s=3600.0,
        band=Case.Band.ROUTINE,
        model_version=MODEL,
        ood=False,
        **scan_fields,
    ):
        at = at or timezone.now()
        predicted_at = at - dt.timedelta(seconds=decide_s)
        scan = Scan.objects.create(
            uploaded_by=uploader,
            source_format="png",
            sha256=f"c{next(counter):063x}",
            size_bytes=1000,
            image="scans/x.png",
            intensity_p01=0.0,
            intensity_p99=200.0,
            status="predicted",
            **{"width": 512, "height": 512, "intensity_mean": 60.0, "intensity_std": 45.0}
            | scan_fields,
        )
        Scan.objects.filter(pk=scan.pk).update(
            uploaded_at=predicted_at - dt.timedelta(seconds=upload_s)
        )
        run = InferenceRun.objects.create(
            scan=scan, status="succeeded", model_version=model_version
        )
        probabilities = dict.fromkeys(("glioma", "meningioma", "pituitary", "no_tumor"), 0.0)
        probabilities[ai] = confidence
        prediction = Prediction.objects.create(
            scan=scan,
            run=run,
            model_version=model_version,
            label=ai,
            probabilities=probabilities,
            p_tumor=0.9 if suspected else 0.1,
            tumor_suspected=suspected,
            ood=ood,
        )
        Prediction.objects.filter(pk=prediction.pk).update(created_at=predicted_at)
        case = Case.objects.create(
            scan=scan,
            prediction=prediction,
            ai_label=ai,
            status=Case.Status.DONE,
            priority=band * 1000 + 500,
            opened_at=predicted_at,
            first_reader=reader,
            final_label=final,
            resolution=Case.Resolution.SINGLE,
            decided_at=at,
        )
        review = Review.objects.create(
            case=case,
            reader=reader,
            kind=Review.Kind.FIRST,
            ai_label=ai,
            initial_label=initial,
            label=final,
        )
        Review.objects.filter(pk=review.pk).update(created_at=at)
        return case

    return make
