"""Finance's lift of an unpaid invoice's access suspension, and Finance's right to read and make lifts (the
"Lift the suspension" admin action needs `add`; lifts are never changed or deleted)."""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

FINANCE_GROUP = "Finance"
CODENAMES = ["view_accesssuspensionlift", "add_accesssuspensionlift"]


def grant(apps, schema_editor):
    # Permissions are normally created after migrate (post_migrate): create billing's now.
    billing = apps.get_app_config("billing")
    billing.models_module = True
    create_permissions(billing, apps=apps, verbosity=0)
    billing.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(Permission.objects.filter(content_type__app_label="billing", codename__in=CODENAMES))
    assert len(permissions) == len(CODENAMES), "a suspension lift permission is missing"
    for group in Group.objects.filter(name=FINANCE_GROUP):
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="billing", codename__in=CODENAMES)
    for group in apps.get_model("auth", "Group").objects.filter(name=FINANCE_GROUP):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0012_line_price_base_credit_note_reason'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AccessSuspensionLift',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reason', models.TextField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('invoice', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='access_suspension_lift', to='billing.invoice')),
                ('lifted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'constraints': [models.CheckConstraint(condition=models.Q(('reason', ''), _negated=True), name='access_suspension_lift_reason_given')],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
