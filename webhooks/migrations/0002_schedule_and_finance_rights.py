"""The sweep that sends due deliveries every minute (retries survive a worker restart), and finance's rights:
reading the endpoints, events, deliveries and their log, and sending a delivery again."""
from django.db import migrations

from core.permissions import group_permissions_operation
from core.schedules import schedules_operation

# name: (task, crontab minute, hour, day of month)
SCHEDULES = {
    "Webhook deliveries due": ("webhooks.tasks.webhook_deliveries_due_task", "*", "*", "*"),
}
FINANCE_GROUP = "Finance"
CODENAMES = [
    "view_webhookendpoint", "view_webhookmessage", "view_webhookdelivery", "change_webhookdelivery",
    "view_webhookattempt",
]


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("billing", "0004_finance_group"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        schedules_operation(SCHEDULES),
        group_permissions_operation(group=FINANCE_GROUP, app_label="webhooks", codenames=CODENAMES),
    ]
