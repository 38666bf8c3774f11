"""Production mode: everything in base, plus the deploy checklist. Secrets have no defaults."""

from django.core.exceptions import ImproperlyConfigured

from tumorapp.env import env_bool, env_int, env_list, env_str
from tumorapp.settings.base import *  # noqa: F403

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
# Never derived from the secret key here: rotating that key must not re-key the pseudonyms.
DEID_SECRET = env_str("DEID_SECRET")
# The clinical link's encryption key: required, never derived (checked in base as a Fernet key).
env_str("CLINICAL_LINK_KEY")

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# The site sits behind a TLS-terminating proxy that sets this header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True

if INFERENCE_TEST_DELAY_SECONDS:  # noqa: F405
    raise ImproperlyConfigured(
        "INFERENCE_TEST_DELAY_SECONDS: a test hook that slows every prediction; unset it"
    )
if DATASETS_EXPORT_TEST_DELAY_SECONDS:  # noqa: F405
    raise ImproperlyConfigured(
        "DATASETS_EXPORT_TEST_DELAY_SECONDS: a test hook that slows every export; unset it"
    )
