"""Settings for every mode, read from the environment (see docs/operations.md).

With no variables set this is the embedded default: SQLite under var/, media files under
var/media, Celery tasks run in-process. DATABASE_URL switches to PostgreSQL, CELERY_BROKER_URL
to Redis with separate workers, STORAGE_BACKEND=s3 to S3-compatible object storage.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from tumorapp.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(env_str("TUMORAPP_VAR_DIR", str(BASE_DIR / "var")))


def _embedded_secret_key() -> str:
    """A per-installation key kept under var/, so the embedded site needs no configuration."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("DJANGO_SECRET_KEY", None) or _embedded_secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "tumorapp.core",
    "tumorapp.accounts",
    "tumorapp.audit",
    "tumorapp.scans",
    "tumorapp.inference",
    "reviews",
    "tumorapp.quality",
    "tumorapp.datasets",
    "tumorapp.registry",
    "tumorapp.pacs",
    "tumorapp.clinical",
    "tumorapp.results",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tumorapp.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tumorapp.core.middleware.IdleSessionMiddleware",
    "tumorapp.core.middleware.PasswordChangeRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tumorapp.urls"
WSGI_APPLICATION = "tumorapp.wsgi.application"
ASGI_APPLICATION = "tumorapp.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tumorapp.core.context_processors.navigation",
                "tumorapp.core.context_processors.session_guard",
                "tumorapp.quality.context_processors.quality_alerts",
                "reviews.context_processors.adjudication_alerts",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

_database_url = env_url(
    "DATABASE_URL", ("postgres", "postgresql", "postgis", "sqlite"), default=None
)
if _database_url:
    try:
        _db = dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
    if _db["ENGINE"] == "django.db.backends.postgresql" and not _db.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL: the URL names no database")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "tumorapp.sqlite3",
        # Writers wait for the lock instead of failing at once when the in-process worker
        # and a request write together.
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMBEDDED = not _database_url

# --- Storage --------------------------------------------------------------------------------

MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]

STORAGE_BACKEND = env_choice("STORAGE_BACKEND", ("local", "s3"), "local")
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_url("AWS_S3_ENDPOINT_URL", ("http", "https"), None),
            "access_key": env_str("AWS_ACCESS_KEY_ID"),
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY"),
            "region_name": env_str("AWS_S3_REGION_NAME", None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "file_permissions_mode": 0o640},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Authentication and sessions ------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Idle timeout: IdleSessionMiddleware signs a user out after this many minutes without a
# request. Clinical roles (shared workstations) and the others can be set apart; both default
# to SESSION_IDLE_MINUTES. The session row itself expires after the longer of the two.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 15, minimum=1)
SESSION_IDLE_MINUTES_CLINICAL = env_int(
    "SESSION_IDLE_MINUTES_CLINICAL", SESSION_IDLE_MINUTES, minimum=1
)
SESSION_IDLE_MINUTES_OTHER = env_int("SESSION_IDLE_MINUTES_OTHER", SESSION_IDLE_MINUTES, minimum=1)
SESSION_COOKIE_AGE = max(SESSION_IDLE_MINUTES_CLINICAL, SESSION_IDLE_MINUTES_OTHER) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30, minimum=1))
# Lock the pair, not each part: a hospital's workstations often share one NAT address, and a
# per-address lock would shut out every colleague behind it after one user's typos.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# Renders the locked page (or the API's error) and writes the LOCKED_OUT audit event.
AXES_LOCKOUT_CALLABLE = "tumorapp.accounts.views.locked_out"

# --- Security headers -----------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- REST API -------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "tumorapp.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tumorapp.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_RATES": {
        "upload": env_str("THROTTLE_UPLOAD", "120/min"),
        "login": env_str("THROTTLE_LOGIN", "10/min"),
        "user": env_str("THROTTLE_USER", "2000/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Brain-MRI triage API",
    "DESCRIPTION": (
        "Upload brain MRI slices, read AI predictions, submit reviews, export datasets. "
        "The AI assists; it never diagnoses."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema maps every operation: signed-in users only (session or token). The docs
    # page also sends anonymous browsers to sign in (tumorapp/urls.py).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Job rows (exports, training) share one status set; model versions have their own.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "tumorapp.core.jobs.JobStatus",
        "ModelVersionStatusEnum": "tumorapp.registry.models.ModelVersion.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tumorapp.api.schema.add_error_responses",
    ],
}

# --- Celery ---------------------------------------------------------------------------------

CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", ("redis", "rediss"), None)
# With no broker the embedded site runs tasks in-process, right after the transaction that
# queued them commits (see tumorapp.core.queue.enqueue).
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
# Where in-process tasks run: "thread" hands them to a small pool of background threads, so
# training, comparisons, exports and re-scoring never hold a request; "inline" runs them in
# the request (unit tests). The tasks listed in TASKS_EMBEDDED_INLINE (a slice's prediction,
# about a second) run inline in either mode, so an upload answers with its reading.
TASKS_EMBEDDED_MODE = env_choice("TASKS_EMBEDDED_MODE", ("thread", "inline"), "thread")
TASKS_EMBEDDED_THREADS = env_int("TASKS_EMBEDDED_THREADS", 2, minimum=1)
TASKS_EMBEDDED_INLINE = env_list("TASKS_EMBEDDED_INLINE", ["inference.predict_run"])
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task that outlives the visibility timeout is handed to a second worker while the first
# still runs it; keep every time limit and retry delay well below it.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30 if CELERY_TASK_TIME_LIMIT > 60 else None
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_ROUTES: dict[str, dict[str, str]] = {
    "inference.predict_run": {"queue": "inference"},
    "jobs.sweep": {"queue": "default"},
    "reviews.escalate_cases": {"queue": "default"},
    "pacs.finalise_received_studies": {"queue": "default"},
    "quality.refresh": {"queue": "default"},
    "datasets.build_export": {"queue": "default"},
    # Training and comparisons load TensorFlow and hold the CPU for minutes: their own queue.
    "registry.train": {"queue": "training"},
    "registry.compare": {"queue": "training"},
    "registry.rescore": {"queue": "default"},
    "scans.storage_sweep": {"queue": "default"},
    "results.send": {"queue": "default"},
}
# Jobs (tumorapp.core.jobs). A running job whose lease is not renewed (its worker's heartbeat
# stopped: the worker died) is re-queued by the sweeper; a job is claimed at most
# JOBS_MAX_ATTEMPTS times, then failed with the reason. Inference runs have their own lease
# and attempts (INFERENCE_*).
JOBS_LEASE_SECONDS = env_int("JOBS_LEASE_SECONDS", 120, minimum=1)
JOBS_HEARTBEAT_SECONDS = env_float("JOBS_HEARTBEAT_SECONDS", JOBS_LEASE_SECONDS / 4)
JOBS_MAX_ATTEMPTS = env_int("JOBS_MAX_ATTEMPTS", 3, minimum=1)
# Where a job writes what is not published yet (an export's zip being built); a killed
# attempt's leftovers are deleted by the next attempt or when the job is given up.
JOBS_SCRATCH_DIR = Path(env_str("JOBS_SCRATCH_DIR", str(VAR_DIR / "scratch")))
JOBS_SWEEP_SECONDS = env_int(
    "JOBS_SWEEP_SECONDS", env_int("INFERENCE_SWEEP_SECONDS", 60, minimum=1), minimum=1
)
if not 0 < JOBS_HEARTBEAT_SECONDS < JOBS_LEASE_SECONDS:
    raise ImproperlyConfigured(
        "JOBS_HEARTBEAT_SECONDS: must be above 0 and below JOBS_LEASE_SECONDS "
        f"({JOBS_HEARTBEAT_SECONDS} vs {JOBS_LEASE_SECONDS})"
    )
if JOBS_LEASE_SECONDS >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "JOBS_LEASE_SECONDS: must be below CELERY_VISIBILITY_TIMEOUT "
        f"({JOBS_LEASE_SECONDS} >= {CELERY_VISIBILITY_TIMEOUT})"
    )
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Every job table (tumorapp.core.jobs): re-send jobs whose lease ran out.
    "jobs-sweep": {"task": "jobs.sweep", "schedule": JOBS_SWEEP_SECONDS},
    # Received DICOM studies quiet for DICOM_STUDY_QUIET_SECONDS become cases (the receiver
    # does this too; beat covers the time it is down).
    "pacs-finalise": {"task": "pacs.finalise_received_studies", "schedule": 30},
    # Cases waiting longer than the site's limit move to the top of the worklist.
    "reviews-escalate": {"task": "reviews.escalate_cases", "schedule": 60},
    # Quality figures are rolled up per day so the dashboard never scans every reviewed case.
    "quality-refresh": {
        "task": "quality.refresh",
        "schedule": env_int("QUALITY_REFRESH_SECONDS", 300, minimum=10),
    },
    # Stored files no row names (a crash between a write and its row, a delete the store
    # refused) are deleted once a day, when older than a day.
    "storage-sweep": {"task": "scans.storage_sweep", "schedule": 24 * 60 * 60},
}
# Publishing gives up quickly when the broker is down: the upload is committed and its run
# stays queued, so the sweeper sends it later instead of the request hanging.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
if CELERY_TASK_TIME_LIMIT >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "CELERY_TASK_TIME_LIMIT: must be below CELERY_VISIBILITY_TIMEOUT "
        f"({CELERY_TASK_TIME_LIMIT} >= {CELERY_VISIBILITY_TIMEOUT})"
    )

