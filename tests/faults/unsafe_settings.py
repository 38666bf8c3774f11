"""Deliberately unsafe worker settings, used only to prove the chaos harness can fail: the
message is acknowledged as soon as it is received, so a worker killed mid-prediction takes
the task with it (the test also runs no sweeper to send it again)."""

from tumorapp.settings.base import *  # noqa: F403

CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
