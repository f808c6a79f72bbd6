"""Progressive billing: a plan's threshold of usage charges that triggers an interim invoice, and the sweep that
issues the interim invoices the per-call trigger left (usage ingested in batches), every five minutes."""
from decimal import Decimal

import django.core.validators
from django.db import migrations, models

from core.schedules import schedules_operation

# name: (task, crontab minute, hour, day of month)
SCHEDULES = {
    "Interim invoices": ("billing.tasks.invoicing.interim_invoices_sweep_task", "*/5", "*", "*"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0021_one_off_charges"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="progressive_threshold",
            field=models.DecimalField(
                blank=True, decimal_places=2, max_digits=12, null=True,
                validators=[django.core.validators.MinValueValidator(Decimal("0.01"))],
                help_text="Progressive billing: once the period's usage not yet billed reaches this amount (before "
                          "tax), an interim invoice bills it at once; empty: usage is billed at the period's end only.",
            ),
        ),
        migrations.AddConstraint(
            model_name="plan",
            constraint=models.CheckConstraint(
                condition=models.Q(("progressive_threshold__isnull", True), ("progressive_threshold__gt", 0),
                                   _connector="OR"),
                name="plan_progressive_threshold_positive",
            ),
        ),
        schedules_operation(SCHEDULES),
    ]
