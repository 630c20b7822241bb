"""The Celery application; tasks live in the apps (``labs/tasks.py``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")

app = Celery("lotse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