# --- Scan upload and inference --------------------------------------------------------------

# Refused before decoding: per file, per request (Content-Length) and in pixels (header only).
SCAN_UPLOAD_MAX_FILE_BYTES = env_int("SCAN_UPLOAD_MAX_FILE_BYTES", 20 * 1024 * 1024, minimum=1024)
SCAN_UPLOAD_MAX_FILES = env_int("SCAN_UPLOAD_MAX_FILES", 50, minimum=1)
SCAN_UPLOAD_MAX_BATCH_BYTES = env_int(
    "SCAN_UPLOAD_MAX_BATCH_BYTES", 200 * 1024 * 1024, minimum=1024
)
SCAN_MAX_PIXELS = env_int("SCAN_MAX_PIXELS", 4096 * 4096, minimum=256)
# DICOM: the key of the keyed hashes that replace UIDs and patient ids (docs/dicom.md). The
# same original UID maps to the same replacement only while this stays the same: set it
# explicitly in production and never rotate it with DJANGO_SECRET_KEY.
DEID_SECRET = (
    env_str("DEID_SECRET", None)
    or hashlib.sha256(f"tumorapp.deid:{SECRET_KEY}".encode()).hexdigest()
)
# Django refuses a multipart body with more files than this before our view runs.
DATA_UPLOAD_MAX_NUMBER_FILES = SCAN_UPLOAD_MAX_FILES
# Files above this spool to a temporary file instead of memory while the request is parsed.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Dotted path of the predictor class; imported lazily, only where a prediction runs.
INFERENCE_PREDICTOR = env_str("INFERENCE_PREDICTOR", "ml.predict.Predictor")
# A claimed run whose worker has not finished within its lease is presumed dead and may be
# claimed again; it must outlast the task time limit so a live worker is never overtaken.
INFERENCE_LEASE_SECONDS = env_int("INFERENCE_LEASE_SECONDS", CELERY_TASK_TIME_LIMIT + 60, minimum=1)
# Claims per run, counting worker deaths and transient failures; the next claim gives up.
INFERENCE_MAX_ATTEMPTS = env_int("INFERENCE_MAX_ATTEMPTS", 3, minimum=1)
# Test hook only: sleep this long before predicting, so a test can kill a worker mid-run.
INFERENCE_TEST_DELAY_SECONDS = env_float("INFERENCE_TEST_DELAY_SECONDS", 0.0)
if INFERENCE_LEASE_SECONDS >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "INFERENCE_LEASE_SECONDS: must be below CELERY_VISIBILITY_TIMEOUT "
        f"({INFERENCE_LEASE_SECONDS} >= {CELERY_VISIBILITY_TIMEOUT})"
    )

# --- Quality monitoring (tumorapp.quality) ----------------------------------------------------

# Model folders (manifest, training-data fingerprint) and the evaluated model card's figures.
QUALITY_MODELS_DIR = Path(env_str("QUALITY_MODELS_DIR", str(BASE_DIR / "models")))
QUALITY_CARD_METRICS = Path(
    env_str("QUALITY_CARD_METRICS", str(BASE_DIR / "docs" / "ml" / "metrics.json"))
)
# Sensitivity alert: reported cases of the last N days, only once enough tumours are in.
QUALITY_SENSITIVITY_DAYS = env_int("QUALITY_SENSITIVITY_DAYS", 30, minimum=1)
QUALITY_SENSITIVITY_MIN_POSITIVES = env_int("QUALITY_SENSITIVITY_MIN_POSITIVES", 20, minimum=1)
# Drift alert: population stability index of the last N days' scans against the training
# images, per feature; 0.25 is the conventional "significant shift" mark.
QUALITY_DRIFT_DAYS = env_int("QUALITY_DRIFT_DAYS", 7, minimum=1)
QUALITY_DRIFT_MIN_SCANS = env_int("QUALITY_DRIFT_MIN_SCANS", 50, minimum=1)
QUALITY_DRIFT_PSI_THRESHOLD = env_float("QUALITY_DRIFT_PSI_THRESHOLD", 0.25)
# Automation bias: of the blind first answers that differed from the AI over these days (at
# least this many), the share switched to the AI's answer after the reveal that alerts.
QUALITY_BIAS_DAYS = env_int("QUALITY_BIAS_DAYS", 30, minimum=1)
QUALITY_BIAS_MIN_DISAGREEMENTS = env_int("QUALITY_BIAS_MIN_DISAGREEMENTS", 10, minimum=1)
QUALITY_BIAS_SWITCH_SHARE = env_float("QUALITY_BIAS_SWITCH_SHARE", 0.5)

