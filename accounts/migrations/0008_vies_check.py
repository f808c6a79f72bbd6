from django.db import migrations, models

from core.schedules import schedules_operation

# name: (task, crontab minute, hour, day of month): hourly, so that a number VIES could not check at save is
# checked again soon after VIES is back.
SCHEDULES = {
    "VAT numbers re-checked with VIES": ("accounts.tasks.vat_numbers_recheck_task", "50", "*", "*"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_einvoice_format"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="userprofile",
            name="vies_checked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="userprofile",
            name="vies_consultation_reference",
            field=models.CharField(
                blank=True, default="", db_default="", help_text="VIES's requestIdentifier: proof that the number was valid on that day.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="userprofile",
            name="vies_status",
            field=models.CharField(
                choices=[
                    ("UNCHECKED", "Not checked"), ("VALID", "Valid"), ("UNAVAILABLE", "VIES unavailable, to check again"),
                    ("INVALID", "Rejected by VIES"),
                ],
                default="UNCHECKED", db_default="UNCHECKED", max_length=11,
            ),
        ),
        migrations.AddConstraint(
            model_name="userprofile",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("vies_checked_at__isnull", True), ("vies_status", "UNCHECKED")),
                    models.Q(models.Q(("vies_status", "UNCHECKED"), _negated=True), ("vies_checked_at__isnull", False)),
                    _connector="OR",
                ),
                name="profile_vies_checked_at_with_verdict",
            ),
        ),
        schedules_operation(SCHEDULES),
    ]
