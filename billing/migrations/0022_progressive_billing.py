"""Progressive billing: a plan's threshold of usage charges that triggers an interim invoice."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0021_one_off_charges")]

    operations = []
