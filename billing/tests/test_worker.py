"""The monthly run on a real Celery worker process, through Redis, against the test database.

The worker has its own queue (nothing else on this Redis takes its tasks, and it takes nobody else's),
writes PDFs under a temporary MEDIA_ROOT and emails as files under a temporary EMAIL_FILE_PATH. A worker killed
mid-chunk (one pool process, or the whole worker) loses nothing: its chunk runs again, billed once.
"""
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from celery import current_app as celery_app
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db import connection, transaction

from accounts.tests.factories import UserProfileFactory
from billing import clock
from billing.invoicing.tasks import invoice_run_chunk_task, monthly_invoice_run_task
from billing.models import (
    CreditType,
    DocumentKind,
    EmailKind,
    EmailNotification,
    EmailStatus,
    Invoice,
    InvoiceStatus,
    NumberSequence,
    Subscription,
)
from billing.selectors import invoice_run_chunks
from billing.services import credit_grant
from billing.tests.factories import PlanFactory, SubscriptionFactory

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT = 30
RUN_TIMEOUT = 90
MONTHLY_TASK = "billing.tasks.invoicing.monthly_invoice_run_task"
# Celery's worker log: "Task <name>[<id>] received", then "... succeeded in 0.1s: ..." or "... raised ...".
RECEIVED = re.compile(r"Task [\w.]+\[([0-9a-f-]+)\] received")
FINISHED = re.compile(r"Task [\w.]+\[([0-9a-f-]+)\] (?:succeeded|raised|retry)")


EMAIL_SEPARATOR = b"-" * 79 + b"\n"  # what the file backend writes after each email


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, worker: "Worker") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.process.poll() is not None:
            pytest.fail(f"The worker exited ({worker.process.returncode}) while waiting for {what}:\n{worker.log()}")
        time.sleep(0.25)
    pytest.fail(f"Timed out after {timeout}s waiting for {what}:\n{worker.log()[-6000:]}")


