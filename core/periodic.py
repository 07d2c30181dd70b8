"""The periodic tasks celery beat runs, kept in the database (django-celery-beat's DatabaseScheduler), where
admins change their schedules and arguments (the retraining thresholds) on the admin site.

settings.PERIODIC_TASKS is what a new installation starts with: after every `migrate` the tasks not in the
database yet are created from it; those already there stay as admins left them. (Celery's own
beat_schedule would not do: the scheduler writes it over the database's rows each time beat starts.)"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS


def periodic_tasks_install(*, tasks: dict[str, dict[str, Any]], using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Create the periodic tasks of `tasks` ({name: {task, schedule (seconds), kwargs?}}) that the database
    has no task of that name for; the names created."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    created = []
    for name, entry in tasks.items():
        if PeriodicTask.objects.using(using).filter(name=name).exists():
            continue
        schedule = {"every": int(entry["schedule"]), "period": IntervalSchedule.SECONDS}
        intervals = IntervalSchedule.objects.using(using)
        interval = intervals.filter(**schedule).first() or intervals.create(**schedule)
        PeriodicTask.objects.using(using).create(
            name=name,
            task=entry["task"],
            interval=interval,
            kwargs=json.dumps(entry.get("kwargs") or {}),
            description=entry.get("description", ""),
        )
        created.append(name)
    return created


def install_after_migrate(sender: object, using: str = DEFAULT_DB_ALIAS, **kwargs: object) -> None:
    """post_migrate receiver (connected in CoreConfig.ready for django_celery_beat's tables)."""
    periodic_tasks_install(tasks=settings.PERIODIC_TASKS, using=using)
