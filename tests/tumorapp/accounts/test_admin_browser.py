"""An admin manages a user and reads the audit log through the real pages in headless
Chromium; the screenshots in docs/screenshots come from here."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import TEST_PASSWORD, UserFactory
from tests.screenshots import SCREENSHOTS
from tumorapp.accounts.roles import Role
from tumorapp.audit.models import Action
from tumorapp.audit.services import audit_record


@pytest.fixture
def staff(db):
    """A small hospital department: one admin and people in every role and state."""
    people = [
        ("carol", "Carol", "Nguyen", Role.ADMIN, {}),
        ("alice", "Alice", "Moreau", Role.RADIOLOGIST, {}),
        ("arjun", "Arjun", "Patel", Role.RADIOLOGIST, {"must_change_password": True}),
        ("bob", "Bob", "Lindqvist", Role.TECHNOLOGIST, {}),
        ("beatriz", "Beatriz", "Souza", Role.TECHNOLOGIST, {"is_active": False}),
        ("dave", "Dave", "Okafor", Role.DATA_TEAM, {}),
    ]
    made = {}
    for username, first, last, role, extra in people:
        made[username] = UserFactory(
            username=username, first_name=first, last_name=last, role=role, **extra
        )
    carol, alice, bob = made["carol"], made["alice"], made["bob"]
    audit_record(action=Action.LOGIN, actor=alice)
    audit_record(
        action=Action.SCAN_UPLOADED,
        actor=bob,
        target_type="scans.scan",
        target_id="5d2c9a1e-7f0b-4a57-9d3e-0b8f2f6f1a11",
    )
    audit_record(
        action=Action.SCAN_VIEWED,
        actor=alice,
        target_type="scans.scan",
        target_id="5d2c9a1e-7f0b-4a57-9d3e-0b8f2f6f1a11",
    )
    audit_record(
        action=Action.REVIEW_SUBMITTED,
        actor=alice,
        target_type="reviews.case",
        target_id="a41f0c3b-2e55-4c1a-8d7e-9b6a3f2e8c40",
        details={"label": "meningioma", "agrees_with_ai": True},
    )
    audit_record(action=Action.LOGIN_FAILED, details={"username": "dave"})
    audit_record(action=Action.USER_DEACTIVATED, actor=carol, target=made["beatriz"])
    return made


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_admin_creates_a_user_and_finds_it_in_the_audit_log(live_server, page, staff):
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    sign_in(page, live_server, "carol")
    # given the users page, filtered to radiologists
    page.click("nav.mainnav >> text=Users")
    page.wait_for_url("**/accounts/users/")
    expect(page.locator("table.data tbody tr")).to_have_count(6)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.screenshot(path=str(SCREENSHOTS / "admin-users.png"), full_page=True)
    page.select_option("#id_role", "radiologist")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.data tbody tr")).to_have_count(2)
    # when the admin creates a technologist with a temporary password
    page.click("text=New user")
    page.fill("#id_username", "hana")
    page.fill("#id_first_name", "Hana")
    page.fill("#id_last_name", "Kim")
    page.select_option("#id_role", "technologist")
    page.click("button:has-text('Create user')")
    # then the password is shown once, and it signs Hana in to the forced password change
    secret = page.locator(".secret").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z2-9]{5}(-[A-Za-z2-9]{5}){3}", secret)
    page.click("text=Done")
    expect(page.locator("h1")).to_have_text("Hana Kim")
    # and the audit log shows who created whom, and the event's details
    page.click("nav.mainnav >> text=Audit log")
    page.wait_for_url("**/audit/")
    first_row = page.locator("table.data tbody tr").first
    expect(first_row).to_contain_text("Created user")
    expect(first_row).to_contain_text("carol")
    page.screenshot(path=str(SCREENSHOTS / "audit-log.png"), full_page=True)
    first_row.locator("text=Details").click()
    expect(page.locator("pre.json")).to_contain_text('"username": "hana"')
    assert not blocked, blocked
