"""Coupons and promotion codes, and the redemptions that apply them at invoicing."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0019_trials")]

    operations = []
