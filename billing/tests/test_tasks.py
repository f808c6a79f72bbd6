"""Scheduled work: the beat schedules, the shape of every task, and the tasks run eagerly on real rows.

Tasks read the clock themselves (they are the edge of the domain), so the rows of the sweep tests are set
around today; the monthly run bills the periods that ended on 1 November 2026.
"""
import datetime
import importlib
import inspect
from decimal import Decimal

import pytest
from celery import current_app as app
from django.core import mail
from django.core.files.storage import default_storage
from django.db import transaction
from django_celery_beat.models import PeriodicTask

from accounts.tests.factories import UserProfileFactory
from billing import clock
from billing.documents.tasks import documents_catch_up_task, invoices_documents_issue_task
from billing.invoicing.tasks import (
    invoice_run_chunk_task,
    invoices_overdue_task,
    monthly_invoice_run_task,
    subscriptions_expire_task,
    subscriptions_expiring_task,
    usage_thresholds_task,
)
from billing.models import (
    AlertType,
    BillingAlert,
    CreditNote,
    CreditType,
    EmailKind,
    EmailNotification,
    EmailStatus,
    Invoice,
    InvoiceStatus,
    LineKind,
    NumberSequence,
    Subscription,
    SubscriptionStatus,
)
from billing.notifications.tasks import (
    alert_emails_task,
    email_deliver_task,
    payment_reminders_task,
    unsent_emails_task,
)
from billing.periods import add_months, start_of_day
from billing.services import credit_grant, email_queue, invoice_cancel, invoice_finalize, invoice_run_chunk
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

# Every beat schedule the data migrations create: name → (task, crontab minute, hour, day of month).
SCHEDULES = {
    **importlib.import_module("billing.migrations.0003_beat_schedules").SCHEDULES,
    **importlib.import_module("billing.migrations.0015_payment_retries_schedule").SCHEDULES,
    **importlib.import_module("billing.migrations.0019_trials").SCHEDULES,
    **importlib.import_module("billing.migrations.0022_progressive_billing").SCHEDULES,
}
NOVEMBER_1 = datetime.date(2026, 11, 1)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def billing_tasks() -> dict:
    """The tasks a worker finds at start-up, by name: the `tasks` modules of the installed apps."""
    app.autodiscover_tasks(force=True)
    return {name: task for name, task in app.tasks.items() if name.startswith("billing.")}


def customer(**profile):
    profile.setdefault("country", "FR")
    profile.setdefault("vat_number", "")
    profile.setdefault("language", "en")
    return UserProfileFactory(**profile).user


def october_subscription(**profile) -> Subscription:
    plan = PlanFactory(code="pro", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000)
    return SubscriptionFactory(
        user=customer(**profile), plan=plan, current_period_start=datetime.date(2026, 10, 1),
        current_period_end=NOVEMBER_1,
    )


def small_dataset() -> list[Subscription]:
    """Four customers: French, English, a US company, and one whose credit covers the whole invoice."""
    subscriptions = [
        october_subscription(language="fr"),
        october_subscription(language="en", country="DE", vat_number=""),
        october_subscription(language="en", country="US", company_name="Analytical Engines Inc."),
        october_subscription(language="fr"),
    ]
    credit_grant(user=subscriptions[-1].user, type=CreditType.PROMOTIONAL, amount=Decimal("50.00"),
                 reason="Welcome offer", now=datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC))
    return subscriptions


def invoice_numbers() -> list[str]:
    return list(Invoice.objects.order_by("number").values_list("number", flat=True))


def state() -> tuple:
    """What a second run must leave as it found it."""
    return (
        list(Invoice.objects.order_by("pk").values_list("pk", "number", "status", "total", "pdf_sha256")),
        list(NumberSequence.objects.order_by("pk").values_list("kind", "year", "last_number")),
        list(EmailNotification.objects.order_by("pk").values_list("key", "status", "attempts")),
        list(Subscription.objects.order_by("pk").values_list("pk", "status", "current_period_end")),
        len(mail.outbox),
    )


