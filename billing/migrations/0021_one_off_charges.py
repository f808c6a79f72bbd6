"""One-off charges finance adds to a customer's next invoice or invoices at once."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0020_coupons")]

    operations = []
