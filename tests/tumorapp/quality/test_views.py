"""The dashboard page, its API, the banner, the refresh button and the quality_report command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.factories import UserFactory
from tests.tumorapp.quality.test_drift_and_alerts import like_training
from tumorapp.accounts.roles import Role
from tumorapp.quality.models import Alert, Refresh
from tumorapp.quality.services import quality_refresh

URL = "/quality/"
API = "/api/v1/quality/"


@pytest.fixture
def some_data(model_folder, make_reviewed, make_scans):
    reader = UserFactory(username="reader", role=Role.RADIOLOGIST)
    make_reviewed(final="glioma", ai="glioma", suspected=True, confidence=0.9, reader=reader)
    make_reviewed(
        final="no_tumor",
        ai="glioma",
        suspected=True,
        confidence=0.6,
        reader=reader,
        initial="no_tumor",
    )
    make_scans(like_training(60, seed=3, intensity_scale=2.0))
    quality_refresh(full=True)


def test_urls():
    assert reverse("quality:dashboard") == URL
    assert reverse("api-quality") == API


@pytest.mark.parametrize("who", ["carol", "dave"])
def test_admin_and_data_team_see_the_dashboard(who, request, client_for, some_data):
    response = client_for(request.getfixturevalue(who)).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="reviewed-count">2<' in html
    assert "<svg" in html and "style=" not in html
    assert "Input drift" in html and "Automation bias" in html
    assert "quality-alert" in html  # the banner: drift on the rescaled scans


@pytest.mark.parametrize("who", ["alice", "bob", "eve"])
def test_other_roles_are_refused(who, request, db, client_for, api_for):
    user = request.getfixturevalue(who)
    assert client_for(user).get(URL).status_code == 403
    assert api_for(user).get(API).status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.get(API).status_code in (401, 403)


def test_the_banner_is_for_admins_only(client_for, some_data, alice, carol):
    assert Alert.objects.filter(closed_at__isnull=True).exists()
    assert "quality-alert" in client_for(carol).get("/").content.decode()
    assert "quality-alert" not in client_for(alice).get("/").content.decode()


def test_page_views_do_not_raise_alerts_again(client_for, some_data, carol):
    from tumorapp.audit.models import Action, AuditEvent

    for _ in range(3):
        client_for(carol).get(URL)
    assert AuditEvent.objects.filter(action=Action.QUALITY_ALERT_RAISED).count() == 1


def test_the_page_cost_does_not_grow_with_cases(
    client_for, carol, some_data, make_reviewed, django_assert_num_queries
):
    client = client_for(carol)
    client.get(URL)
    reader = UserFactory(username="reader2", role=Role.RADIOLOGIST)
    for _ in range(20):
        make_reviewed(final="glioma", ai="glioma", suspected=True, confidence=0.9, reader=reader)
    quality_refresh(full=True)
    # 14 + the threshold in force (registry) + the admins' stalled-adjudication banner
    with django_assert_num_queries(16):
        assert client.get(URL).status_code == 200


def test_filters_by_model_version_and_range(client_for, carol, some_data):
    html = client_for(carol).get(URL, {"model_version": "test-model-1"}).content.decode()
    assert 'id="reviewed-count">2<' in html
    html = client_for(carol).get(URL, {"start": "2001-01-01", "end": "2001-01-31"}).content.decode()
    assert 'id="reviewed-count">0<' in html


def test_api_returns_the_same_figures(api_for, dave, some_data):
    response = api_for(dave).get(API, {"model_version": "test-model-1"})
    assert response.status_code == 200
    data = response.json()
    assert data["model_vs_final"]["reviewed"] == 2
    assert data["model_vs_final"]["confusion"][0][0] == 1
    assert data["automation_bias"]["final_equals_ai_when_blind"]["n"] == 1
    assert data["drift"]["alert"] is True
    assert data["alerts"][0]["kind"] == "drift"


def test_api_refuses_a_bad_filter(api_for, dave, some_data):
    response = api_for(dave).get(API, {"start": "2026-02-01", "end": "2026-01-01"})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == 400


def test_refresh_button_recomputes(
    client_for, carol, model_folder, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(carol).post("/quality/refresh/")
    assert response.status_code == 302
    assert Refresh.objects.count() == 1


def test_refresh_button_is_refused_to_readers(client_for, alice):
    assert client_for(alice).post("/quality/refresh/").status_code == 403
    assert not Refresh.objects.exists()


def test_command_prints_the_figures(some_data):
    out = StringIO()
    call_command("quality_report", stdout=out)
    text = out.getvalue()
    assert "Model vs final label: 2 reviewed cases" in text
    assert "sensitivity  100.0 % (1/1" in text
    assert "OPEN ALERTS" in text


def test_command_json_rebuilds_and_prints(some_data):
    out = StringIO()
    call_command("quality_report", "--json", "--refresh", stdout=out, stderr=StringIO())
    data = json.loads(out.getvalue())
    assert data["model_vs_final"]["specificity"]["n"] == 1
    assert data["drift"]["scans"] == 62