@pytest.mark.django_db
class TestBeatSchedules:
    def test_every_schedule_exists_after_migrate_and_names_a_registered_task(self):
        tasks = billing_tasks()

        periodic = {task.name: task for task in PeriodicTask.objects.select_related("crontab")}

        assert set(SCHEDULES) <= set(periodic)
        for name, (task_name, minute, hour, day_of_month) in SCHEDULES.items():
            schedule = periodic[name]
            assert schedule.enabled, name
            assert schedule.task == task_name and task_name in tasks, name
            crontab = schedule.crontab
            assert (crontab.minute, crontab.hour, crontab.day_of_month) == (minute, hour, day_of_month), name
            assert (crontab.month_of_year, crontab.day_of_week) == ("*", "*"), name
            assert str(crontab.timezone) == "Europe/Paris", name

    def test_the_monthly_run_is_at_two_on_the_first_and_the_sweeps_daily_or_hourly(self):
        periodic = {task.task.rsplit(".", 1)[1]: task.crontab for task in PeriodicTask.objects.filter(
            name__in=SCHEDULES).select_related("crontab")}

        monthly = periodic["monthly_invoice_run_task"]
        assert (monthly.minute, monthly.hour, monthly.day_of_month) == ("0", "2", "1")
        for daily in ("invoices_overdue_task", "payment_reminders_task", "subscriptions_expiring_task",
                      "subscriptions_expire_task", "documents_catch_up_task", "payment_retries_task"):
            assert periodic[daily].hour != "*" and periodic[daily].day_of_month == "*", daily
        assert periodic["usage_thresholds_task"].hour == "*"
        assert (periodic["interim_invoices_sweep_task"].minute, periodic["interim_invoices_sweep_task"].hour) == (
            "*/5", "*"
        )

    def test_every_billing_task_is_scheduled_or_sent_by_another(self):
        scheduled = {task for task, *_ in SCHEDULES.values()}
        sent_by_others = {
            "billing.tasks.emails.email_deliver_task",
            "billing.tasks.invoicing.invoice_run_chunk_task",
            "billing.tasks.invoicing.invoices_documents_issue_task",
            "billing.tasks.invoicing.credit_note_documents_issue_task",
            "billing.tasks.invoicing.interim_invoice_check_task",  # by the quota throttle
            "billing.tasks.payments.invoice_charge_task",
        }

        assert set(billing_tasks()) == scheduled | sent_by_others


@pytest.fixture(scope="module")
def tasks() -> dict:
    return billing_tasks()


class TestTaskShape:
    def test_arguments_are_keyword_only(self, tasks):
        for name, task in tasks.items():
            parameters = inspect.signature(task.run).parameters.values()
            assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in parameters), name

    def test_acks_late_and_requeued_when_the_worker_is_lost(self, tasks):
        for name, task in tasks.items():
            assert task.acks_late is True, name
            assert task.reject_on_worker_lost is True, name

    def test_time_limits_with_a_soft_limit_first(self, tasks):
        for name, task in tasks.items():
            assert task.soft_time_limit and task.time_limit, name
            assert task.soft_time_limit < task.time_limit, name

    def test_retried_with_backoff(self, tasks):
        for name, task in tasks.items():
            assert task.autoretry_for and task.retry_backoff and task.max_retries, name


