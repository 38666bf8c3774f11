"""The quality page keeps its own lines: the drift badge follows the PSI thresholds it
prints, the roll-up schedule and last refresh are stated, each reader's agreement comes with
Wilson intervals, and the automation-bias alert fires when readers switch to the AI."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from reviews.models import Case, Review
from tests.factories import UserFactory
from tests.tumorapp.quality.test_drift_and_alerts import like_training
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action, AuditEvent
from tumorapp.core.beat import EmbeddedBeat, send_task
from tumorapp.quality.models import Alert, Refresh
from tumorapp.quality.selectors import QualityFilters, quality_report, refresh_schedule
from tumorapp.quality.services import quality_refresh

URL = "/quality/"


def drift_badge(html: str) -> str:
    return re.search(r'id="drift-status">(.*?)</strong>', html, re.S).group(1)


def test_a_psi_above_the_line_is_never_stable_even_with_too_few_scans_to_alert(
    model_folder, make_scans, carol, client_for
):
    # given 20 scans (under the 50 the alert needs) with intensities twice the training ones
    make_scans(like_training(20, seed=3, intensity_scale=2.0))
    quality_refresh(full=True)
    report = quality_report(filters=QualityFilters.default())
    assert max(f["psi"] for f in report["drift"]["features"] if f["psi"] is not None) > 0.25
    assert report["drift"]["alert"] is False
    # when the admin opens the page
    html = client_for(carol).get(URL).content.decode()
    # then the badge says a significant shift, in red, and not "Stable"
    badge = drift_badge(html)
    assert "Stable" not in badge
    assert 'data-grade="danger"' in badge and "Significant shift" in badge
    # and every feature above the line has a red pill
    assert 'class="pill ok">PSI 1.' not in html and 'class="pill danger">PSI' in html


def test_scans_like_the_training_data_are_stable(model_folder, make_scans, carol, client_for):
    make_scans(like_training(200, seed=7))
    quality_refresh(full=True)
    badge = drift_badge(client_for(carol).get(URL).content.decode())
    assert 'data-grade="ok"' in badge and "Stable" in badge


def test_the_page_states_the_beat_schedule_and_the_last_refresh(
    model_folder, carol, client_for, settings
):
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        "quality-refresh": {"task": "quality.refresh", "schedule": 300},
    }
    # given no refresh yet: the page says so
    html = client_for(carol).get(URL).content.decode()
    assert "every 5 minutes" in html and "Not refreshed yet" in html
    # when the beat has run
    refresh = quality_refresh(full=True)
    html = client_for(carol).get(URL).content.decode()
    # then the page gives the schedule and the time of the last refresh
    local = timezone.localtime(refresh.finished_at)
    assert "every 5 minutes" in html
    assert f'Last refresh <time datetime="{local.isoformat()}' in html or (
        local.strftime("%H:%M:%S") in html
    )
    assert "next due by" in html and "overdue" not in html
    # and a refresh two periods late is called overdue
    late = refresh_schedule(refresh, now=refresh.finished_at + dt.timedelta(minutes=12))
    assert late["overdue"] is True


def test_the_embedded_beat_sends_each_task_at_start_then_on_its_schedule():
    now = [1000.0]
    sent: list[str] = []
    beat = EmbeddedBeat(
        {
            "quality-refresh": {"task": "quality.refresh", "schedule": 300},
            "sweep": {"task": "inference.sweep_runs", "schedule": 60},
        },
        send=sent.append,
        clock=lambda: now[0],
    )
    assert beat.tick() == ["quality.refresh", "inference.sweep_runs"]
    now[0] += 61
    assert beat.tick() == ["inference.sweep_runs"]
    now[0] += 240
    assert beat.tick() == ["quality.refresh", "inference.sweep_runs"]
    assert sent.count("quality.refresh") == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_embedded_beat_really_rolls_the_figures_up(model_folder):
    assert not Refresh.objects.exists()
    send_task("quality.refresh")
    assert Refresh.objects.count() == 1


def test_each_reader_has_agreement_with_wilson_intervals(
    model_folder, make_reviewed, carol, client_for
):
    # given two readers on three double-read cases: ann agrees with the final label twice of
    # three, ben three of three; ann's first reads equal the AI twice of three
    ann = UserFactory(username="ann", role=Role.RADIOLOGIST)
    ben = UserFactory(username="ben", role=Role.RADIOLOGIST)
    for ai, ann_says, final in (
        ("glioma", "glioma", "glioma"),
        ("meningioma", "meningioma", "meningioma"),
        ("glioma", "pituitary", "glioma"),
    ):
        case = make_reviewed(final=final, ai=ai, suspected=True, confidence=0.9, reader=ann)
        Review.objects.filter(case=case).update(label=ann_says)
        Review.objects.create(
            case=case, reader=ben, kind=Review.Kind.SECOND, ai_label=ai, label=final
        )
        Case.objects.filter(pk=case.pk).update(resolution=Case.Resolution.ADJUDICATED)
    # and a single read, which is its own final label and says nothing
    make_reviewed(final="no_tumor", ai="no_tumor", suspected=False, confidence=0.9, reader=ann)
    quality_refresh(full=True)
    # then the report has each reader's figures with their intervals
    rows = {r["reader"]: r for r in quality_report(filters=QualityFilters.default())["readers"]}
    assert (rows["ann"]["vs_final"]["successes"], rows["ann"]["vs_final"]["n"]) == (2, 3)
    assert (rows["ben"]["vs_final"]["successes"], rows["ben"]["vs_final"]["n"]) == (3, 3)
    low, high = rows["ann"]["vs_final"]["ci95"]
    assert 0.2 < low < 2 / 3 < high < 1.0
    assert (rows["ann"]["vs_ai"]["successes"], rows["ann"]["vs_ai"]["n"]) == (3, 4)
    assert rows["ben"]["vs_ai"]["n"] == 0
    # and the page shows them per reader
    html = client_for(carol).get(URL).content.decode()
    assert 'id="reader-agreement"' in html
    ann_row = re.search(r'<tr data-reader="ann">(.*?)</tr>', html, re.S).group(1)
    assert "66.7 %" in ann_row and "–" in ann_row


def blind_reads(make_reviewed, reader, *, n: int, switched: int):
    """``n`` blind first reads that differed from the AI; ``switched`` of them were changed
    to the AI's answer after the reveal, the rest kept."""
    for i in range(n):
        final = "glioma" if i < switched else "meningioma"
        make_reviewed(
            final=final,
            ai="glioma",
            suspected=True,
            confidence=0.8,
            reader=reader,
            initial="meningioma",
        )


