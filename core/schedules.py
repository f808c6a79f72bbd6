"""Creating django-celery-beat schedules from data migrations, so they appear (and are edited) in the admin."""
from django.conf import settings
from django.db import migrations


def crontab_tasks_create(apps, schedules: dict[str, tuple[str, str, str, str]]) -> None:
    """`schedules`: name → (task, crontab minute, hour, day of month), in BILLING_TIME_ZONE."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, minute, hour, day_of_month) in schedules.items():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year="*", day_of_week="*",
            timezone=settings.BILLING_TIME_ZONE,
        )
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "crontab": crontab, "enabled": True})


def tasks_remove(apps, names) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=list(names)).delete()


def schedules_operation(schedules: dict[str, tuple[str, str, str, str]]) -> migrations.RunPython:
    """The migration operation that creates `schedules` (and removes them when migrated back)."""
    return migrations.RunPython(
        lambda apps, schema_editor: crontab_tasks_create(apps, schedules),
        lambda apps, schema_editor: tasks_remove(apps, schedules),
    )