@pytest.mark.django_db
class TestMonthlyRunTask:
    def run(self, capture) -> None:
        """The beat's call as a worker runs it: the documents and emails follow each chunk's commit."""
        with capture(execute=True):
            result = monthly_invoice_run_task.apply(kwargs={"period_end": "2026-11-01"})
        assert result.successful(), result.traceback

    def test_bills_renders_and_emails_each_subscription_once(self, django_capture_on_commit_callbacks):
        subscriptions = small_dataset()

        self.run(django_capture_on_commit_callbacks)

        invoices = list(Invoice.objects.order_by("number"))
        year = clock.today().year
        assert [invoice.number for invoice in invoices] == [f"TMCP-{year}-{n:06d}" for n in range(1, 5)]
        assert {invoice.subscription_id for invoice in invoices} == {s.pk for s in subscriptions}
        assert all(invoice.pdf and invoice.pdf_sha256 for invoice in invoices)
        covered = Invoice.objects.get(subscription=subscriptions[-1])
        # a promotional credit is a price reduction: the 19.00 fee is taken off before tax, nothing is left to pay
        assert (covered.status, covered.subtotal, covered.total, covered.amount_due, covered.credit_applied) == (
            InvoiceStatus.PAID, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00")
        )
        assert [(line.kind, line.amount) for line in covered.lines.all()][-1] == (LineKind.CREDIT, Decimal("-19.00"))
        assert sorted(message.to[0] for message in mail.outbox) == sorted(s.user.email for s in subscriptions)
        assert all(len(message.attachments) == 1 for message in mail.outbox)
        assert set(Subscription.objects.values_list("current_period_end", flat=True)) == {datetime.date(2026, 12, 1)}

    def test_fans_out_one_task_per_chunk_and_numbers_without_a_gap(self, django_capture_on_commit_callbacks,
                                                                   monkeypatch):
        monkeypatch.setattr("billing.invoicing.tasks.CHUNK_SIZE", 3)
        small_dataset()
        october_subscription(language="en")

        with django_capture_on_commit_callbacks(execute=True):
            chunks = monthly_invoice_run_task.apply(kwargs={"period_end": "2026-11-01"}).get()

        assert chunks == 2
        year = clock.today().year
        assert invoice_numbers() == [f"TMCP-{year}-{n:06d}" for n in range(1, 6)]
        assert len(mail.outbox) == 5

    def test_documents_left_to_the_catch_up_sweep_are_issued_by_it(self, django_capture_on_commit_callbacks):
        small_dataset()

        with django_capture_on_commit_callbacks(execute=True):
            monthly_invoice_run_task.apply(kwargs={"period_end": "2026-11-01", "issue_documents": False}).get()

        assert Invoice.objects.count() == 4
        assert not Invoice.objects.exclude(pdf="").exists() and mail.outbox == []
        with django_capture_on_commit_callbacks(execute=True):
            documents_catch_up_task.apply()
        assert not Invoice.objects.filter(pdf="").exists()
        assert len(mail.outbox) == 4

    def test_a_second_run_changes_nothing(self, django_capture_on_commit_callbacks):
        small_dataset()
        self.run(django_capture_on_commit_callbacks)
        before = state()

        self.run(django_capture_on_commit_callbacks)

        assert state() == before

    def test_a_subscription_expired_by_the_night_sweep_is_still_billed_for_its_last_period(
        self, django_capture_on_commit_callbacks
    ):
        """The 00:05 expiry sweep runs before the 02:00 run: the last period must be billed all the same."""
        subscription = october_subscription(language="en")
        Subscription.objects.filter(pk=subscription.pk).update(cancel_at_period_end=True)
        assert subscriptions_expire_task.apply().get() == 1

        self.run(django_capture_on_commit_callbacks)

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.EXPIRED
        invoice = Invoice.objects.get(subscription=subscription)
        assert (invoice.period_start, invoice.period_end, invoice.total) == (
            datetime.date(2026, 10, 1), NOVEMBER_1, Decimal("22.80")
        )


@pytest.mark.django_db
class TestChunkLostHalfWay:
    NOW = datetime.datetime(2026, 11, 1, 1, 0, tzinfo=datetime.UTC)

    def test_a_chunk_rolled_back_leaves_no_invoice_and_burns_no_number(self):
        ids = [subscription.pk for subscription in small_dataset()]

        class WorkerLost(Exception):
            pass

        with pytest.raises(WorkerLost), transaction.atomic():
            summary = invoice_run_chunk(subscription_ids=ids, period_end=NOVEMBER_1, now=self.NOW)
            assert summary.created == 4
            raise WorkerLost  # the transaction dies with the worker, before its commit

        assert Invoice.objects.count() == 0
        assert not NumberSequence.objects.filter(last_number__gt=0).exists()
        assert set(Subscription.objects.values_list("current_period_end", flat=True)) == {NOVEMBER_1}

        result = invoice_run_chunk_task.apply(
            kwargs={"subscription_ids": ids, "period_end": "2026-11-01", "now": self.NOW.isoformat()}
        )

        assert result.get()["created"] == 4
        assert invoice_numbers() == [f"TMCP-2026-{n:06d}" for n in range(1, 5)]

    def test_a_chunk_redelivered_after_its_commit_bills_nothing_more(self):
        ids = [subscription.pk for subscription in small_dataset()]
        kwargs = {"subscription_ids": ids, "period_end": "2026-11-01", "now": self.NOW.isoformat()}

        first = invoice_run_chunk_task.apply(kwargs=kwargs).get()
        again = invoice_run_chunk_task.apply(kwargs=kwargs).get()

        assert (first["created"], again["created"], again["existing"]) == (4, 0, 4)
        assert invoice_numbers() == [f"TMCP-2026-{n:06d}" for n in range(1, 5)]
        assert NumberSequence.objects.get().last_number == 4


