"""Failed card charges tried again on the PAYMENT_RETRY_DAYS after issue: one daily sweep, before the reminders."""
from django.db import migrations

from core.schedules import schedules_operation

# name: (task, crontab minute, hour, day of month)
SCHEDULES = {
    "Payment retries": ("billing.tasks.payments.payment_retries_task", "0", "6", "*"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0014_payment_provider_customer"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [schedules_operation(SCHEDULES)]
