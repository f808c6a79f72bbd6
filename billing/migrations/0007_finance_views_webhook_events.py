"""Finance reads the payment provider's events too."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

FINANCE_GROUP = "Finance"


def grant(apps, schema_editor):
    billing = apps.get_app_config("billing")
    billing.models_module = True
    create_permissions(billing, apps=apps, verbosity=0)
    billing.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="billing", codename="view_webhookevent")
    for group in Group.objects.filter(name=FINANCE_GROUP):
        group.permissions.add(view)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name=FINANCE_GROUP):
        group.permissions.remove(*Permission.objects.filter(codename="view_webhookevent"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_encrypt_billing_details")]

    operations = [migrations.RunPython(grant, revoke)]
