"""A customer at the payment provider (Stripe) and their card on file, and Finance's right to read them (the
rows are written by services only)."""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core.permissions import group_permissions_operation

FINANCE_GROUP = "Finance"
CODENAMES = ["view_paymentprovidercustomer"]


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0013_access_suspension_lift'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='PaymentProviderCustomer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('provider', models.CharField(choices=[('stripe', 'Stripe')], max_length=20)),
                ('provider_customer_id', models.CharField(max_length=255, unique=True)),
                ('default_payment_method_id', models.CharField(blank=True, max_length=255)),
                ('card_brand', models.CharField(blank=True, max_length=30)),
                ('card_last4', models.CharField(blank=True, max_length=4)),
                ('card_exp_month', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('card_exp_year', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='provider_customers', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['user_id', 'provider'],
                'constraints': [models.UniqueConstraint(fields=('user', 'provider'), name='payment_provider_customer_once_per_user'), models.CheckConstraint(condition=models.Q(('card_last4', ''), ('card_last4__regex', '^[0-9]{4}$'), _connector='OR'), name='payment_provider_customer_last4_digits'), models.CheckConstraint(condition=models.Q(('card_exp_month__isnull', True), models.Q(('card_exp_month__gte', 1), ('card_exp_month__lte', 12)), _connector='OR'), name='payment_provider_customer_exp_month')],
            },
        ),
        group_permissions_operation(group=FINANCE_GROUP, app_label="billing", codenames=CODENAMES),
    ]
