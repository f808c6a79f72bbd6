"""Migration 0006 moves an audit log written on plain SHA-256 links to the keyed chain, and refuses to re-sign
one that does not verify (that would launder the tampering)."""
import datetime
from types import SimpleNamespace

import psycopg
import pytest
from psycopg.types.json import Jsonb

from accounts.audit_chain import GENESIS_HASH, key_id_of, unkeyed_hash
from tests.helpers import clean_environment, run_manage, scratch_postgres_database

KEY = "migration-test-audit-log-key-0123456789abcdef"


def environment(database_url: str) -> dict[str, str]:
    return clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.test", DATABASE_URL=database_url,
                             AUDIT_LOG_KEYS=KEY)


def legacy_chain(count: int) -> list[SimpleNamespace]:
    """Rows as the previous release wrote them, each linked to the one before by a plain SHA-256."""
    rows, previous = [], GENESIS_HASH
    for number in range(1, count + 1):
        row = SimpleNamespace(
            id=number, actor_id=None, action="invoice.generate", object_type="billing.Invoice",
            object_id=str(number), changes={"total": f"{number}9.00"}, ip_address="203.0.113.7",
            user_agent="Firefox/140", created_at=datetime.datetime(2026, 10, 1, 12, number, tzinfo=datetime.UTC),
        )
        row.previous_hash, row.hash = previous, unkeyed_hash(row, previous_hash=previous)
        previous = row.hash
        rows.append(row)
    return rows


@pytest.fixture
def database_before_keys():
    """A database migrated up to the chain without keys, holding three of its rows."""
    with scratch_postgres_database() as database_url:
        migrated = run_manage("migrate", "accounts", "0005_key_rotation_schedule", env=environment(database_url))
        assert migrated.returncode == 0, migrated.stderr
        rows = legacy_chain(3)
        with psycopg.connect(database_url) as connection:
            for row in rows:
                connection.execute(
                    "INSERT INTO accounts_auditlog (id, actor_id, action, object_type, object_id, changes, "
                    "ip_address, user_agent, created_at, previous_hash, hash) "
                    "VALUES (%s, NULL, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [row.id, row.action, row.object_type, row.object_id, Jsonb(row.changes), row.ip_address,
                     row.user_agent, row.created_at, row.previous_hash, row.hash],
                )
            connection.execute("UPDATE accounts_auditchainhead SET last_id = %s, last_hash = %s WHERE id = 1",
                               [rows[-1].id, rows[-1].hash])
        yield database_url


def column(database_url: str, name: str) -> list:
    with psycopg.connect(database_url) as connection:
        return [value for (value,) in connection.execute(f"SELECT {name} FROM accounts_auditlog ORDER BY id")]


@pytest.mark.slow
class TestMigrationToTheKeyedChain:
    def test_rows_written_before_keys_are_signed_with_the_newest_key_and_verify(self, database_before_keys):
        migrated = run_manage("migrate", env=environment(database_before_keys))
        assert migrated.returncode == 0, migrated.stderr

        verified = run_manage("verify_audit_log", env=environment(database_before_keys))

        assert verified.returncode == 0, verified.stderr
        assert "audit log intact: 3 rows" in verified.stdout
        assert column(database_before_keys, "key_id") == [key_id_of(KEY.encode())] * 3
        assert set(column(database_before_keys, "hash")).isdisjoint(row.hash for row in legacy_chain(3))

    def test_a_chain_altered_before_the_migration_stops_it_naming_the_row(self, database_before_keys):
        with psycopg.connect(database_before_keys) as connection:
            connection.execute("SET session_replication_role = replica")
            connection.execute("UPDATE accounts_auditlog SET changes = %s WHERE id = 2", [Jsonb({"total": "0.01"})])

        migrated = run_manage("migrate", env=environment(database_before_keys))

        assert migrated.returncode != 0
        assert "The audit log does not verify at row #2" in migrated.stderr
        assert column(database_before_keys, "hash") == [row.hash for row in legacy_chain(3)]  # all rolled back
