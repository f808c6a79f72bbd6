"""The Finance group with exactly the permissions finance needs (see billing/backoffice/roles.py, which keeps the same list
for code; this migration keeps its own copy so that it always does what it did)."""
from django.db import migrations
from django.db.models import Q

from core.permissions import app_permissions_create

FINANCE_GROUP = "Finance"
FINANCE_PERMISSIONS = {
    "billing": {
        "plan": ("view", "add", "change"),
        "subscription": ("view", "change"),
        "subscriptionplanchange": ("view",),
        "subscriptionpause": ("view",),
        "invoice": ("view", "change"),
        "invoiceline": ("view", "add", "change"),
        "creditnote": ("view",),
        "numbersequence": ("view",),
        "payment": ("view", "add"),
        "credit": ("view", "add"),
        "creditapplication": ("view",),
        "billingalert": ("view",),
        "emailnotification": ("view",),
    },
    "accounts": {
        "user": ("view", "change"),
        "userprofile": ("view", "change"),
        "apikey": ("view", "change"),
        "auditlog": ("view",),
    },
    "libraries": {
        "usagelog": ("view",),
    },
}


def create_finance_group(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_permissions_create(apps, app_config.label)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = Q(pk__in=[])
    for app_label, models in FINANCE_PERMISSIONS.items():
        for model, actions in models.items():
            wanted |= Q(content_type__app_label=app_label, codename__in=[f"{action}_{model}" for action in actions])
    permissions = list(Permission.objects.filter(wanted))
    expected = sum(len(actions) for models in FINANCE_PERMISSIONS.values() for actions in models.values())
    assert len(permissions) == expected, "a Finance permission is missing"
    group, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    group.permissions.set(permissions)


def remove_finance_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=FINANCE_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0001_initial"),
        ("libraries", "0001_initial"),
        ("billing", "0003_beat_schedules"),
    ]

    operations = [migrations.RunPython(create_finance_group, remove_finance_group)]