def database_url() -> str:
    """The test database this process uses, for the worker to use too."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(
        self, *, queue: str, media_root: Path, mail_dir: Path, log_path: Path, transport_options: dict | None = None
    ):
        self.queue, self.log_path = queue, log_path
        self.transport_options = transport_options or {}
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "twinmcp.settings.test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": django_settings.REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
            "MEDIA_ROOT": str(media_root),
            "CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps(self.transport_options),
        }
        command = [
            sys.executable, "-m", "celery", "-A", "twinmcp", "worker", "-Q", queue, "-n", f"{queue}@%h",
            "-c", "2", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        ]
        self.log_file = log_path.open("wb")
        # Its own session: the pool's children are stopped with it, by process group.
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def idle(self) -> bool:
        """Every task it received has finished, and nothing waits in its queue."""
        log = self.log()
        pending = set(RECEIVED.findall(log)) - set(FINISHED.findall(log))
        queue = f"{self.transport_options.get('global_keyprefix', '')}{self.queue}"
        return not pending and redis.Redis.from_url(django_settings.REDIS_URL).llen(queue) == 0

    def pool_processes(self) -> list[int]:
        """The pids of its pool's processes, the children of its main process."""
        ps = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in ps.stdout.split()]

    def kill(self) -> None:
        """kill -9 of the whole worker, main process and pool: no warm shutdown, nothing handed back."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: running tasks finish first
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log_file.close()
        client = redis.Redis.from_url(django_settings.REDIS_URL)
        if prefix := self.transport_options.get("global_keyprefix"):
            for key in client.scan_iter(f"{prefix}*"):  # its queue and its unacknowledged tasks
                client.delete(key)
        else:
            client.delete(self.queue, f"_kombu.binding.{self.queue}", f"_kombu.binding_permanent.{self.queue}")


@pytest.fixture
def start_worker(tmp_path, settings):
    """Starts workers (`transport_options` for the broker) on a queue of this test; each one is stopped, or
    killed, at the end, even when the test fails."""
    queue = f"twinmcp-test-{uuid.uuid4().hex[:10]}"
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "mail").mkdir()
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_default_queue
    started = []

    def start(*, transport_options: dict | None = None) -> Worker:
        running = Worker(queue=queue, media_root=tmp_path / "media", mail_dir=tmp_path / "mail",
                         log_path=tmp_path / f"worker-{len(started)}.log", transport_options=transport_options)
        started.append(running)
        wait_for(lambda: " ready." in running.log(), timeout=START_TIMEOUT, what="the worker to start",
                 worker=running)
        return running

    conf.task_always_eager, conf.task_default_queue = False, queue
    try:
        yield start
    finally:
        conf.task_always_eager, conf.task_default_queue = saved
        for running in reversed(started):
            running.stop()


@pytest.fixture
def worker(start_worker):
    return start_worker()


def dataset() -> list[Subscription]:
    """Six customers on Pro for October 2026: French ones, a German consumer, a US company, one in credit."""
    plan = PlanFactory(code="pro", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000)
    profiles = [
        {"language": "fr", "country": "FR"},
        {"language": "fr", "country": "FR", "company_name": "Atelier Numérique SARL"},
        {"language": "fr", "country": "FR"},
        {"language": "en", "country": "DE"},
        {"language": "en", "country": "US", "company_name": "Analytical Engines Inc."},
        {"language": "en", "country": "FR"},
    ]
    subscriptions = [
        SubscriptionFactory(user=UserProfileFactory(vat_number="", **profile).user, plan=plan)
        for profile in profiles
    ]
    credit_grant(user=subscriptions[-1].user, type=CreditType.PROMOTIONAL, amount=Decimal("30.00"),
                 reason="Welcome offer")
    return subscriptions


def issued_emails():
    return EmailNotification.objects.filter(kind=EmailKind.INVOICE_ISSUED)


def snapshot(mail_dir: Path) -> tuple:
    return (
        list(Invoice.objects.order_by("pk").values_list("pk", "number", "status", "pdf", "pdf_sha256")),
        list(EmailNotification.objects.order_by("pk").values_list("key", "status", "attempts")),
        list(Subscription.objects.order_by("pk").values_list("pk", "current_period_end")),
        sorted((path.name, path.stat().st_size) for path in mail_dir.iterdir()),  # an appended email shows
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_monthly_run_on_a_real_worker_bills_renders_and_emails_once(worker, tmp_path):
    subscriptions = dataset()
    mail_dir = tmp_path / "mail"

    first = monthly_invoice_run_task.delay(period_end="2026-11-01")

    def all_issued() -> bool:
        return (
            Invoice.objects.filter(number__isnull=False).exclude(pdf="").count() == len(subscriptions)
            and issued_emails().filter(status=EmailStatus.SENT).count() == len(subscriptions)
        )

    wait_for(all_issued, timeout=RUN_TIMEOUT, what="every invoice issued, rendered and emailed", worker=worker)
    wait_for(worker.idle, timeout=30, what="the worker to finish its tasks", worker=worker)
    assert f"{MONTHLY_TASK}[{first.id}] succeeded" in worker.log()

    invoices = list(Invoice.objects.order_by("number"))
    year = clock.today().year
    assert [invoice.number for invoice in invoices] == [f"TMCP-{year}-{n:06d}" for n in range(1, 7)]
    assert sorted(invoice.subscription_id for invoice in invoices) == sorted(s.pk for s in subscriptions)
    for invoice in invoices:
        assert default_storage.exists(invoice.pdf.name), invoice.number
        assert len(invoice.pdf_sha256) == 64
    in_credit = Invoice.objects.get(subscription=subscriptions[-1])
    assert (in_credit.status, in_credit.amount_due) == (InvoiceStatus.PAID, Decimal("0.00"))

    # Django's file backend may append two emails sent within a second to one file: count the emails.
    emails = [
        email for path in mail_dir.iterdir() for email in path.read_bytes().split(EMAIL_SEPARATOR) if email.strip()
    ]
    assert len(emails) == len(invoices)
    subjects = {"en": "Your TwinMCP invoice {}", "fr": "Votre facture TwinMCP {}"}
    for invoice in invoices:
        language = invoice.user.profile.language
        [content] = [email for email in emails if invoice.number.encode() in email]
        assert f"Subject: {subjects[language].format(invoice.number)}".encode() in content
        assert f'filename="{invoice.number}.pdf"'.encode() in content
    assert issued_emails().filter(language="fr").count() == 3
    assert all(notification.attempts == 1 for notification in issued_emails())
    before = snapshot(mail_dir)

    second = monthly_invoice_run_task.delay(period_end="2026-11-01")

    wait_for(lambda: f"{MONTHLY_TASK}[{second.id}] succeeded" in worker.log(), timeout=30,
             what="the second run", worker=worker)
    wait_for(worker.idle, timeout=30, what="the worker to finish its tasks", worker=worker)
    time.sleep(1)  # anything the second run had wrongly sent would be received by now
    assert worker.idle()
    assert snapshot(mail_dir) == before
    assert " ERROR" not in worker.log() and "Traceback" not in worker.log()


# The chunks of October 2026 as the monthly run sends them, issued on 1 November.
RUN_AT = "2026-11-01T02:00:00+00:00"


def send_chunks(*, chunk_size: int, broker=None) -> list[str]:
    """One chunk task per `chunk_size` subscriptions, on the `broker` connection if given: their task ids."""
    return [
        invoice_run_chunk_task.apply_async(
            kwargs={"subscription_ids": chunk, "period_end": "2026-11-01", "now": RUN_AT, "issue_documents": False},
            connection=broker,
        ).id
        for chunk in invoice_run_chunks(period_end=datetime.date(2026, 11, 1), chunk_size=chunk_size)
    ]


def chunks_waiting_on_this_test() -> int:
    """Database sessions waiting, directly or in the queue behind another, for a lock this test's session holds
    (pg_locks is live, unlike pg_stat_activity, which a transaction reads once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE waiting(pid) AS (
                SELECT pid FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))
                UNION
                SELECT lock.pid FROM pg_locks lock JOIN waiting ON waiting.pid = ANY(pg_blocking_pids(lock.pid))
                WHERE NOT lock.granted
            )
            SELECT count(*) FROM waiting
            """
        )
        return cursor.fetchone()[0]


@contextmanager
def invoice_numbers_held():
    """Holds the invoice counter of 2026: a chunk stops on it, its invoices written and its subscriptions
    rolled in its open transaction, until the block ends."""
    sequence, _ = NumberSequence.objects.get_or_create(kind=DocumentKind.INVOICE, year=2026)
    with transaction.atomic():
        NumberSequence.objects.select_for_update().get(pk=sequence.pk)
        yield


def assert_invoiced_once_without_gaps(subscriptions: list[Subscription]) -> None:
    invoices = list(Invoice.objects.order_by("number"))
    assert [invoice.number for invoice in invoices] == [f"TMCP-2026-{n:06d}" for n in range(1, len(subscriptions) + 1)]
    assert sorted(invoice.subscription_id for invoice in invoices) == sorted(s.pk for s in subscriptions)
    assert set(Subscription.objects.values_list("current_period_end", flat=True)) == {datetime.date(2026, 12, 1)}
    assert NumberSequence.objects.get(kind=DocumentKind.INVOICE, year=2026).last_number == len(subscriptions)


def all_numbered(subscriptions: list[Subscription]) -> Callable[[], bool]:
    return lambda: Invoice.objects.filter(number__isnull=False).count() == len(subscriptions)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestAWorkerKilledMidChunk:
    def test_a_pool_process_killed_mid_chunk_has_its_chunk_run_again_at_once(self, worker):
        subscriptions = dataset()

        with invoice_numbers_held():
            first, second = send_chunks(chunk_size=3)
            wait_for(lambda: chunks_waiting_on_this_test() == 2, timeout=RUN_TIMEOUT,
                     what="both chunks half-way, on the invoice counter", worker=worker)
            os.kill(worker.pool_processes()[0], signal.SIGKILL)
            wait_for(lambda: "exited with 'signal 9 (SIGKILL)'" in worker.log(), timeout=30,
                     what="the worker to see its pool process lost", worker=worker)
        # Far sooner than the visibility timeout: the worker put the lost task back in the queue itself.
        wait_for(all_numbered(subscriptions), timeout=30, what="the lost chunk billed again", worker=worker)
        wait_for(worker.idle, timeout=30, what="the worker to finish its tasks", worker=worker)

        assert_invoiced_once_without_gaps(subscriptions)
        deliveries = Counter(RECEIVED.findall(worker.log()))
        assert set(deliveries) == {first, second}
        assert sorted(deliveries.values()) == [1, 2]  # the lost chunk, and only it, delivered twice

    def test_a_worker_killed_whole_mid_chunk_has_its_chunks_run_by_the_next_one(self, start_worker):
        subscriptions = dataset()
        keys = {"global_keyprefix": f"twinmcp-test-{uuid.uuid4().hex[:10]}:"}  # its unacknowledged tasks apart
        lost = start_worker(transport_options=keys)

        with celery_app.connection_for_write(transport_options=keys) as broker, invoice_numbers_held():
            sent = send_chunks(chunk_size=3, broker=broker)
            wait_for(lambda: chunks_waiting_on_this_test() == 2, timeout=RUN_TIMEOUT,
                     what="both chunks half-way, on the invoice counter", worker=lost)
            lost.kill()

        assert not Invoice.objects.exists()  # both chunks rolled back with their worker
        unacked = redis.Redis.from_url(django_settings.REDIS_URL).hlen(f"{keys['global_keyprefix']}unacked")
        assert unacked == 2  # neither acknowledged nor lost: they wait for the visibility timeout

        # A worker whose visibility timeout is short (the product's is computed from the task time limits).
        restarted = start_worker(transport_options={**keys, "visibility_timeout": 5, "unacked_restore_interval": 1})
        wait_for(all_numbered(subscriptions), timeout=45, what="the lost chunks billed again", worker=restarted)
        wait_for(restarted.idle, timeout=30, what="the worker to finish its tasks", worker=restarted)

        assert_invoiced_once_without_gaps(subscriptions)
        assert sorted(RECEIVED.findall(restarted.log())) == sorted(sent)
        assert " ERROR" not in restarted.log() and "Traceback" not in restarted.log()
