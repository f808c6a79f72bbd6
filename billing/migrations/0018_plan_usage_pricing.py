"""Usage price models of a plan: per unit, graduated, volume or package."""
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("billing", "0017_invoice_kind_discount_line")]

    operations = [
        migrations.AddField(
            model_name='plan',
            name='package_price',
            field=models.DecimalField(blank=True, decimal_places=2, help_text='Package: the price of a block.', max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name='plan',
            name='package_tokens',
            field=models.PositiveBigIntegerField(blank=True, help_text='Package: tokens in a block.', null=True),
        ),
        migrations.AddField(
            model_name='plan',
            name='usage_pricing',
            field=models.CharField(choices=[('per_unit', 'Per unit'), ('graduated', 'Graduated'), ('volume', 'Volume'), ('package', 'Package')], default='per_unit', help_text='How tokens beyond the included ones are priced: per unit at the overage price, by tiers (graduated, volume) or by blocks (package).', max_length=9),
        ),
        migrations.AddField(
            model_name='plan',
            name='usage_tiers',
            field=models.JSONField(blank=True, default=list, help_text='Graduated and volume: [{"up_to": tokens beyond the included ones, or null for the last tier, "price_per_million": "2.00"}, …].'),
        ),
        migrations.AddConstraint(
            model_name='plan',
            constraint=models.CheckConstraint(condition=models.Q(('package_price__gte', 0)), name='plan_package_price_non_negative'),
        ),
        migrations.AddConstraint(
            model_name='plan',
            constraint=models.CheckConstraint(condition=models.Q(('usage_pricing__in', ['per_unit', 'graduated', 'volume', 'package'])), name='plan_usage_pricing_valid'),
        ),
        migrations.AddConstraint(
            model_name='plan',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('usage_pricing__in', ('graduated', 'volume')), models.Q(('usage_tiers', []), _negated=True)), models.Q(models.Q(('usage_pricing__in', ('graduated', 'volume')), _negated=True), ('usage_tiers', [])), _connector='OR'), name='plan_usage_tiers_for_tiered_pricing'),
        ),
        migrations.AddConstraint(
            model_name='plan',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('package_price__isnull', False), ('package_tokens__gte', 1), ('package_tokens__isnull', False), ('usage_pricing', 'package')), models.Q(models.Q(('usage_pricing', 'package'), _negated=True), ('package_price__isnull', True), ('package_tokens__isnull', True)), _connector='OR'), name='plan_package_fields_for_package_pricing'),
        ),
    ]
