"""Sign the audit chain with `AUDIT_LOG_KEYS` (HMAC-SHA256) and refuse TRUNCATE on the audit tables.

The rows written so far carry plain SHA-256 links, which anyone able to write to the table can recompute
after editing a row, so no row is left on them: a verifier accepting them would accept a forged chain too.
The chain is checked first, and one that does not verify stops the migration naming the row (re-signing it
would launder the tampering); then every row is re-signed in order with the newest key, in this migration's
transaction, with the append-only trigger disabled for those statements alone: ALTER TABLE holds the table
locked until commit, so no other session writes to it or finds it unguarded.
"""
from django.db import migrations, models

from accounts.audit_chain import GENESIS_HASH, audit_keys, signing_key, unkeyed_hash
from core.db import rows_update

BATCH = 5000

TRUNCATE_REFUSED_SQL = """
CREATE FUNCTION accounts_audit_truncate_refused() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = TG_TABLE_NAME || ' is append-only: TRUNCATE refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_auditlog_truncate_refused BEFORE TRUNCATE ON accounts_auditlog
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_audit_truncate_refused();
CREATE TRIGGER accounts_auditchainhead_truncate_refused BEFORE TRUNCATE ON accounts_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_audit_truncate_refused();
"""
DROP_TRUNCATE_REFUSED_SQL = """
DROP TRIGGER IF EXISTS accounts_auditlog_truncate_refused ON accounts_auditlog;
DROP TRIGGER IF EXISTS accounts_auditchainhead_truncate_refused ON accounts_auditchainhead;
DROP FUNCTION IF EXISTS accounts_audit_truncate_refused();
"""


def rechain(apps, schema_editor, *, check, sign):
    """Walk the chain in order, checking each row's hash with `check(row, previous_hash)` and replacing it
    with `sign(row, previous_hash) -> (key_id, hash)`; the head follows."""
    AuditLog = apps.get_model("accounts", "AuditLog")
    AuditChainHead = apps.get_model("accounts", "AuditChainHead")
    if not AuditLog.objects.exists():
        return
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute("ALTER TABLE accounts_auditlog DISABLE TRIGGER accounts_auditlog_append_only")
    checked = signed = GENESIS_HASH
    last_id, batch = 0, []
    for row in AuditLog.objects.order_by("id").iterator(chunk_size=BATCH):
        if row.previous_hash != checked or check(row, checked) != row.hash:
            raise RuntimeError(
                f"The audit log does not verify at row #{row.id}: it was altered before this migration. "
                "Investigate it (manage.py verify_audit_log on the previous release) before migrating."
            )
        checked, last_id = row.hash, row.id
        row.previous_hash = signed
        row.key_id, row.hash = sign(row, signed)
        signed = row.hash
        batch.append(row)
        if len(batch) == BATCH:
            rows_update(AuditLog, batch, ["previous_hash", "key_id", "hash"])
            batch = []
    rows_update(AuditLog, batch, ["previous_hash", "key_id", "hash"])
    head = AuditChainHead.objects.get(id=1)
    if (head.last_id, head.last_hash) != (last_id, checked):
        raise RuntimeError(f"The audit log's newest rows are missing: its chain ended at #{head.last_id}.")
    head.last_hash = signed
    head.save(update_fields=["last_hash"])
    if postgresql:
        schema_editor.execute("ALTER TABLE accounts_auditlog ENABLE TRIGGER accounts_auditlog_append_only")


def sign_with_the_newest_key(apps, schema_editor):
    key = signing_key()
    rechain(
        apps, schema_editor,
        check=lambda row, previous: unkeyed_hash(row, previous_hash=previous),
        sign=lambda row, previous: (key.key_id, key.sign(row, previous_hash=previous)),
    )


def back_to_unkeyed_links(apps, schema_editor):
    keys = audit_keys()
    rechain(
        apps, schema_editor,
        check=lambda row, previous: keys[row.key_id].sign(row, previous_hash=previous) if row.key_id in keys else "",
        sign=lambda row, previous: ("", unkeyed_hash(row, previous_hash=previous)),
    )


def refuse_truncate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRUNCATE_REFUSED_SQL)


def allow_truncate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRUNCATE_REFUSED_SQL)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_key_rotation_schedule")]

    operations = [
        migrations.AddField(
            model_name="auditlog", name="key_id", field=models.CharField(default="", editable=False, max_length=16),
            preserve_default=False,
        ),
        migrations.RunPython(sign_with_the_newest_key, back_to_unkeyed_links),
        migrations.RunPython(refuse_truncate, allow_truncate),
    ]
