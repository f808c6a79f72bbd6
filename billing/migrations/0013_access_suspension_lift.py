"""Finance's lift of an unpaid invoice's access suspension, and Finance's right to read and make lifts (the
"Lift the suspension" admin action needs `add`; lifts are never changed or deleted)."""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core.permissions import group_permissions_operation

FINANCE_GROUP = "Finance"
CODENAMES = ["view_accesssuspensionlift", "add_accesssuspensionlift"]


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
        group_permissions_operation(group=FINANCE_GROUP, app_label="billing", codenames=CODENAMES),
    ]
