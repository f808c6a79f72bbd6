"""One-off charges finance adds to a customer's next invoice or invoices at once, and Finance's right to read, add
(the customer's "Add a one-off charge" action) and change them (the "Cancel" action; a charge is never deleted)."""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core.permissions import group_permissions_operation

FINANCE_GROUP = "Finance"
CODENAMES = ["view_oneoffcharge", "add_oneoffcharge", "change_oneoffcharge"]


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0020_coupons"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="OneOffCharge",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("description", models.CharField(help_text="Printed as the invoice line, as written.", max_length=300)),
                ("amount", models.DecimalField(
                    decimal_places=2, help_text="Before tax; the invoice adds the customer's VAT.", max_digits=12
                )),
                ("currency", models.CharField(default="EUR", max_length=3)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("cancelled_at", models.DateTimeField(blank=True, null=True)),
                ("idempotency_key", models.CharField(blank=True, default="", max_length=200)),
                ("created_by", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                    to=settings.AUTH_USER_MODEL,
                )),
                ("invoice", models.ForeignKey(
                    blank=True, help_text="The invoice that bills it; empty while pending.", null=True,
                    on_delete=django.db.models.deletion.PROTECT, related_name="one_off_charges", to="billing.invoice",
                )),
                ("user", models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT, related_name="one_off_charges",
                    to=settings.AUTH_USER_MODEL,
                )),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("cancelled_at__isnull", True), ("invoice__isnull", True)),
                        fields=["user"], name="one_off_charge_pending_idx",
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("amount__gt", 0)), name="one_off_charge_amount_positive"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("description", ""), _negated=True), name="one_off_charge_description_given"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("invoice__isnull", True), ("cancelled_at__isnull", True), _connector="OR"),
                        name="one_off_charge_billed_or_cancelled",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("idempotency_key", ""), _negated=True), fields=("idempotency_key",),
                        name="one_off_charge_idempotency_key_unique",
                    ),
                ],
            },
        ),
        group_permissions_operation(group=FINANCE_GROUP, app_label="billing", codenames=CODENAMES),
    ]
