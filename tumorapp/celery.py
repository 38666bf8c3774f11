"""The Celery application. Workers: ``celery -A tumorapp worker -Q inference,default``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tumorapp.settings.base")

app = Celery("tumorapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
