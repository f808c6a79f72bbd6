import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.middleware import AuditContextMiddleware
from accounts.models import AuditLog
from accounts.services import audit_chain_verify, audit_log_record
from accounts.tests.factories import ApiKeyFactory, UserFactory


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