@pytest.mark.django_db
class TestDocumentAndEmailTasks:
    ISSUED_AT = datetime.datetime(2026, 11, 1, 1, tzinfo=datetime.UTC)

    def issued(self) -> Invoice:
        subscription = october_subscription(language="fr")
        return invoice_finalize(invoice=InvoiceFactory(subscription=subscription), now=self.ISSUED_AT)

    def test_the_documents_task_run_twice_renders_and_sends_once(self, django_capture_on_commit_callbacks,
                                                                 time_machine):
        time_machine.move_to(self.ISSUED_AT, tick=False)  # documents are filed under the year they are stored in
        invoice = self.issued()

        names = []
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                invoices_documents_issue_task.apply(kwargs={"invoice_ids": [invoice.pk]})
            invoice.refresh_from_db()
            names.append(invoice.pdf.name)

        assert names == [f"invoices/2026/{invoice.number}.pdf"] * 2
        assert default_storage.listdir("invoices/2026")[1] == [f"{invoice.number}.pdf"]
        [message] = mail.outbox
        assert message.subject == f"Votre facture TwinMCP {invoice.number}"
        assert message.attachments[0][0] == f"{invoice.number}.pdf"
        assert EmailNotification.objects.get().status == EmailStatus.SENT

    def test_the_email_task_run_twice_sends_once(self):
        user = customer()
        notification = email_queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:1", user=user,
                                   context={"plan_name": "Pro", "end_date": NOVEMBER_1})

        email_deliver_task.apply(kwargs={"notification_id": notification.pk})
        email_deliver_task.apply(kwargs={"notification_id": notification.pk})

        [message] = mail.outbox
        assert (message.subject, message.to) == ("Your TwinMCP Pro subscription ends on 31 October 2026",
                                                 [user.email])
        notification.refresh_from_db()
        assert (notification.status, notification.attempts) == (EmailStatus.SENT, 1)


