"""Invoices of three kinds (a period, an interim bill of usage so far, a one-off charge) and the discount line."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0016_payment_refund_reference'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='invoice',
            name='invoice_one_per_subscription_period',
        ),
        migrations.AddField(
            model_name='invoice',
            name='kind',
            field=models.CharField(choices=[('PERIOD', 'Period'), ('INTERIM', 'Interim'), ('ONE_OFF', 'One-off')], default='PERIOD', max_length=8),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='kind',
            field=models.CharField(choices=[('SUBSCRIPTION', 'Subscription'), ('USAGE', 'Usage'), ('PRORATION', 'Proration'), ('ADJUSTMENT', 'Adjustment'), ('DISCOUNT', 'Discount')], max_length=12),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'PERIOD'), models.Q(('status', 'CANCELLED'), _negated=True)), fields=('subscription', 'period_start'), name='invoice_one_per_subscription_period'),
        ),
    ]
