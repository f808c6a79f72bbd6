"""Finance reads the payment provider's events too."""
from django.db import migrations

from core.permissions import group_permissions_operation

FINANCE_GROUP = "Finance"
CODENAMES = ["view_webhookevent"]


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_encrypt_billing_details")]

    operations = [group_permissions_operation(group=FINANCE_GROUP, app_label="billing", codenames=CODENAMES)]
