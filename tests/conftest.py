"""Named users, one per role, shared by the whole suite (alice, bob, carol, dave, eve)."""

import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's async-safety guard
# would then refuse the ORM calls that tests make around the browser.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.factories import UserFactory
from tumorapp.accounts.roles import Role


@pytest.fixture
def alice(db):
    """A radiologist."""
    return UserFactory(username="alice", role=Role.RADIOLOGIST)


@pytest.fixture
def bob(db):
    """A technologist who uploads scans."""
    return UserFactory(username="bob", role=Role.TECHNOLOGIST)


@pytest.fixture
def carol(db):
    """An admin."""
    return UserFactory(username="carol", role=Role.ADMIN)


@pytest.fixture
def dave(db):
    """A member of the data team."""
    return UserFactory(username="dave", role=Role.DATA_TEAM)


@pytest.fixture
def eve(db):
    """Signed in, but holds no role."""
    return UserFactory(username="eve")


@pytest.fixture
def users(alice, bob, carol, dave, eve):
    return {
        "radiologist": alice,
        "technologist": bob,
        "admin": carol,
        "data_team": dave,
        "none": eve,
    }


@pytest.fixture
def client_for(client):
    """A test client signed in as the given user."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def api_for():
    from rest_framework.test import APIClient

    def login(user):
        api = APIClient()
        api.force_authenticate(user)
        return api

    return login


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Debian's Chromium, never a downloaded one; flags keep it off the (absent) network.
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(autouse=True)
def _job_scratch(settings, tmp_path):
    """Jobs build what they have not published yet in a folder of the test's own."""
    settings.JOBS_SCRATCH_DIR = tmp_path / "job-scratch"


@pytest.fixture(autouse=True)
def _fake_predictor(settings):
    """Unit tests predict with a fast stand-in (no TensorFlow); integration tests start
    worker processes, which load whatever predictor their environment names."""
    settings.INFERENCE_PREDICTOR = "tests.tumorapp.inference.fakes.FakePredictor"


@pytest.fixture(autouse=True)
def _role_groups_after_flush(request):
    """A transactional test flushes every table at its end, the role groups the migrations
    made included; put them back so the next transactional test can give users roles."""
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        from django.contrib.auth.models import Group, Permission
        from django.contrib.contenttypes.models import ContentType

        from tumorapp.accounts.roles import sync_role_groups

        request.getfixturevalue("transactional_db")
        sync_role_groups(Group, Permission, ContentType)


def pytest_collection_modifyitems(items):
    """Every transactional test restores the migrated data (role groups, content types).

    A transactional test empties the tables when it ends; without serialized rollback the
    groups made by migrations vanish for the tests after it, and Django's re-created content
    types collide with the serialized ones that other tests restore.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if not marker or not marker.kwargs.get("transaction"):
            continue
        if "serialized_rollback" not in marker.kwargs:
            kwargs = {**marker.kwargs, "serialized_rollback": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)
