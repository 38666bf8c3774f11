"""RELIABILITY 16 and 6: production settings pass the deploy checklist and send HSTS, secure
cookies and CSP; every page carries a CSP with no 'unsafe-inline'; no template holds an inline
script, inline style or event-handler attribute that the CSP would have to allow."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs one request under the production settings, with no database, and prints what a
# browser would receive.
_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
# collectstatic has not run here; the manifest storage would refuse to name the CSS file
plain_static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain_static}).enable()
c = Client()
plain = c.get("/accounts/login/", HTTP_HOST="triage.hospital.example")
tls = c.get("/accounts/login/", HTTP_HOST="triage.hospital.example", secure=True)
cookie = tls.cookies["csrftoken"]
print(json.dumps({
    "plain_status": plain.status_code, "plain_location": plain.get("Location", ""),
    "status": tls.status_code, "headers": dict(tls.headers),
    "csrf_cookie": {"secure": cookie["secure"], "httponly": cookie["httponly"],
                    "samesite": cookie["samesite"]},
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
}))
"""


@pytest.fixture(scope="module")
def production_response():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tumorapp.settings.production",
            "DJANGO_SECRET_KEY": "x7#kP2m" * 10,
            "DEID_SECRET": "d" * 40,
            "DJANGO_ALLOWED_HOSTS": "triage.hospital.example",
            "TUMORAPP_VAR_DIR": "/tmp/tumorapp-headers-test",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plain_http_is_redirected_to_https(production_response):
    assert production_response["plain_status"] == 301
    assert production_response["plain_location"].startswith("https://triage.hospital.example/")


def test_https_responses_carry_hsts_csp_and_the_other_headers(production_response):
    headers = production_response["headers"]
    assert production_response["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_cookies_are_secure_and_http_only(production_response):
    assert production_response["csrf_cookie"] == {
        "secure": True,
        "httponly": True,
        "samesite": "Lax",
    }
    assert production_response["session_cookie_secure"] is True
    assert production_response["session_cookie_httponly"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role_name", "path"),
    [
        (None, "/accounts/login/"),
        ("radiologist", "/"),
        ("admin", "/accounts/users/"),
        ("admin", "/audit/"),
        ("admin", "/accounts/password/"),
    ],
)
def test_every_page_carries_the_csp(role_name, path, users, client):
    if role_name:
        client.force_login(users[role_name])
    response = client.get(path)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp


def _templates():
    dirs = [ROOT / "templates", *ROOT.glob("*/templates"), *ROOT.glob("tumorapp/*/templates")]
    return sorted({p for d in dirs for p in d.rglob("*.html")})


_SCRIPT = re.compile(r"<script\b([^>]*)>", re.I)
_INLINE_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I)
_INLINE_STYLE = re.compile(r"""(<style\b|\sstyle\s*=\s*["'])""", re.I)


def test_the_template_scan_sees_every_template():
    names = {p.relative_to(ROOT).as_posix() for p in _templates()}
    assert "templates/base.html" in names and "templates/audit/event_list.html" in names


@pytest.mark.parametrize("template", _templates(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_template_needs_unsafe_inline(template):
    html = template.read_text()
    for attributes in _SCRIPT.findall(html):
        # external scripts and JSON data blocks (json_script) are fine; code is not
        assert "src=" in attributes or "application/json" in attributes, (
            f"inline <script> in {template.name}"
        )
    assert not _INLINE_HANDLER.search(html), f"inline event handler in {template.name}"
    assert not _INLINE_STYLE.search(html), f"inline style in {template.name}"
    assert "javascript:" not in html.lower(), f"javascript: URL in {template.name}"
