"""Buyer snapshots, one per profile version, replace the encrypted `billing_details` copied into every invoice.

Each invoice's buyer becomes a snapshot (invoices of a customer with the same buyer share one), and its seller and
payment means move to the unencrypted `issue_details`: nothing in them is personal. Migration 0027 then drops
`billing_details`.
"""
import json


import accounts.fields
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import migrations, models
from django.utils.crypto import salted_hmac

from billing.tax import tax_case
from core.permissions import group_permissions_operation

DIGEST_SALT = "billing.buyer_snapshot"  # as billing.invoicing.buyer_snapshots
FINANCE_GROUP = "Finance"
CODENAMES = ["view_buyersnapshot"]


def snapshots_from_billing_details(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    BuyerSnapshot = apps.get_model("billing", "BuyerSnapshot")
    made = {}
    for invoice in Invoice.objects.order_by("pk").iterator(chunk_size=1000):
        details = invoice.billing_details or {}
        buyer = details.get("buyer")
        invoice.issue_details = {key: value for key, value in details.items() if key != "buyer"}
        if buyer:
            digest = salted_hmac(DIGEST_SALT, json.dumps(buyer, sort_keys=True, cls=DjangoJSONEncoder)).hexdigest()
            key = (invoice.user_id, digest)
            if key not in made:
                country = (buyer.get("country") or "FR").upper()
                vat_number = "" if buyer.get("vies_status") == "INVALID" else buyer.get("vat_number", "")
                # Profile version 0: matched on its digest, never taken for a profile's current version.
                made[key] = BuyerSnapshot.objects.create(
                    user_id=invoice.user_id, profile_version=0, digest=digest, details=buyer, country=country,
                    language=buyer.get("language") or "en",
                    tax_case=tax_case(country=country, vat_number=vat_number,
                                      company_name=buyer.get("company_name", "")),
                )
            invoice.buyer_snapshot = made[key]
        invoice.save(update_fields=["issue_details", "buyer_snapshot"])


def billing_details_from_snapshots(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    for invoice in Invoice.objects.select_related("buyer_snapshot").order_by("pk").iterator(chunk_size=1000):
        buyer = {"buyer": invoice.buyer_snapshot.details} if invoice.buyer_snapshot_id else {}
        invoice.billing_details = {**buyer, **invoice.issue_details}
        invoice.save(update_fields=["billing_details"])




class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0025_partial_credit_notes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='invoice',
            name='issue_details',
            field=models.JSONField(blank=True, default=dict, help_text='The seller and how the invoice is collected, as at issue; nothing personal (a card shows only its brand and last 4 digits).'),
        ),
        migrations.CreateModel(
            name='BuyerSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('profile_version', models.PositiveIntegerField()),
                ('digest', models.CharField(help_text='Keyed hash of the details: equal details, equal digest.', max_length=64)),
                ('details', accounts.fields.EncryptedJSONField(help_text='Name, company, address, VAT number… as invoices print them; encrypted.')),
                ('country', models.CharField(max_length=2)),
                ('tax_case', models.CharField(choices=[('FRENCH', 'French VAT territory'), ('EU_BUSINESS', 'EU business (reverse charge)'), ('EU_CONSUMER', 'EU consumer'), ('OUTSIDE_EU_BUSINESS', 'Business outside the EU'), ('OUTSIDE_EU_CONSUMER', 'Consumer outside the EU')], max_length=19)),
                ('language', models.CharField(max_length=2)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='buyer_snapshots', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.AddField(
            model_name='invoice',
            name='buyer_snapshot',
            field=models.ForeignKey(blank=True, help_text='The buyer as the version of their profile in force when the invoice was priced (encrypted there).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='invoices', to='billing.buyersnapshot'),
        ),
        migrations.AddConstraint(
            model_name='buyersnapshot',
            constraint=models.UniqueConstraint(fields=('user', 'profile_version', 'digest'), name='buyer_snapshot_once'),
        ),
        group_permissions_operation(group=FINANCE_GROUP, app_label="billing", codenames=CODENAMES),
        migrations.RunPython(snapshots_from_billing_details, billing_details_from_snapshots, elidable=False),
    ]
