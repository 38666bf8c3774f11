import pytest
from django.conf import settings

from tests.tumorapp.test_settings import _django_setup
from tumorapp.registry import tasks


def test_training_tasks_end_before_the_broker_would_redeliver_them():
    # the subprocess's limit < the task's own limit < the broker's visibility timeout
    for task in (tasks.train, tasks.compare):
        assert settings.REGISTRY_TRAINING_TIME_LIMIT < task.soft_time_limit < task.time_limit
        assert task.time_limit < settings.CELERY_VISIBILITY_TIMEOUT
    assert settings.CELERY_TASK_ROUTES["registry.train"] == {"queue": "training"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("REGISTRY_TRAINING_TIME_LIMIT", "3500"), ("DATASETS_EXPORT_TIME_LIMIT", "3600")],
)
def test_a_time_limit_near_the_visibility_timeout_stops_start_up(name, value):
    result = _django_setup({name: value, "CELERY_VISIBILITY_TIMEOUT": "3600"})
    assert result.returncode != 0 and name in result.stderr


def test_the_operations_guide_lists_every_registry_setting():
    import re

    base = (settings.BASE_DIR / "tumorapp" / "settings" / "base.py").read_text()
    guide = (settings.BASE_DIR / "docs" / "operations.md").read_text()
    names = set(re.findall(r"\b(REGISTRY_[A-Z_]+)\b", base))
    assert names and {n for n in names if f"| `{n}` |" not in guide} == set()
