"""The buyer snapshots and issue details (migration 0026) now hold what `billing_details` held."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0026_buyer_snapshots'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='invoice',
            name='billing_details',
        ),
    ]
