"""Moving the subscribers of a plan version to a newer one at their next period.

Plans learn the version they replace (`previous_version`); for plans made before, it is read from the audit
trail, where `plan_new_version` recorded `plan.new_version` on the new plan with the code it was copied `from`
(a code that merely looks like a version, `team-2027`, links nothing). A move is recorded (`PlanVersionMove`), each
subscriber's scheduled change points to it, its customers get an email of their own kind, and finance may view
and make moves.
"""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core.permissions import group_permissions_operation

FINANCE_GROUP = "Finance"
CODENAMES = ["view_planversionmove", "add_planversionmove"]


def link_previous_versions(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    AuditLog = apps.get_model("accounts", "AuditLog")
    pk_by_code = dict(Plan.objects.values_list("code", "pk"))
    entries = AuditLog.objects.filter(action="plan.new_version", object_type="billing.Plan").order_by("id")
    for entry in entries.iterator():
        previous_pk = pk_by_code.get((entry.changes or {}).get("from"))
        if previous_pk is not None and entry.object_id.isdigit() and int(entry.object_id) != previous_pk:
            Plan.objects.filter(pk=int(entry.object_id), previous_version__isnull=True).update(
                previous_version_id=previous_pk
            )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0022_progressive_billing"),
        ("accounts", "0006_audit_keyed_chain"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="previous_version",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="next_versions",
                to="billing.plan",
            ),
        ),
        migrations.RunPython(link_previous_versions, migrations.RunPython.noop),
        migrations.CreateModel(
            name="PlanVersionMove",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("scheduled_count", models.PositiveIntegerField(help_text="Subscribers whose move this scheduled.")),
                ("skipped_count", models.PositiveIntegerField(
                    help_text="Subscribers left on the plan: another plan change scheduled, or ending at their "
                              "period's end."
                )),
                ("created_by", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                    to=settings.AUTH_USER_MODEL,
                )),
                ("from_plan", models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT, related_name="version_moves_out", to="billing.plan"
                )),
                ("to_plan", models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT, related_name="version_moves_in", to="billing.plan"
                )),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("from_plan", models.F("to_plan")), _negated=True),
                        name="plan_version_move_to_another_plan",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="subscriptionplanchange",
            name="version_move",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="plan_changes",
                to="billing.planversionmove",
            ),
        ),
        # The last migration of the chain states every email kind, those of the earlier ones included.
        migrations.AlterField(
            model_name="emailnotification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("INVOICE_ISSUED", "Invoice issued"), ("CREDIT_NOTE_ISSUED", "Credit note issued"),
                    ("PAYMENT_RECEIVED", "Payment received"), ("PAYMENT_FAILED", "Payment failed"),
                    ("PAYMENT_REMINDER", "Payment reminder"), ("USAGE_THRESHOLD", "Usage threshold"),
                    ("SPEND_CAP_REACHED", "Spend cap reached"), ("SUBSCRIPTION_EXPIRING", "Subscription expiring"),
                    ("PLAN_VERSION_MOVE", "Plan moving to a new version"), ("TRIAL_ENDING", "Trial ending"),
                    ("TRIAL_ENDED", "Trial ended"),
                ],
                max_length=25,
            ),
        ),
        group_permissions_operation(group=FINANCE_GROUP, app_label="billing", codenames=CODENAMES),
    ]
