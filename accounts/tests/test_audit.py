import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from accounts.audit_chain import AuditKey, key_id_of, unkeyed_hash
from accounts.middleware import AuditContextMiddleware
from accounts.models import AuditChainHead, AuditLog
from accounts.services import audit_chain_verify, audit_log_record
from accounts.tests.factories import ApiKeyFactory, UserFactory

OLD_KEY, NEW_KEY = "old-audit-key-0123456789abcdef0123456789", "new-audit-key-0123456789abcdef0123456789"


def record(action="api_key.create", **kwargs):
    return audit_log_record(action=action, obj=ApiKeyFactory(), **kwargs)


def tamper(sql: str, params=()):
    """Run `sql` with triggers switched off, as a database superuser could."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("RESET session_replication_role")


def verify() -> str:
    out = StringIO()
    call_command("verify_audit_log", stdout=out, stderr=out)
    return out.getvalue()


def verify_failing() -> list[str]:
    """The problems `verify_audit_log` prints, one a line, checking that it exits non-zero."""
    err = StringIO()
    with pytest.raises(CommandError, match="tampered with"):
        call_command("verify_audit_log", stdout=StringIO(), stderr=err)
    return err.getvalue().splitlines()


def rehash_from(first: AuditLog, sign) -> None:
    """What someone with the database's credentials but not the key does after editing `first`: recompute its
    hash and every later one with `sign(row, previous_hash)`, and point the chain head at the last."""
    previous = first.previous_hash
    for row in AuditLog.objects.filter(id__gte=first.id).order_by("id"):
        previous_hash, previous = previous, sign(row, previous)
        tamper("UPDATE accounts_auditlog SET previous_hash = %s, hash = %s WHERE id = %s",
               [previous_hash, previous, row.id])
    AuditChainHead.objects.filter(id=1).update(last_hash=previous)


def truncate_refused_on(table: str):
    """The TRUNCATE guard of `table`, which the test database leaves off for Django's flush (see conftest.py),
    back on until the test's transaction rolls back."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_truncate_refused")


