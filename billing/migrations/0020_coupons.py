"""Coupons and promotion codes, and the redemptions that apply them at invoicing."""
import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core.permissions import group_permissions_operation

FINANCE_GROUP = "Finance"
# Finance creates and edits coupons, and grants them to customers (a redemption, added by a service).
CODENAMES = ["view_coupon", "add_coupon", "change_coupon", "view_couponredemption", "add_couponredemption"]


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0019_trials"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Coupon',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(help_text='What customers enter; kept upper-case.', max_length=40, unique=True)),
                ('name', models.CharField(help_text="Printed on the invoice's discount line.", max_length=100)),
                ('percent_off', models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ('amount_off', models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True)),
                ('currency', models.CharField(blank=True, help_text='Of `amount_off`; empty for a percentage.', max_length=3)),
                ('duration', models.CharField(choices=[('once', 'Once'), ('repeating', 'Repeating'), ('forever', 'Forever')], default='once', max_length=9)),
                ('duration_months', models.PositiveSmallIntegerField(blank=True, help_text='Repeating only: the months of billed periods it applies to.', null=True)),
                ('max_redemptions', models.PositiveIntegerField(blank=True, help_text='Empty: unlimited.', null=True)),
                ('times_redeemed', models.PositiveIntegerField(default=0)),
                ('expires_at', models.DateTimeField(blank=True, help_text='Last moment it can be redeemed.', null=True)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'constraints': [models.CheckConstraint(condition=models.Q(('code', django.db.models.functions.text.Upper('code')), models.Q(('code', ''), _negated=True)), name='coupon_code_upper', violation_error_message='A code is upper-case and not empty.'), models.CheckConstraint(condition=models.Q(models.Q(('amount_off__isnull', True), ('currency', ''), ('percent_off__gt', 0), ('percent_off__lte', 100)), models.Q(('amount_off__gt', 0), ('percent_off__isnull', True), models.Q(('currency', ''), _negated=True)), _connector='OR'), name='coupon_percent_or_amount_off', violation_error_message='Give a percentage (above 0, at most 100) or an amount off with its currency: exactly one.'), models.CheckConstraint(condition=models.Q(models.Q(('duration', 'repeating'), ('duration_months__gt', 0)), models.Q(models.Q(('duration', 'repeating'), _negated=True), ('duration_months__isnull', True)), _connector='OR'), name='coupon_duration_months_when_repeating', violation_error_message='A repeating coupon needs its months; once and forever take none.'), models.CheckConstraint(condition=models.Q(('max_redemptions__isnull', True), models.Q(('max_redemptions__gt', 0), ('times_redeemed__lte', models.F('max_redemptions'))), _connector='OR'), name='coupon_redemptions_within_max', violation_error_message='The maximum of redemptions is at least 1 and at least the times redeemed.')],
            },
        ),
        migrations.CreateModel(
            name='CouponRedemption',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('redeemed_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('periods_applied', models.PositiveIntegerField(default=0, help_text='Period invoices it discounted.')),
                ('months_applied', models.PositiveIntegerField(default=0, help_text='Months of those periods (a year counts 12).')),
                ('ended_at', models.DateTimeField(blank=True, null=True)),
                ('coupon', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='redemptions', to='billing.coupon')),
                ('granted_by', models.ForeignKey(blank=True, help_text='The finance user who granted it; empty when the customer entered the code.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('subscription', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='coupon_redemptions', to='billing.subscription')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='coupon_redemptions', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-redeemed_at', '-id'],
                'constraints': [models.UniqueConstraint(fields=('coupon', 'user'), name='coupon_redemption_once_per_customer'), models.UniqueConstraint(condition=models.Q(('ended_at__isnull', True)), fields=('subscription',), name='coupon_redemption_one_running')],
            },
        ),
        migrations.AddField(
            model_name='invoice',
            name='coupon_redemption',
            field=models.ForeignKey(blank=True, help_text='The coupon whose DISCOUNT line this period invoice carries: issuing it counts a period on it.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='invoices', to='billing.couponredemption'),
        ),
        group_permissions_operation(group=FINANCE_GROUP, app_label="billing", codenames=CODENAMES),
    ]
