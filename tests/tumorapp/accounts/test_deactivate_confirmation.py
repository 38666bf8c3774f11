"""Deactivating a user is confirmed on a page that says what they lose; the POST is refused
without the confirmation."""

import pytest

from tumorapp.accounts.models import User
from tumorapp.audit.models import AuditEvent


@pytest.mark.django_db
def test_deactivation_needs_its_confirmation(carol, alice, client_for):
    admin = client_for(carol)
    url = f"/accounts/users/{alice.public_id}/deactivate/"
    # the user page links to the confirmation page
    assert f'href="{url}"' in admin.get(f"/accounts/users/{alice.public_id}/").content.decode()
    page = admin.get(url).content.decode()
    assert "Deactivate alice?" in page and "API token is revoked" in page
    assert 'name="confirm" value="yes"' in page
    # when the POST comes without it, nothing happens
    refused = admin.post(url)
    assert refused.status_code == 302 and refused["Location"] == url
    assert User.objects.get(pk=alice.pk).is_active
    assert not AuditEvent.objects.filter(action="user.deactivated").exists()
    # with it, alice is deactivated
    admin.post(url, {"confirm": "yes"})
    assert not User.objects.get(pk=alice.pk).is_active


@pytest.mark.django_db
def test_the_confirmation_page_offers_nothing_for_ones_own_account(carol, client_for):
    page = client_for(carol).get(f"/accounts/users/{carol.public_id}/deactivate/")
    assert b"cannot deactivate your own account" in page.content
    assert b'name="confirm"' not in page.content


@pytest.mark.django_db
def test_outsiders_get_no_confirmation_page(alice, bob, client_for):
    assert client_for(bob).get(f"/accounts/users/{alice.public_id}/deactivate/").status_code == 403
