"""Settings fail fast with the variable's name; production passes the deploy checklist."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _django_setup(env_overrides: dict[str, str], settings_module="tumorapp.settings.base"):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "STORAGE_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": settings_module,
            "TUMORAPP_VAR_DIR": "/tmp/tumorapp-settings-test",
        }
    )
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "mysql2://x@y/z"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:notaport/db"),
        ("CELERY_BROKER_URL", "amqp//nowhere"),
        ("DJANGO_DEBUG", "perhaps"),
        ("SESSION_IDLE_MINUTES", "fifteen"),
        ("STORAGE_BACKEND", "ftp"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(name, value):
    result = _django_setup({name: value})
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert f"{name}:" in result.stderr


def test_the_embedded_default_starts_with_no_variables():
    result = _django_setup({})
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_production_requires_its_secret():
    result = _django_setup({"DJANGO_ALLOWED_HOSTS": "x"}, "tumorapp.settings.production")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY:" in result.stderr


def test_production_requires_its_own_pseudonym_key():
    result = _django_setup(
        {"DJANGO_ALLOWED_HOSTS": "x", "DJANGO_SECRET_KEY": "s" * 60},
        "tumorapp.settings.production",
    )
    assert result.returncode != 0
    assert "DEID_SECRET:" in result.stderr


def test_production_refuses_the_inference_test_hook():
    result = _django_setup(
        {
            "DJANGO_ALLOWED_HOSTS": "x",
            "DJANGO_SECRET_KEY": "s" * 60,
            "DEID_SECRET": "d" * 40,
            "INFERENCE_TEST_DELAY_SECONDS": "2",
        },
        "tumorapp.settings.production",
    )
    assert result.returncode != 0
    assert "INFERENCE_TEST_DELAY_SECONDS:" in result.stderr


def test_a_secret_can_come_from_a_file(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("k" * 60 + "\n")
    code = (
        "import django; django.setup(); "
        "from django.conf import settings; print(settings.SECRET_KEY)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tumorapp.settings.production",
            "DJANGO_SECRET_KEY_FILE": str(secret),
            "DEID_SECRET": "d" * 40,
            "DJANGO_ALLOWED_HOSTS": "x",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "k" * 60, result.stderr


def test_check_deploy_is_clean_under_production_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tumorapp.settings.production",
            "DJANGO_SECRET_KEY": "x7#kP2m" * 10,
            "DEID_SECRET": "d" * 40,
            "DJANGO_ALLOWED_HOSTS": "triage.hospital.example",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_the_suite_talks_to_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")


def test_the_suite_talks_to_redis():
    import redis

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert client.ping() is True
    client.set("tumorapp:test:ping", "pong", ex=10)
    assert client.get("tumorapp:test:ping") == b"pong"


def test_time_limits_stay_below_the_visibility_timeout():
    assert settings.CELERY_TASK_TIME_LIMIT < settings.CELERY_VISIBILITY_TIMEOUT
    assert (
        settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        == settings.CELERY_VISIBILITY_TIMEOUT
    )
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_SERIALIZER == "json"
