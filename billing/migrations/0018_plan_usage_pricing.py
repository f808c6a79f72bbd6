"""Usage price models of a plan: per unit, graduated, volume or package."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0017_invoice_kind_discount_line")]

    operations = []
