"""The monthly run on a real Celery worker process, through Redis, against the test database.

The worker has its own queue (nothing else on this Redis takes its tasks, and it takes nobody else's),
writes PDFs under a temporary MEDIA_ROOT and emails as files under a temporary EMAIL_FILE_PATH.
"""
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db import connection

from accounts.tests.factories import UserProfileFactory
from billing import clock
from billing.models import CreditType, EmailKind, EmailNotification, EmailStatus, Invoice, InvoiceStatus, Subscription
from billing.services import credit_grant
from billing.tasks.invoicing import monthly_invoice_run_task
from billing.tests.factories import PlanFactory, SubscriptionFactory
from twinmcp.celery import app as celery_app

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
    def __init__(self, *, queue: str, media_root: Path, mail_dir: Path, log_path: Path):
        self.queue, self.log_path = queue, log_path
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
        return not pending and redis.Redis.from_url(django_settings.REDIS_URL).llen(self.queue) == 0

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
        client.delete(self.queue, f"_kombu.binding.{self.queue}", f"_kombu.binding_permanent.{self.queue}")


@pytest.fixture
def worker(tmp_path, settings):
    queue = f"twinmcp-test-{uuid.uuid4().hex[:10]}"
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "mail").mkdir()
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_default_queue
    running = Worker(queue=queue, media_root=tmp_path / "media", mail_dir=tmp_path / "mail",
                     log_path=tmp_path / "worker.log")
    try:
        wait_for(lambda: " ready." in running.log(), timeout=START_TIMEOUT, what="the worker to start",
                 worker=running)
        conf.task_always_eager, conf.task_default_queue = False, queue
        yield running
    finally:
        conf.task_always_eager, conf.task_default_queue = saved
        running.stop()


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