def test_the_automation_bias_alert_fires_when_every_changed_answer_moved_to_the_ai(
    model_folder, make_reviewed, carol, client_for
):
    # given twelve blind answers that differed from the AI, and every one was changed to it
    reader = UserFactory(username="follower", role=Role.RADIOLOGIST)
    blind_reads(make_reviewed, reader, n=12, switched=12)
    # when the figures are rolled up
    quality_refresh()
    # then an automation-bias alert is open, audited once, and shown on every page
    alert = Alert.objects.get(kind=Alert.Kind.AUTOMATION_BIAS, closed_at__isnull=True)
    assert "12 of 12" in alert.message
    assert (
        AuditEvent.objects.filter(
            action=Action.QUALITY_ALERT_RAISED, details__kind="automation_bias"
        ).count()
        == 1
    )
    quality_refresh()
    assert Alert.objects.filter(kind=Alert.Kind.AUTOMATION_BIAS).count() == 1
    html = client_for(carol).get(URL).content.decode()
    assert "quality-alert" in html and "Possible automation bias" in html
    assert 'id="bias-switched">100.0 %' in html


def test_no_automation_bias_alert_when_readers_mostly_keep_their_answer(
    model_folder, make_reviewed
):
    reader = UserFactory(username="independent", role=Role.RADIOLOGIST)
    blind_reads(make_reviewed, reader, n=12, switched=3)
    quality_refresh()
    assert not Alert.objects.filter(kind=Alert.Kind.AUTOMATION_BIAS).exists()


def test_no_automation_bias_alert_on_too_few_reads(model_folder, make_reviewed):
    reader = UserFactory(username="new", role=Role.RADIOLOGIST)
    blind_reads(make_reviewed, reader, n=5, switched=5)
    quality_refresh()
    assert not Alert.objects.filter(kind=Alert.Kind.AUTOMATION_BIAS).exists()
