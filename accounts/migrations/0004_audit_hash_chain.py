"""Hash-chain the audit log and make it append-only in PostgreSQL."""
from django.db import migrations, models

from accounts.audit_chain import GENESIS_HASH, unkeyed_hash

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION accounts_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'accounts_auditlog is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_auditlog_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditlog
    FOR EACH ROW EXECUTE FUNCTION accounts_auditlog_append_only();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS accounts_auditlog_append_only ON accounts_auditlog;
DROP FUNCTION IF EXISTS accounts_auditlog_append_only();
"""


def chain_existing_rows(apps, schema_editor):
    AuditLog = apps.get_model("accounts", "AuditLog")
    AuditChainHead = apps.get_model("accounts", "AuditChainHead")
    previous, last_id = GENESIS_HASH, 0
    for row in AuditLog.objects.order_by("id").iterator():
        row.previous_hash = previous
        row.hash = previous = unkeyed_hash(row, previous_hash=previous)
        last_id = row.id
        row.save(update_fields=["previous_hash", "hash"])
    AuditChainHead.objects.create(id=1, last_id=last_id, last_hash=previous if last_id else "")


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL)


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_userprofile_monthly_spend_cap")]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_id", models.BigIntegerField(default=0)),
                ("last_hash", models.CharField(default="", max_length=64)),
            ],
            options={
                "constraints": [models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_head_single_row")]
            },
        ),
        migrations.AddField(
            model_name="auditlog", name="previous_hash", field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditlog", name="hash", field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditlog", name="actor",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=models.deletion.PROTECT, related_name="+", to="accounts.user"
            ),
        ),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditlog", name="hash", field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.RunPython(append_only, drop_append_only),
    ]