# --- Internationalisation, logging ----------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Dataset exports and the model registry (tumorapp.datasets, tumorapp.registry) -----------


def _ml_default_model_dir() -> Path:
    # The ml package names the model folder it ships (a plain constant: no TensorFlow).
    from ml import DEFAULT_MODEL_DIR

    return DEFAULT_MODEL_DIR


# An export of ten thousand images takes minutes; its task gets this time limit.
DATASETS_EXPORT_TIME_LIMIT = env_int("DATASETS_EXPORT_TIME_LIMIT", 1800, minimum=60)
# Test hook only: sleep this long after each image written, so a test can kill a worker in
# the middle of an export (the production settings refuse it).
DATASETS_EXPORT_TEST_DELAY_SECONDS = env_float("DATASETS_EXPORT_TEST_DELAY_SECONDS", 0.0)
# Candidate models trained on the site are written here (one folder per version).
REGISTRY_MODELS_DIR = Path(env_str("REGISTRY_MODELS_DIR", str(VAR_DIR / "models")))
# The model folder shipped with the code: registered (and activated) by `model_register --shipped`.
REGISTRY_SHIPPED_MODEL_DIR = Path(
    env_str("REGISTRY_SHIPPED_MODEL_DIR", str(_ml_default_model_dir()))
)
# The public base data set (<split>/<label>/*): training may include it, comparisons use its
# Testing split, which no model of this site trains on.
REGISTRY_BASE_DATA_DIR = Path(
    env_str("REGISTRY_BASE_DATA_DIR", str(BASE_DIR.parent / "shared" / "data" / "sartaj-brain-mri"))
)
# A training run (python -m ml.train in a subprocess) is stopped after this many seconds.
REGISTRY_TRAINING_TIME_LIMIT = env_int("REGISTRY_TRAINING_TIME_LIMIT", 3000, minimum=30)
# Extra arguments for every training run (tests and demos: tiny images, few outliers).
REGISTRY_TRAINING_ARGS = env_list("REGISTRY_TRAINING_ARGS", [])
# The module run as ``python -m`` for training (ml.train; the fault tests use a stand-in).
REGISTRY_TRAINING_MODULE = env_str("REGISTRY_TRAINING_MODULE", "ml.train")
if REGISTRY_TRAINING_TIME_LIMIT + 120 >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "REGISTRY_TRAINING_TIME_LIMIT: must be at least 120 s below CELERY_VISIBILITY_TIMEOUT "
        f"({REGISTRY_TRAINING_TIME_LIMIT} + 120 >= {CELERY_VISIBILITY_TIMEOUT})"
    )
if DATASETS_EXPORT_TIME_LIMIT >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "DATASETS_EXPORT_TIME_LIMIT: must be below CELERY_VISIBILITY_TIMEOUT "
        f"({DATASETS_EXPORT_TIME_LIMIT} >= {CELERY_VISIBILITY_TIMEOUT})"
    )

# --- Results back to the PACS (tumorapp.results) -----------------------------------------------

# The department's PACS (or its AI results node) that reported cases are sent to as DICOM SRs.
# No host: nothing is sent and /health/ says so.
RESULTS_PACS_HOST = env_str("RESULTS_PACS_HOST", "")
RESULTS_PACS_PORT = env_int("RESULTS_PACS_PORT", 104, minimum=1)
RESULTS_PACS_AE_TITLE = env_str("RESULTS_PACS_AE_TITLE", "PACS")
# This platform's AE title when it calls the PACS (the PACS must know it).
RESULTS_CALLING_AE_TITLE = env_str("RESULTS_CALLING_AE_TITLE", "NEUROTRIAGE")
RESULTS_PACS_TIMEOUT = env_float("RESULTS_PACS_TIMEOUT", 10.0)
# A send is claimed at most this many times (a PACS that is down: each try is one), retried
# with backoff from 5 s doubling up to RESULTS_SEND_BACKOFF_MAX_SECONDS apart; then it is
# failed and waits for the retry button on the DICOM traffic page.
RESULTS_SEND_MAX_ATTEMPTS = env_int("RESULTS_SEND_MAX_ATTEMPTS", 10, minimum=1)
RESULTS_SEND_BACKOFF_MAX_SECONDS = env_int("RESULTS_SEND_BACKOFF_MAX_SECONDS", 300, minimum=1)
# Longer than the backoff, so the sweeper does not send a send whose retry is only waiting.
RESULTS_SEND_LEASE_SECONDS = env_int(
    "RESULTS_SEND_LEASE_SECONDS", RESULTS_SEND_BACKOFF_MAX_SECONDS + 60, minimum=1
)
for _name in ("RESULTS_PACS_AE_TITLE", "RESULTS_CALLING_AE_TITLE"):
    if not 0 < len(globals()[_name].strip()) <= 16:
        raise ImproperlyConfigured(f"{_name}: an AE title has 1 to 16 characters")

