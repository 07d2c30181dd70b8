"""The Celery app. Three queues: `celery` for light web work, `tuning` for long training jobs,
`inference` for grading and explanations (routes in settings.CELERY_TASK_ROUTES)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quizsite.settings")

app = Celery("quizsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
