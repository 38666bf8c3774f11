"""Object-level access: who sees which scan on pages, the API, the image and the heat map."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.factories import PredictionFactory, ScanFactory, UserFactory
from tests.tumorapp.scans import images
from tumorapp.accounts.roles import Role
from tumorapp.scans.rules import can_view_scan, scans_visible_to


@pytest.fixture
def bobs_scan(bob):
    scan = ScanFactory(uploaded_by=bob)
    default_storage.save(scan.image.name, ContentFile(images.png_bytes()))
    prediction = PredictionFactory(run__scan=scan, heatmap="heatmaps/aa/hm.png")
    default_storage.save(prediction.heatmap.name, ContentFile(images.png_bytes(seed=9)))
    return scan


def scan_urls(scan) -> list[str]:
    sid = scan.public_id
    return [
        f"/scans/{sid}/",
        f"/scans/{sid}/image/",
        f"/scans/{sid}/heatmap/",
        f"/api/v1/scans/{sid}/",
        f"/api/v1/scans/{sid}/image/",
        f"/api/v1/scans/{sid}/heatmap/",
    ]


@pytest.mark.django_db
def test_the_uploader_reads_their_scan_everywhere(bob, bobs_scan, client_for):
    client = client_for(bob)
    for url in scan_urls(bobs_scan):
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_another_technologist_gets_404_for_every_url(bobs_scan, client_for):
    # given a second technologist who guesses bob's scan URLs
    mallory = UserFactory(role=Role.TECHNOLOGIST)
    client = client_for(mallory)
    # then page, API detail, image and heat map all answer 404, as for a scan that is not there
    for url in scan_urls(bobs_scan):
        assert client.get(url).status_code == 404, url
    # and the list does not show it
    assert client.get("/api/v1/scans/").json()["count"] == 0
    assert str(bobs_scan.public_id) not in client.get("/scans/mine/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["radiologist", "admin"])
def test_radiologists_and_admins_read_every_scan(users, bobs_scan, client_for, role):
    client = client_for(users[role])
    for url in scan_urls(bobs_scan):
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["data_team", "none"])
def test_data_team_and_users_without_role_are_refused(users, bobs_scan, client_for, role):
    client = client_for(users[role])
    for url in scan_urls(bobs_scan):
        assert client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_sign_in_or_refused(bobs_scan, client):
    for url in scan_urls(bobs_scan):
        status = client.get(url).status_code
        assert status in ((401, 403) if url.startswith("/api/") else (302,)), url


@pytest.mark.django_db
def test_quarantined_scans_are_hidden_from_readers_but_not_their_uploader(alice, bob, carol):
    scan = ScanFactory(uploaded_by=bob, status="quarantined")
    assert not can_view_scan(alice, scan) and not can_view_scan(carol, scan)
    assert can_view_scan(bob, scan)
    assert list(scans_visible_to(alice)) == []
    assert list(scans_visible_to(bob)) == [scan]


@pytest.mark.django_db
def test_the_rules_agree_with_the_querysets(users, bob):
    mine = ScanFactory(uploaded_by=bob)
    theirs = ScanFactory()
    for user in users.values():
        visible = set(scans_visible_to(user))
        for scan in (mine, theirs):
            assert (scan in visible) == can_view_scan(user, scan), (user, scan)
