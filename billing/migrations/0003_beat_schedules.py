"""The scheduled billing work, stored with django-celery-beat so that finance can see and edit it in admin."""
from django.db import migrations

from core.schedules import schedules_operation

# name: (task, crontab minute, hour, day of month)
SCHEDULES = {
    "Monthly invoice run": ("billing.tasks.invoicing.monthly_invoice_run_task", "0", "2", "1"),
    "Overdue invoices": ("billing.tasks.sweeps.invoices_overdue_task", "0", "6", "*"),
    "Payment reminders": ("billing.tasks.sweeps.payment_reminders_task", "15", "9", "*"),
    "Subscriptions expiring soon": ("billing.tasks.sweeps.subscriptions_expiring_task", "30", "6", "*"),
    "Subscriptions cancelled at period end expire": ("billing.tasks.sweeps.subscriptions_expire_task", "5", "0", "*"),
    "Invoice documents catch-up": ("billing.tasks.sweeps.documents_catch_up_task", "45", "6", "*"),
    "Usage thresholds": ("billing.tasks.sweeps.usage_thresholds_task", "10", "*", "*"),
    "Alert emails": ("billing.tasks.sweeps.alert_emails_task", "20", "*", "*"),
    "Unsent emails": ("billing.tasks.sweeps.unsent_emails_task", "40", "*", "*"),
}



class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_emailnotification"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [schedules_operation(SCHEDULES)]