@pytest.mark.django_db
class TestSweepTasks:
    """Each task calls its service with the clock's time: the rows are placed around today."""

    @pytest.fixture
    def today(self) -> datetime.date:
        return clock.today()

    def live_subscription(self, today: datetime.date, **fields) -> Subscription:
        start = today.replace(day=1)
        plan = PlanFactory(code="pro", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000)
        return SubscriptionFactory(
            user=customer(), plan=plan, current_period_start=start, current_period_end=add_months(start, 1),
            **fields,
        )

    def issued_invoice(self, *, days_ago: int) -> Invoice:
        """Issued `days_ago` days ago, so due 30 days after that."""
        issued_at = clock.now() - datetime.timedelta(days=days_ago)
        invoice = InvoiceFactory(subscription=october_subscription())
        return invoice_finalize(invoice=invoice, now=issued_at)

    def test_overdue_task_marks_invoices_past_due_with_an_alert(self):
        late = self.issued_invoice(days_ago=40)
        on_time = self.issued_invoice(days_ago=5)

        assert invoices_overdue_task.apply().get() == 1
        assert invoices_overdue_task.apply().get() == 0

        late.refresh_from_db()
        on_time.refresh_from_db()
        assert (late.status, on_time.status) == (InvoiceStatus.OVERDUE, InvoiceStatus.SENT)
        assert BillingAlert.objects.get(type=AlertType.INVOICE_OVERDUE).occasion == f"invoice:{late.number}"

    def test_reminders_task_sends_the_reminder_of_the_day_once(self, django_capture_on_commit_callbacks):
        invoice = self.issued_invoice(days_ago=38)  # due 8 days ago: the +7 reminder

        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                payment_reminders_task.apply()

        [notification] = EmailNotification.objects.filter(kind=EmailKind.PAYMENT_REMINDER)
        assert notification.key == f"reminder:{invoice.pk}:+7"
        assert len(mail.outbox) == 1

    def test_expiring_task_raises_the_alert_a_week_before(self, today):
        start = today - datetime.timedelta(days=20)
        subscription = SubscriptionFactory(
            user=customer(), current_period_start=start, current_period_end=today + datetime.timedelta(days=3),
            cancel_at_period_end=True,
        )

        subscriptions_expiring_task.apply()
        subscriptions_expiring_task.apply()

        [alert] = BillingAlert.objects.filter(type=AlertType.SUBSCRIPTION_EXPIRING)
        assert (alert.user, alert.occasion) == (subscription.user, f"expires:{subscription.current_period_end}")

    def test_expire_task_ends_subscriptions_cancelled_at_period_end(self, today):
        ended = SubscriptionFactory(
            user=customer(), current_period_start=add_months(today, -1), current_period_end=today,
            cancel_at_period_end=True,
        )
        running = self.live_subscription(today, cancel_at_period_end=True)

        assert subscriptions_expire_task.apply().get() == 1

        ended.refresh_from_db()
        running.refresh_from_db()
        assert (ended.status, running.status) == (SubscriptionStatus.EXPIRED, SubscriptionStatus.ACTIVE)

    def test_usage_then_alert_email_tasks_email_the_threshold_once(self, today, django_capture_on_commit_callbacks):
        subscription = self.live_subscription(today)
        used_at = max(start_of_day(subscription.current_period_start), clock.now() - datetime.timedelta(minutes=1))
        UsageLogFactory(user=subscription.user, tokens=4_500_000, created_at=used_at)

        usage_thresholds_task.apply()
        with django_capture_on_commit_callbacks(execute=True):
            assert alert_emails_task.apply().get() == 1
            assert alert_emails_task.apply().get() == 0

        [alert] = BillingAlert.objects.filter(type=AlertType.USAGE_THRESHOLD)
        assert alert.occasion.endswith(":80") and alert.emailed_at is not None
        [message] = mail.outbox
        assert message.subject == "You have used 80% of your TwinMCP tokens"

    def test_documents_catch_up_task_issues_the_documents_a_lost_task_did_not(
        self, django_capture_on_commit_callbacks
    ):
        invoice = self.issued_invoice(days_ago=1)  # its documents task was lost: the test never commits

        with django_capture_on_commit_callbacks(execute=True):
            assert documents_catch_up_task.apply().get() == 1

        invoice.refresh_from_db()
        assert invoice.pdf and invoice.pdf_sha256
        assert len(mail.outbox) == 1
        assert documents_catch_up_task.apply().get() == 0

    def test_documents_catch_up_task_issues_a_credit_note_whose_task_was_lost(
        self, django_capture_on_commit_callbacks
    ):
        invoice = self.issued_invoice(days_ago=3)
        invoice_cancel(invoice=invoice, reason="Billed twice")  # its documents task was lost too
        credit_note = CreditNote.objects.get(invoice=invoice)
        assert not credit_note.pdf

        with django_capture_on_commit_callbacks(execute=True):
            documents_catch_up_task.apply()

        credit_note.refresh_from_db()
        assert credit_note.pdf and credit_note.pdf_sha256
        [message] = mail.outbox
        assert message.attachments[0][0] == f"{credit_note.number}.pdf"
        with django_capture_on_commit_callbacks(execute=True):
            assert documents_catch_up_task.apply().get() == 0
        assert len(mail.outbox) == 1

    def test_unsent_emails_task_redelivers_a_lost_email(self):
        notification = email_queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:lost", user=customer(),
                                   context={"plan_name": "Pro", "end_date": NOVEMBER_1})
        EmailNotification.objects.filter(pk=notification.pk).update(
            created_at=clock.now() - datetime.timedelta(hours=1)
        )

        assert unsent_emails_task.apply().get() == 1

        notification.refresh_from_db()
        assert notification.status == EmailStatus.SENT
        assert len(mail.outbox) == 1
        assert unsent_emails_task.apply().get() == 0
