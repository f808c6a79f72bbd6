import django.db.models.deletion
import django.db.models.functions.math
from django.db import migrations, models

from core.permissions import group_permissions_operation

FINANCE_GROUP = "Finance"
CODENAMES = ["view_creditnoteline"]


def credit_notes_from_their_invoices(apps, schema_editor):
    """Every credit note so far cancelled its invoice: it credits the invoice's lines and amounts."""
    CreditNote = apps.get_model("billing", "CreditNote")
    CreditNoteLine = apps.get_model("billing", "CreditNoteLine")
    InvoiceLine = apps.get_model("billing", "InvoiceLine")
    credit_notes = list(CreditNote.objects.select_related("invoice").order_by("pk"))
    for credit_note in credit_notes:
        invoice = credit_note.invoice
        credit_note.subtotal, credit_note.tax_rate = invoice.subtotal, invoice.tax_rate
        credit_note.tax_amount, credit_note.amount = invoice.tax_amount, invoice.total
    CreditNote.objects.bulk_update(credit_notes, ["subtotal", "tax_rate", "tax_amount", "amount"])
    by_invoice = {credit_note.invoice_id: credit_note for credit_note in credit_notes}
    CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            credit_note=by_invoice[line.invoice_id], invoice_line=line, kind=line.kind, description=line.description,
            quantity=line.quantity, unit_price=line.unit_price, price_base_quantity=line.price_base_quantity,
            amount=line.amount, position=line.position,
        )
        for line in InvoiceLine.objects.filter(invoice_id__in=by_invoice).order_by("pk")
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0024_line_kind_credit")]

    operations = [
        migrations.CreateModel(
            name="CreditNoteLine",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("SUBSCRIPTION", "Subscription"), ("USAGE", "Usage"), ("PRORATION", "Proration"), ("ADJUSTMENT", "Adjustment"), ("DISCOUNT", "Discount"), ("CREDIT", "Credit")], max_length=12)),
                ("description", models.CharField(max_length=300)),
                ("quantity", models.DecimalField(decimal_places=6, default=1, max_digits=18)),
                ("unit_price", models.DecimalField(decimal_places=4, max_digits=12)),
                ("price_base_quantity", models.PositiveIntegerField(default=1)),
                ("amount", models.DecimalField(decimal_places=2, max_digits=12)),
                ("position", models.PositiveSmallIntegerField(default=0)),
            ],
            options={"ordering": ["credit_note", "position"]},
        ),
        migrations.RemoveConstraint(model_name="creditnote", name="credit_note_amount_non_negative"),
        migrations.RemoveConstraint(model_name="invoice", name="invoice_amount_due_is_balance"),
        migrations.AddField(
            model_name="creditnote",
            name="kind",
            field=models.CharField(choices=[("FULL", "Full"), ("PARTIAL", "Partial")], default="FULL", max_length=7),
        ),
        migrations.AddField(
            model_name="creditnote",
            name="subtotal",
            field=models.DecimalField(decimal_places=2, default=0, max_digits=12),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="creditnote",
            name="tax_amount",
            field=models.DecimalField(decimal_places=2, default=0, max_digits=12),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="creditnote",
            name="tax_rate",
            field=models.DecimalField(decimal_places=4, default=0, max_digits=5),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="creditnote",
            name="idempotency_key",
            field=models.CharField(blank=True, db_default="", default="", max_length=200),
        ),
        migrations.AddField(
            model_name="invoice",
            name="credited",
            field=models.DecimalField(decimal_places=2, default=0, max_digits=12),
        ),
        migrations.AlterField(
            model_name="creditnote",
            name="invoice",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="credit_notes", to="billing.invoice"),
        ),
        migrations.AddField(
            model_name="creditnoteline",
            name="credit_note",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="billing.creditnote"),
        ),
        migrations.AddField(
            model_name="creditnoteline",
            name="invoice_line",
            field=models.ForeignKey(blank=True, help_text="The invoice line it credits; none for an amount credited on the whole invoice.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name="credit_note_lines", to="billing.invoiceline"),
        ),
        migrations.RunPython(credit_notes_from_their_invoices, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.CheckConstraint(condition=models.Q(("tax_rate__gte", 0)), name="credit_note_tax_rate_non_negative"),
        ),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.CheckConstraint(condition=models.Q(("tax_amount__gte", 0)), name="credit_note_tax_amount_non_negative"),
        ),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.UniqueConstraint(condition=models.Q(("idempotency_key", ""), _negated=True), fields=("idempotency_key",), name="credit_note_idempotency_key_unique"),
        ),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.CheckConstraint(condition=models.Q(("amount__gt", 0)), name="credit_note_amount_positive"),
        ),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.CheckConstraint(condition=models.Q(("subtotal__gt", 0)), name="credit_note_subtotal_positive"),
        ),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.CheckConstraint(condition=models.Q(("amount", django.db.models.functions.math.Round(django.db.models.expressions.CombinedExpression(models.F("subtotal"), "+", models.F("tax_amount")), 2))), name="credit_note_total_is_sum"),
        ),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.UniqueConstraint(condition=models.Q(("kind", "FULL")), fields=("invoice",), name="credit_note_one_full_per_invoice"),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(condition=models.Q(("credited__gte", 0)), name="invoice_credited_non_negative"),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(condition=models.Q(("credited__lte", models.F("total"))), name="invoice_credited_within_total"),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(condition=models.Q(("amount_due", django.db.models.functions.math.Round(django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F("total"), "-", models.F("credit_applied")), "-", models.F("amount_paid")), "-", models.F("credited")), 2))), name="invoice_amount_due_is_balance"),
        ),
        migrations.AddConstraint(
            model_name="creditnoteline",
            constraint=models.UniqueConstraint(fields=("credit_note", "position"), name="credit_note_line_position_unique"),
        ),
        migrations.AddConstraint(
            model_name="creditnoteline",
            constraint=models.CheckConstraint(condition=models.Q(("price_base_quantity__gt", 0)), name="credit_note_line_price_base_positive"),
        ),
        group_permissions_operation(group=FINANCE_GROUP, app_label="billing", codenames=CODENAMES),
    ]
