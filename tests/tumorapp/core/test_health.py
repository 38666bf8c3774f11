import pytest

from tumorapp.core import health


@pytest.mark.django_db
def test_health_reports_every_dependency(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "storage": "ok"},
        "dicom": {
            "receiver": "not running (no receiver has started)",
            "destination": "not configured",
        },
    }


@pytest.mark.django_db
def test_health_answers_503_and_names_the_broken_dependency(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"].startswith("error:")
    assert body["checks"]["database"] == "ok"


def test_health_checks_cover_database_broker_and_storage():
    assert set(health.CHECKS) == {"database", "broker", "storage"}
