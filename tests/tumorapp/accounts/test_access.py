"""Every role-protected URL refuses the other roles and anonymous users."""

import pytest

from tests.urlwalk import role_urls
from tumorapp.accounts.roles import Role

ROLE_URLS = role_urls()


def test_the_walk_finds_role_protected_urls():
    assert ROLE_URLS, "no role-protected URL found: the walker or the views are broken"


@pytest.mark.django_db
@pytest.mark.parametrize("entry", ROLE_URLS, ids=[r.url for r in ROLE_URLS])
def test_other_roles_and_anonymous_are_refused(entry, users, client):
    # given a URL restricted to some roles
    # when anonymous asks, then it is sent to sign in (pages) or refused (API)
    anonymous = client.get(entry.url)
    assert anonymous.status_code in ((401, 403) if entry.api else (302,))
    if not entry.api:
        assert "/accounts/login/" in anonymous["Location"]
    # when each signed-in user asks, then only the listed roles get past the role check
    for role_name, user in users.items():
        client.force_login(user)
        status = client.get(entry.url).status_code
        allowed = role_name != "none" and Role(role_name) in entry.roles
        if allowed:
            assert status not in (302, 401, 403), f"{role_name} refused at {entry.url}"
        else:
            assert status in (403, 404), f"{role_name} got {status} at {entry.url}"
        client.logout()