# --- The DICOM receiver (tumorapp.pacs) and the clinical link (tumorapp.clinical) ----------------

# ``manage.py dicom_receiver``: a C-STORE SCP for studies routed from the PACS or a scanner.
DICOM_RECEIVER_AE_TITLE = env_str("DICOM_RECEIVER_AE_TITLE", "NEUROTRIAGE")
DICOM_RECEIVER_BIND = env_str("DICOM_RECEIVER_BIND", "127.0.0.1")
DICOM_RECEIVER_PORT = env_int("DICOM_RECEIVER_PORT", 11112, minimum=1)
# Calling AE titles that may send (the PACS, scanners). Empty: the receiver will not start.
DICOM_RECEIVER_ALLOWED_AE_TITLES = env_list("DICOM_RECEIVER_ALLOWED_AE_TITLES", [])
# Peer addresses or networks (CIDR) that may connect; empty: any address (the AE titles
# still apply). A refused peer's connection is closed before any association.
DICOM_RECEIVER_ALLOWED_ADDRESSES = env_list("DICOM_RECEIVER_ALLOWED_ADDRESSES", [])
DICOM_RECEIVER_MAX_ASSOCIATIONS = env_int("DICOM_RECEIVER_MAX_ASSOCIATIONS", 4, minimum=1)
# An instance larger than this is refused (status 0xA700); the upload limit by default.
DICOM_RECEIVER_MAX_INSTANCE_BYTES = env_int(
    "DICOM_RECEIVER_MAX_INSTANCE_BYTES", SCAN_UPLOAD_MAX_FILE_BYTES, minimum=1024
)
# Seconds without a message before an association is aborted (ACSE, DIMSE and network).
DICOM_RECEIVER_TIMEOUT = env_float("DICOM_RECEIVER_TIMEOUT", 30.0)
# A received study becomes a case once no instance of it has arrived for this long.
DICOM_STUDY_QUIET_SECONDS = env_float("DICOM_STUDY_QUIET_SECONDS", 60.0)
for _title in (DICOM_RECEIVER_AE_TITLE, *DICOM_RECEIVER_ALLOWED_AE_TITLES):
    if not 0 < len(_title.strip()) <= 16:
        raise ImproperlyConfigured(
            "DICOM_RECEIVER_AE_TITLE, DICOM_RECEIVER_ALLOWED_AE_TITLES: an AE title has 1 to 16 "
            f"characters, got {_title!r}"
        )
try:
    DICOM_RECEIVER_ALLOWED_NETWORKS = [
        ipaddress.ip_network(item, strict=False) for item in DICOM_RECEIVER_ALLOWED_ADDRESSES
    ]
except ValueError as _exc:
    raise ImproperlyConfigured(f"DICOM_RECEIVER_ALLOWED_ADDRESSES: {_exc}") from _exc
if DICOM_RECEIVER_TIMEOUT <= 0 or DICOM_STUDY_QUIET_SECONDS < 0:
    raise ImproperlyConfigured(
        "DICOM_RECEIVER_TIMEOUT must be positive and DICOM_STUDY_QUIET_SECONDS not negative"
    )

# The Fernet key(s) that encrypt the clinical link (original UIDs, accession number, patient
# ID and name, study date) at rest: comma-separated, the first encrypts, all decrypt (to
# rotate, put the new key first). Production requires it; here a key derived from the secret
# key lets the embedded site run.
CLINICAL_LINK_KEYS = env_list("CLINICAL_LINK_KEY", []) or [
    base64.urlsafe_b64encode(
        hashlib.sha256(f"tumorapp.clinical:{SECRET_KEY}".encode()).digest()
    ).decode()
]
try:
    for _key in CLINICAL_LINK_KEYS:
        Fernet(_key)
except ValueError as _exc:
    raise ImproperlyConfigured(
        "CLINICAL_LINK_KEY: each key must be a Fernet key (32 url-safe base64-encoded bytes; "
        "make one with python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())')"
    ) from _exc
