"""Trials: a plan's trial days, and the trial a subscription had (one per customer and plan)."""
import django.db.models.deletion
from django.db import migrations, models

from core.schedules import schedules_operation

# name: (task, crontab minute, hour, day of month): before the morning's other sweeps, after midnight's expiries.
SCHEDULES = {
    "Trials ending and ended": ("billing.tasks.sweeps.trials_sweep_task", "15", "0", "*"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0018_plan_usage_pricing"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="trial_days",
            field=models.PositiveIntegerField(
                default=0, help_text="Days a new customer uses the plan free, once per customer; 0: no trial."
            ),
        ),
        migrations.AddField(
            model_name="subscription",
            name="trial_end",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="subscription",
            name="trial_plan",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                to="billing.plan",
            ),
        ),
        migrations.AddField(
            model_name="subscription",
            name="trial_concluded_at",
            field=models.DateTimeField(
                blank=True, help_text="When the trial's end was handled: converted, or cancelled.", null=True
            ),
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.UniqueConstraint(
                condition=models.Q(("trial_plan__isnull", False)), fields=("user", "trial_plan"),
                name="subscription_one_trial_per_user_plan",
            ),
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("trial_end__isnull", True), ("trial_plan__isnull", True)),
                    models.Q(("trial_end__isnull", False), ("trial_plan__isnull", False)),
                    _connector="OR",
                ),
                name="subscription_trial_end_with_plan",
            ),
        ),
        migrations.AlterField(
            model_name="billingalert",
            name="type",
            field=models.CharField(
                choices=[
                    ("USAGE_THRESHOLD", "Usage threshold"), ("PAYMENT_FAILED", "Payment failed"),
                    ("INVOICE_OVERDUE", "Invoice overdue"), ("SUBSCRIPTION_EXPIRING", "Subscription expiring"),
                    ("TRIAL_ENDING", "Trial ending"),
                ],
                max_length=25,
            ),
        ),
        migrations.AlterField(
            model_name="emailnotification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("INVOICE_ISSUED", "Invoice issued"), ("CREDIT_NOTE_ISSUED", "Credit note issued"),
                    ("PAYMENT_RECEIVED", "Payment received"), ("PAYMENT_FAILED", "Payment failed"),
                    ("PAYMENT_REMINDER", "Payment reminder"), ("USAGE_THRESHOLD", "Usage threshold"),
                    ("SPEND_CAP_REACHED", "Spend cap reached"), ("SUBSCRIPTION_EXPIRING", "Subscription expiring"),
                    ("TRIAL_ENDING", "Trial ending"), ("TRIAL_ENDED", "Trial ended"),
                ],
                max_length=25,
            ),
        ),
        schedules_operation(SCHEDULES),
    ]
