"""Daily retention purges: usage logs past USAGE_RETENTION_DAYS and expired sessions (editable in admin)."""
from django.conf import settings
from django.db import migrations

SCHEDULES = {
    "Usage log retention": ("libraries.tasks.usage_logs_purge_task", "30", "3"),
    "Expired sessions": ("accounts.tasks.sessions_purge_task", "45", "3"),
}


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, minute, hour) in SCHEDULES.items():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month="*", month_of_year="*", day_of_week="*",
            timezone=settings.BILLING_TIME_ZONE,
        )
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "crontab": crontab, "enabled": True})


def remove_schedules(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("libraries", "0002_documentation_search_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
