"""Promotion and rollback change the model that reads every new scan: each is a GET page that
says what will happen, and a POST refused without its confirmation (page and API)."""

import pytest
from django.urls import reverse

from tumorapp.audit.models import AuditEvent
from tumorapp.registry.selectors import active_model
from tumorapp.registry.services import model_promote, model_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions(model_folder):
    v1 = model_register(path=model_folder("v1"))
    v2 = model_register(path=model_folder("v2"))
    model_promote(model=v1)
    return v1, v2


def test_promotion_is_confirmed_on_a_page_that_says_what_changes(two_versions, carol, client_for):
    v1, v2 = two_versions
    client = client_for(carol)
    url = reverse("registry:promote", args=[v2.public_id])
    # the Models page links to the confirmation; it has no promote form of its own
    models_page = client.get(reverse("registry:model_list")).content.decode()
    assert f'href="{url}"' in models_page and f'action="{url}"' not in models_page
    # the confirmation page names what becomes active and what is retired
    page = client.get(url).content.decode()
    assert "Promote v2 to active?" in page and "v1</strong>, active now, is retired" in page
    assert 'name="confirm" value="yes"' in page
    # a POST without the confirmation does nothing and is sent back to the page
    refused = client.post(url)
    assert refused.status_code == 302 and refused["Location"] == url
    assert active_model().version == "v1"
    assert not AuditEvent.objects.filter(action="model.promoted", actor=carol).exists()
    # with it, v2 is active
    client.post(url, {"confirm": "yes"})
    assert active_model().version == "v2"


def test_rollback_is_confirmed_on_a_page_that_says_what_comes_back(two_versions, carol, client_for):
    v1, v2 = two_versions
    model_promote(model=v2)
    client = client_for(carol)
    url = reverse("registry:rollback")
    page = client.get(url).content.decode()
    assert "Roll back from v2 to v1?" in page and 'name="confirm" value="yes"' in page
    assert client.post(url, {"confirm": "no"})["Location"] == url
    assert active_model().version == "v2"
    client.post(url, {"confirm": "yes"})
    assert active_model().version == "v1"


def test_the_api_refuses_promotion_and_rollback_without_confirm(two_versions, carol, api_for):
    v1, v2 = two_versions
    admin = api_for(carol)
    promote = f"/api/v1/models/{v2.public_id}/promote/"
    for body in ({}, {"confirm": False}):
        refused = admin.post(promote, body, format="json")
        assert refused.status_code == 400 and "confirm" in str(refused.data)
    assert active_model().version == "v1"
    assert admin.post(promote, {"confirm": True}, format="json").status_code == 200
    assert admin.post("/api/v1/models/rollback/", {}, format="json").status_code == 400
    assert active_model().version == "v2"
    assert (
        admin.post("/api/v1/models/rollback/", {"confirm": True}, format="json").status_code == 200
    )
    assert active_model().version == "v1"


def test_the_data_team_sees_no_confirmation_page(two_versions, dave, client_for):
    _, v2 = two_versions
    client = client_for(dave)
    assert client.get(reverse("registry:promote", args=[v2.public_id])).status_code == 403
    assert client.get(reverse("registry:rollback")).status_code == 403
