"""An admin opens the quality dashboard in headless Chromium: twelve weeks of reviewed cases,
a new scanner in the last fortnight (brighter, smaller images) that trips the drift alert."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from reviews.models import Case, Review
from tests.factories import TEST_PASSWORD, UserFactory
from tests.screenshots import SCREENSHOTS
from tests.tumorapp.quality.conftest import (
    TRAIN_CONTRAST,
    TRAIN_CONTRAST_SD,
    TRAIN_MEAN,
    TRAIN_MEAN_SD,
)
from tumorapp.accounts.roles import Role
from tumorapp.quality.services import quality_refresh

CLASSES = ("glioma", "meningioma", "pituitary", "no_tumor")


def twelve_weeks(make_reviewed, readers) -> None:
    """About 30 reported cases a week; blind first reads from week 6 on; a new scanner in
    the last two weeks; the last dozen cases still wait on the worklist."""
    rng = random.Random(4)
    now = timezone.now()
    cases = []
    for week in range(12, 0, -1):
        new_scanner = week <= 2
        for _ in range(rng.randint(26, 34)):
            final = rng.choices(CLASSES, weights=(3, 2, 2, 3))[0]
            confidence = rng.uniform(0.45, 0.99)
            right = rng.random() < (0.55 + 0.45 * confidence) - (0.1 if new_scanner else 0)
            ai = final if right else rng.choice([c for c in CLASSES if c != final])
            blind = week <= 6 and rng.random() < 0.8
            initial = ""
            if blind:
                initial = final if rng.random() < 0.85 else rng.choice(CLASSES)
            label = final
            scale = 1.9 if new_scanner else 1.0
            size = 256 if new_scanner and rng.random() < 0.7 else 512
            cases.append(
                make_reviewed(
                    final=label,
                    ai=ai,
                    suspected=ai != "no_tumor" or rng.random() < 0.1,
                    confidence=confidence,
                    reader=rng.choice(readers),
                    initial=initial,
                    at=now - dt.timedelta(days=7 * (week - 1) + rng.uniform(0, 6.5)),
                    upload_s=rng.lognormvariate(3.5, 0.6),
                    decide_s=rng.lognormvariate(8.5 if ai == "no_tumor" else 7.5, 0.8),
                    band=Case.Band.ROUTINE if ai == "no_tumor" else Case.Band.SUSPECTED,
                    ood=new_scanner and rng.random() < 0.25 or rng.random() < 0.02,
                    width=size,
                    height=size,
                    intensity_mean=rng.gauss(TRAIN_MEAN, TRAIN_MEAN_SD) * scale,
                    intensity_std=rng.gauss(TRAIN_CONTRAST, TRAIN_CONTRAST_SD) * scale,
                )
            )
    waiting = cases[-12:]
    Review.objects.filter(case__in=waiting).delete()
    Case.objects.filter(pk__in=[c.pk for c in waiting[:9]]).update(
        status=Case.Status.FIRST_READ, final_label="", decided_at=None, resolution=""
    )
    Case.objects.filter(pk__in=[c.pk for c in waiting[9:]]).update(
        status=Case.Status.SECOND_READ, final_label="", decided_at=None, resolution=""
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_admin_reads_the_quality_dashboard(
    live_server, page, model_folder, make_reviewed, settings
):
    # given a small site (about 30 scans a week) and twelve weeks of reviews, the last two
    # from a scanner unlike the training data
    settings.QUALITY_DRIFT_MIN_SCANS = 15
    carol = UserFactory(username="carol", role=Role.ADMIN)
    readers = [
        UserFactory(username=name, role=Role.RADIOLOGIST)
        for name in ("r.okafor", "l.chen", "m.silva", "j.berg")
    ]
    twelve_weeks(make_reviewed, readers)
    quality_refresh(full=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", carol.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # then the drift alert shows as a banner on every page
    assert page.locator(".quality-alert").is_visible()
    assert "Input drift" in page.locator(".quality-alert").inner_text()
    # when she opens the dashboard from the navigation
    page.click(".mainnav >> text=Quality")
    page.wait_for_url("**/quality/")
    # then every section is drawn, with the drifted features marked
    total = int(page.locator("#reviewed-count").inner_text())
    assert total > 300
    assert page.locator("svg.chart").count() >= 9
    assert page.locator(".drift-panel.alerting").count() >= 2
    assert page.locator("#drift-status").inner_text() == "Drift"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "quality-dashboard.png"), full_page=True)
    page.locator("section[aria-labelledby=mvf-h]").screenshot(
        path=str(SCREENSHOTS / "quality-model.png")
    )
    page.locator("section[aria-labelledby=drift-h]").screenshot(
        path=str(SCREENSHOTS / "quality-drift.png")
    )
    # and filtering to the last fortnight keeps the page consistent
    start = (timezone.localdate() - dt.timedelta(days=13)).isoformat()
    page.fill("#id_start", start)
    page.click("text=Apply")
    page.wait_for_url(f"**/quality/?start={start}*")
    assert 0 < int(page.locator("#reviewed-count").inner_text()) < total / 3
