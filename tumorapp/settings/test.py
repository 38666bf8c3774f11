"""Test mode: the real local PostgreSQL and Redis unless the environment says otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tumorapp")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
# A fixed clinical-link key, so tests can read what another test process encrypted.
os.environ.setdefault("CLINICAL_LINK_KEY", "dGVzdC1jbGluaWNhbC1saW5rLWtleS0zMi1ieXRlcyE=")

from tumorapp.settings.base import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Unit tests run tasks eagerly; integration tests start real worker processes instead.
CELERY_TASK_ALWAYS_EAGER = True
# ... inside the request, so a test reads the outcome right after; tests of the embedded
# site's background threads switch to "thread".
TASKS_EMBEDDED_MODE = "inline"
STORAGES["default"]["OPTIONS"]["location"] = VAR_DIR / "test-media"  # noqa: F405
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
# Tests do not run collectstatic; the manifest storage would refuse unknown files.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_AUTOREFRESH = True
