"""Card refunds at Stripe: each refund id of a payment recorded with its amount and status, applied once."""
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("billing", "0015_payment_retries_schedule")]

    operations = [
        migrations.AddField(
            model_name="payment", name="refund_references", field=models.JSONField(blank=True, default=dict),
        ),
    ]
