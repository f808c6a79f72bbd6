"""Re-encrypt personal data with the newest key every 30 days (editable in admin)."""
from django.db import migrations

NAME = "Encryption key rotation"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_30_days, _ = IntervalSchedule.objects.get_or_create(every=30, period="days")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={"task": "accounts.tasks.encryption_keys_rotate_task", "interval": every_30_days, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_audit_hash_chain"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