@pytest.mark.django_db
class TestChain:
    def test_each_row_links_to_the_one_before(self):
        first, second, third = record(), record(), record()

        assert second.previous_hash == first.hash
        assert third.previous_hash == second.hash
        assert "audit log intact: 3 rows" in verify()

    def test_the_database_refuses_updates(self):
        entry = record()

        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditLog.objects.filter(pk=entry.pk).update(action="invoice.cancel")

    def test_the_database_refuses_deletes(self):
        entry = record()

        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditLog.objects.filter(pk=entry.pk).delete()
        assert AuditLog.objects.filter(pk=entry.pk).exists()

    @pytest.mark.parametrize("table", ["accounts_auditlog", "accounts_auditchainhead"])
    def test_the_database_refuses_truncate(self, table):
        record(), record()
        with connection.cursor() as cursor:
            # The test's rows are uncommitted: their foreign keys are checked now, as at a commit, for
            # PostgreSQL to alter or truncate the table.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        truncate_refused_on(table)

        with pytest.raises(DatabaseError, match=f"{table} is append-only: TRUNCATE refused"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {table}")

        assert AuditLog.objects.count() == 2
        assert AuditChainHead.objects.exists()
        assert "audit log intact: 2 rows" in verify()


@pytest.mark.django_db
class TestKeys:
    def test_rows_are_signed_with_the_newest_key_and_name_it(self):
        with override_settings(AUDIT_LOG_KEYS=[NEW_KEY, OLD_KEY]):
            entry = record()

        assert entry.key_id == key_id_of(NEW_KEY.encode())
        assert NEW_KEY not in entry.key_id
        assert entry.hash != unkeyed_hash(entry, previous_hash=entry.previous_hash)

    def test_rows_signed_before_a_rotation_still_verify(self):
        with override_settings(AUDIT_LOG_KEYS=[OLD_KEY]):
            before = [record(), record()]
        with override_settings(AUDIT_LOG_KEYS=[NEW_KEY, OLD_KEY]):
            after = [record(), record()]
            output = verify()

        assert "audit log intact: 4 rows" in output
        assert [row.key_id for row in before + after] == [key_id_of(OLD_KEY.encode())] * 2 + [
            key_id_of(NEW_KEY.encode())
        ] * 2

    def test_a_row_signed_by_a_key_no_longer_listed_is_reported(self):
        with override_settings(AUDIT_LOG_KEYS=[OLD_KEY]):
            first = record()
        with override_settings(AUDIT_LOG_KEYS=[NEW_KEY]):
            record()
            problems = verify_failing()

        assert problems == [
            f"row #{first.pk}: signed by an unknown key (key id '{key_id_of(OLD_KEY.encode())}'): a key dropped "
            "from AUDIT_LOG_KEYS too early, or a forged row"
        ]


@pytest.mark.django_db
class TestTamperingIsFound:
    def test_an_edited_row(self):
        record()
        edited = record()
        record()
        tamper("UPDATE accounts_auditlog SET changes = %s WHERE id = %s", ['{"amount": "0.01"}', edited.pk])

        with pytest.raises(CommandError, match="tampered with: 1 problem"):
            verify()
        assert [f"row #{edited.pk}: its content was altered" in p for p in audit_chain_verify().problems] == [True]

    def test_a_removed_row(self):
        record()
        removed = record()
        after = record()
        tamper("DELETE FROM accounts_auditlog WHERE id = %s", [removed.pk])

        problems = audit_chain_verify().problems

        assert problems == [f"row #{after.pk}: the row before it is missing or was altered (chain broken)"]

    def test_an_edited_row_with_the_chain_rehashed_by_plain_sha256(self):
        record()
        edited = record()
        record(), record()
        tamper("UPDATE accounts_auditlog SET changes = %s WHERE id = %s", ['{"amount": "0.01"}', edited.pk])

        rehash_from(edited, lambda row, previous: unkeyed_hash(row, previous_hash=previous))

        problems = verify_failing()
        assert problems[0] == (
            f"row #{edited.pk}: its hash is a plain SHA-256, recomputed without the audit key: the chain was "
            "re-hashed from here"
        )
        assert len(problems) == 3  # the edited row and the two after it

    def test_an_edited_row_with_the_chain_rehashed_by_another_key(self):
        record()
        edited = record()
        record()
        tamper("UPDATE accounts_auditlog SET changes = %s WHERE id = %s", ['{"amount": "0.01"}', edited.pk])
        # The key id kept, so that the rows still claim the real key.
        forger = AuditKey(key_id=edited.key_id, secret=b"a guess at the audit key, long enough to look real")

        rehash_from(edited, lambda row, previous: forger.sign(row, previous_hash=previous))

        problems = verify_failing()
        assert problems[0] == (
            f"row #{edited.pk}: its content was altered, or its hash recomputed with another key "
            "(api_key.create accounts.ApiKey)"
        )
        assert len(problems) == 2

    def test_the_newest_row_removed(self):
        record()
        newest = record()
        tamper("DELETE FROM accounts_auditlog WHERE id = %s", [newest.pk])

        with pytest.raises(CommandError):
            verify()
        assert "the newest rows are missing" in audit_chain_verify().problems[0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    barrier = threading.Barrier(4)
    errors = []

    def write():
        try:
            barrier.wait()
            for _ in range(5):
                record()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    report = audit_chain_verify()
    assert (report.rows, report.problems) == (20, [])


@pytest.mark.django_db
class TestRequestContext:
    def test_rows_written_during_a_request_carry_its_actor_ip_and_user_agent(self):
        user = UserFactory()
        request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Firefox/140")
        request.user = user
        written = []

        def view(request):
            written.append(record())
            return HttpResponse()

        AuditContextMiddleware(view)(request)

        entry = AuditLog.objects.get(pk=written[0].pk)
        assert (entry.actor, entry.ip_address, entry.user_agent) == (user, "203.0.113.9", "Firefox/140")

    def test_rows_written_outside_a_request_are_the_systems(self):
        entry = record()

        assert (entry.actor, entry.ip_address, entry.user_agent) == (None, None, "")
