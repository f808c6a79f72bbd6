"""Moving the subscribers of a plan version to a newer one at their next period."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0022_progressive_billing")]

    operations = []
