"""Emails the schedule sends: reminders on the dunning calendar, alert emails, retries of unsent emails.

The invoice is Pro for October 2026, 22.80 EUR, finalised at 02:00 Paris on 1 November and due on
1 December 2026: reminders go out on 28 November (-3), then 2 (+1), 8 (+7) and 16 December (+15).
"""
import datetime
import smtplib
from decimal import Decimal

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from accounts.tests.factories import UserProfileFactory, make_customer
from billing.models import (
    AlertType,
    BillingAlert,
    EmailKind,
    EmailNotification,
    EmailStatus,
    Invoice,
    InvoiceStatus,
    PaymentStatus,
)
from billing.notifications.scheduled import alert_emails_send, payment_reminders_send, unsent_emails_retry
from billing.payments.provider_events import payment_webhook_process
from billing.services import (
    alert_raise,
    email_queue,
    expiring_subscription_alerts_raise,
    invoice_finalize,
    invoices_mark_overdue_due,
    payment_fail,
    payment_record,
    subscription_cancel,
    subscription_change_plan,
    usage_threshold_alerts_raise,
)
from billing.tests.factories import PARIS, InvoiceFactory, PlanFactory, SubscriptionFactory, paris
from libraries.tests.factories import UsageLogFactory

NUMBER = "TMCP-2026-000001"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"

# The documents of an invoice are written under a folder of the test's own.
pytestmark = pytest.mark.usefixtures("media")


class DisconnectedBackend(LocmemBackend):
    """A mail server that hangs up on every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a service as a committed transaction: the emails it queues are delivered (eager Celery)."""

    def run(service, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return run


def october_customer(*, language: str = "en"):
    return make_customer(language=language, billing_email="accounts@acme.example")


def issued_invoice() -> Invoice:
    """Finalised at 02:00 on 1 November (its documents never follow: the test transaction never commits)."""
    subscription = SubscriptionFactory(user=october_customer())
    invoice = invoice_finalize(invoice=InvoiceFactory(subscription=subscription), now=paris(2026, 11, 1, 2))
    assert (invoice.number, invoice.due_date, invoice.amount_due) == (
        NUMBER, datetime.date(2026, 12, 1), Decimal("22.80")
    )
    return invoice


def reminder_offsets() -> list[int]:
    notifications = EmailNotification.objects.filter(kind=EmailKind.PAYMENT_REMINDER).order_by("pk")
    return [notification.context["days_from_due"] for notification in notifications]


@pytest.mark.django_db
class TestPaymentReminders:
    def daily_run(self, committed, day: datetime.date, *, times: int = 3) -> None:
        """The daily sweeps of `day`, run `times` times (a retried or restarted scheduler)."""
        for hour in range(9, 9 + times):
            now = datetime.datetime.combine(day, datetime.time(hour), tzinfo=PARIS)
            committed(invoices_mark_overdue_due, now=now)
            committed(payment_reminders_send, now=now)

    def test_each_reminder_goes_out_once_on_its_day(self, committed):
        issued_invoice()
        # The reminders sent by the end of each day, the scheduler running three times a day.
        expected = {
            datetime.date(2026, 11, 27): [],
            datetime.date(2026, 11, 28): [-3],
            datetime.date(2026, 11, 29): [-3],
            datetime.date(2026, 12, 1): [-3],
            datetime.date(2026, 12, 2): [-3, 1],
            datetime.date(2026, 12, 7): [-3, 1],
            datetime.date(2026, 12, 8): [-3, 1, 7],
            datetime.date(2026, 12, 15): [-3, 1, 7],
            datetime.date(2026, 12, 16): [-3, 1, 7, 15],
            datetime.date(2026, 12, 20): [-3, 1, 7, 15],
        }
        day, sent = datetime.date(2026, 11, 27), {}

        while day <= max(expected):
            self.daily_run(committed, day)
            if day in expected:
                sent[day] = reminder_offsets()
            day += datetime.timedelta(days=1)

        assert sent == expected
        assert len(mail.outbox) == 4

    def test_the_emails_say_before_and_after_the_due_date(self, committed):
        issued_invoice()

        for day in (datetime.date(2026, 11, 28), datetime.date(2026, 12, 2)):
            self.daily_run(committed, day, times=1)

        assert [message.subject for message in mail.outbox] == [
            f"Reminder: invoice {NUMBER} is due on 1 December 2026",
            f"Overdue: invoice {NUMBER} was due on 1 December 2026",
        ]
        assert all(message.to == ["accounts@acme.example"] for message in mail.outbox)
        assert Invoice.objects.get().status == InvoiceStatus.OVERDUE

    def test_a_scheduler_that_skipped_days_sends_only_the_latest_reminder(self, committed):
        issued_invoice()

        self.daily_run(committed, datetime.date(2026, 12, 10))

        assert reminder_offsets() == [7]
        [message] = mail.outbox
        assert message.subject == f"Second reminder: invoice {NUMBER} is overdue and late fees apply"

    def test_a_paid_invoice_gets_no_reminder(self, committed):
        invoice = issued_invoice()
        committed(payment_record, invoice=invoice, amount=Decimal("22.80"), idempotency_key="wire-1",
                  now=paris(2026, 11, 20, 10))

        for day in (datetime.date(2026, 11, 28), datetime.date(2026, 12, 2), datetime.date(2026, 12, 16)):
            self.daily_run(committed, day)

        assert reminder_offsets() == []
        assert [message.subject for message in mail.outbox] == [f"Payment received for invoice {NUMBER}"]


@pytest.mark.django_db
class TestAlertEmails:
    def test_a_usage_threshold_is_emailed_once_with_its_figures(self, committed):
        user = october_customer()
        SubscriptionFactory(user=user)
        UsageLogFactory(user=user, tokens=4_000_000, created_at=paris(2026, 10, 10))
        usage_threshold_alerts_raise(now=paris(2026, 10, 11, 9, 10))

        assert committed(alert_emails_send, now=paris(2026, 10, 11, 9, 20)) == 1
        assert committed(alert_emails_send, now=paris(2026, 10, 11, 10, 20)) == 0

        [message] = mail.outbox
        assert message.subject == "You have used 80% of your TwinMCP tokens"
        assert "4,000,000" in message.body and "5,000,000" in message.body
        notification = EmailNotification.objects.get(kind=EmailKind.USAGE_THRESHOLD)
        assert {key: notification.context[key] for key in ("percent", "tokens_used", "included_tokens")} == {
            "percent": 80, "tokens_used": 4_000_000, "included_tokens": 5_000_000,
        }
        alert = BillingAlert.objects.get(user=user, type=AlertType.USAGE_THRESHOLD)
        assert alert.emailed_at == paris(2026, 10, 11, 9, 20)

    def test_after_an_upgrade_the_email_gives_the_new_plans_share_and_the_tokens_since(self, committed):
        user = october_customer()
        subscription = SubscriptionFactory(user=user)
        UsageLogFactory(user=user, tokens=4_500_000, created_at=paris(2026, 10, 10))
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000)
        subscription_change_plan(subscription=subscription, plan=team, now=paris(2026, 10, 16, 9))
        # Team's 16 days of 31: 25,806,451 tokens; 80 % of them used since the change.
        UsageLogFactory(user=user, tokens=20_645_161, created_at=paris(2026, 10, 18))
        usage_threshold_alerts_raise(now=paris(2026, 10, 20, 9))

        assert committed(alert_emails_send, now=paris(2026, 10, 20, 9, 10)) == 1

        notification = EmailNotification.objects.get(kind=EmailKind.USAGE_THRESHOLD)
        assert {key: notification.context[key] for key in ("percent", "tokens_used", "included_tokens")} == {
            "percent": 80, "tokens_used": 20_645_161, "included_tokens": 25_806_451,
        }

    def test_both_thresholds_are_emailed_in_french(self, committed):
        user = october_customer(language="fr")
        SubscriptionFactory(user=user)
        UsageLogFactory(user=user, tokens=5_000_000, created_at=paris(2026, 10, 10))
        usage_threshold_alerts_raise(now=paris(2026, 10, 11))

        committed(alert_emails_send, now=paris(2026, 10, 11, 0, 20))

        assert sorted(message.subject for message in mail.outbox) == [
            "Vous avez utilisé 100 % de vos jetons TwinMCP",
            "Vous avez utilisé 80 % de vos jetons TwinMCP",
        ]
        full = next(message for message in mail.outbox if "100 %" in message.subject)
        # The plan's overage price, read when the alert is emailed (Pro: 2.00 per million).
        assert "Les jetons supplémentaires sont facturés 2,00 EUR par million" in full.body

    def test_the_full_quota_email_of_a_hard_cap_plan_says_calls_are_refused_until_the_next_period(self, committed):
        user = october_customer()
        SubscriptionFactory(user=user, plan__overage_price_per_million=Decimal("0"))
        UsageLogFactory(user=user, tokens=5_000_000, created_at=paris(2026, 10, 10))
        usage_threshold_alerts_raise(now=paris(2026, 10, 11))

        committed(alert_emails_send, now=paris(2026, 10, 11, 0, 20))

        full = next(message for message in mail.outbox if "100%" in message.subject)
        assert "further calls are refused until 1 November 2026" in full.body
        assert "billed at" not in full.body

    def test_a_subscription_expiring_is_emailed_once(self, committed):
        user = october_customer()
        subscription = SubscriptionFactory(user=user)
        subscription_cancel(subscription=subscription, at_period_end=True, now=paris(2026, 10, 3))
        expiring_subscription_alerts_raise(now=paris(2026, 10, 26, 6, 30))

        committed(alert_emails_send, now=paris(2026, 10, 26, 7, 20))
        committed(alert_emails_send, now=paris(2026, 10, 26, 8, 20))

        [message] = mail.outbox
        # The period ends on 1 November, excluded: 31 October is its last day.
        assert message.subject == "Your TwinMCP Pro subscription ends on 31 October 2026"
        assert BillingAlert.objects.get(type=AlertType.SUBSCRIPTION_EXPIRING).emailed_at is not None

    def test_an_alert_whose_subscription_ended_is_marked_without_an_email(self, committed):
        user = october_customer()
        BillingAlert.objects.create(user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-09:80", message="...")

        assert committed(alert_emails_send, now=paris(2026, 10, 11)) == 1

        assert mail.outbox == []
        assert BillingAlert.objects.get().emailed_at == paris(2026, 10, 11)

    def test_other_alerts_are_not_emailed_by_the_sweep(self, committed):
        user = october_customer()
        BillingAlert.objects.create(user=user, type=AlertType.INVOICE_OVERDUE, occasion="invoice:X", message="...")

        assert committed(alert_emails_send, now=paris(2026, 10, 11)) == 0
        assert mail.outbox == []


def spend_cap_alert(user) -> BillingAlert:
    """The alert the docs API raises once October's overage reaches the customer's cap (billing.metering.throttles)."""
    return alert_raise(
        user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:spend-cap",
        message="Your overage this period reached your monthly spend cap of 50.00 EUR.", now=paris(2026, 10, 20, 15),
    )[0]


@pytest.fixture
def broken_usage_email(settings, tmp_path):
    """The usage-threshold email's plain text no longer renders (a template in error, found before the real one)."""
    (tmp_path / "emails").mkdir()
    (tmp_path / "emails" / "usage_threshold.txt").write_text("{% if %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]


@pytest.mark.django_db
class TestEachAlertEmailOnItsOwn:
    """A spend-cap alert waiting beside two other customers' usage and expiry alerts."""

    def three_alerts(self) -> None:
        capped = UserProfileFactory(
            country="FR", language="en", billing_email="capped@acme.example", monthly_spend_cap=Decimal("50.00")
        ).user
        SubscriptionFactory(user=capped)
        spend_cap_alert(capped)
        heavy = october_customer()
        SubscriptionFactory(user=heavy)
        UsageLogFactory(user=heavy, tokens=4_000_000, created_at=paris(2026, 10, 10))
        usage_threshold_alerts_raise(now=paris(2026, 10, 20, 15, 10))
        leaving = UserProfileFactory(country="FR", language="en", billing_email="leaving@acme.example").user
        subscription_cancel(subscription=SubscriptionFactory(user=leaving), at_period_end=True,
                            now=paris(2026, 10, 3))
        expiring_subscription_alerts_raise(now=paris(2026, 10, 26, 6, 30))

    def test_the_spend_cap_alert_gets_its_own_email_and_the_others_go_out(self, committed):
        self.three_alerts()

        assert committed(alert_emails_send, now=paris(2026, 10, 26, 7, 20)) == 3

        emails = {message.to[0]: message for message in mail.outbox}
        assert set(emails) == {"capped@acme.example", "accounts@acme.example", "leaving@acme.example"}
        capped = emails["capped@acme.example"]
        assert capped.subject == "You have reached your TwinMCP spend cap of 50.00 EUR"
        assert "Your overage for October 2026 has reached your monthly spend cap of 50.00 EUR" in capped.body
        assert "refused until 1 November 2026" in capped.body
        assert "raise or remove the monthly overage cap on your account page" in capped.body
        assert emails["accounts@acme.example"].subject == "You have used 80% of your TwinMCP tokens"
        assert emails["leaving@acme.example"].subject == "Your TwinMCP Pro subscription ends on 31 October 2026"
        assert not BillingAlert.objects.filter(emailed_at__isnull=True).exists()
        assert EmailNotification.objects.get(kind=EmailKind.SPEND_CAP_REACHED).language == "en"

    def test_the_spend_cap_email_is_in_french_for_a_french_customer(self, committed):
        user = UserProfileFactory(language="fr", billing_email="plafond@acme.example",
                                  monthly_spend_cap=Decimal("120.00")).user
        SubscriptionFactory(user=user)
        spend_cap_alert(user)

        committed(alert_emails_send, now=paris(2026, 10, 20, 15, 20))

        [message] = mail.outbox
        assert message.subject == "Vous avez atteint votre plafond de dépenses TwinMCP de 120,00 EUR"
        assert "sont refusés jusqu'au 1er novembre 2026" in message.body

    def test_a_spend_cap_removed_before_the_sweep_is_marked_without_an_email(self, committed):
        user = UserProfileFactory(monthly_spend_cap=None).user
        SubscriptionFactory(user=user)
        spend_cap_alert(user)

        assert committed(alert_emails_send, now=paris(2026, 10, 20, 15, 20)) == 1

        assert mail.outbox == []
        assert BillingAlert.objects.get().emailed_at == paris(2026, 10, 20, 15, 20)

    def test_an_alert_whose_email_fails_to_render_does_not_stop_the_others(self, committed, broken_usage_email):
        self.three_alerts()

        committed(alert_emails_send, now=paris(2026, 10, 26, 7, 20))

        assert sorted(message.to[0] for message in mail.outbox) == ["capped@acme.example", "leaving@acme.example"]
        broken = EmailNotification.objects.get(kind=EmailKind.USAGE_THRESHOLD)
        assert (broken.status, broken.attempts) == (EmailStatus.FAILED, 1)
        assert broken.last_error.startswith("TemplateSyntaxError")
        assert broken.sent_at is None

    def test_an_alert_whose_email_cannot_be_made_is_recorded_and_tried_again_next_time(self, committed):
        self.three_alerts()
        # An occasion this sweep does not know how to tell.
        odd = BillingAlert.objects.create(
            user=october_customer(), type=AlertType.USAGE_THRESHOLD, occasion="2026-10:ninety", message="..."
        )
        SubscriptionFactory(user=odd.user)

        assert committed(alert_emails_send, now=paris(2026, 10, 26, 7, 20)) == 3

        assert len(mail.outbox) == 3
        odd.refresh_from_db()
        assert odd.emailed_at is None
        assert odd.email_error.startswith("ValueError: invalid literal for int()")
        assert not EmailNotification.objects.filter(key=f"alert:{odd.pk}").exists()
        assert committed(alert_emails_send, now=paris(2026, 10, 26, 7, 40)) == 0
        assert len(mail.outbox) == 3


@pytest.mark.django_db
class TestUnsentEmailsRetry:
    def expiring_email(self, committed, key: str) -> EmailNotification:
        return committed(
            email_queue, kind=EmailKind.SUBSCRIPTION_EXPIRING, key=key, user=october_customer(),
            context={"plan_name": "Pro", "end_date": datetime.date(2026, 11, 1)},
        )

    def test_a_failed_email_is_delivered_once_the_server_works_and_a_sent_one_is_left(self, committed, settings):
        sent = self.expiring_email(committed, "expiring:sent")
        settings.EMAIL_BACKEND = "billing.tests.test_notifications.DisconnectedBackend"
        failed = self.expiring_email(committed, "expiring:failed")
        failed.refresh_from_db()
        assert (failed.status, failed.attempts) == (EmailStatus.FAILED, 1)
        assert len(mail.outbox) == 1

        settings.EMAIL_BACKEND = LOCMEM
        retried = unsent_emails_retry()
        again = unsent_emails_retry()

        failed.refresh_from_db()
        sent.refresh_from_db()
        assert (retried, again) == (1, 0)
        assert (failed.status, failed.attempts) == (EmailStatus.SENT, 2)
        assert (sent.status, sent.attempts) == (EmailStatus.SENT, 1)
        assert len(mail.outbox) == 2

    def test_a_pending_email_is_delivered_only_once_it_has_waited_long_enough(self, settings):
        user = october_customer()
        # Queued in the test transaction, which never commits: its delivery never ran, like a lost task.
        pending = email_queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:lost", user=user,
                              context={"plan_name": "Pro", "end_date": datetime.date(2026, 11, 1)})

        assert unsent_emails_retry(now=pending.created_at + datetime.timedelta(minutes=5)) == 0
        assert unsent_emails_retry(now=pending.created_at + datetime.timedelta(minutes=20)) == 1

        pending.refresh_from_db()
        assert pending.status == EmailStatus.SENT
        assert len(mail.outbox) == 1

    def test_an_email_that_failed_eight_times_waits_for_a_person(self, settings):
        settings.EMAIL_BACKEND = "billing.tests.test_notifications.DisconnectedBackend"
        user = october_customer()
        notification = email_queue(kind=EmailKind.SUBSCRIPTION_EXPIRING, key="expiring:hopeless", user=user,
                                   context={"plan_name": "Pro", "end_date": datetime.date(2026, 11, 1)})
        EmailNotification.objects.filter(pk=notification.pk).update(status=EmailStatus.FAILED, attempts=8)

        assert unsent_emails_retry() == 0


@pytest.mark.django_db
class TestPaymentEmails:
    def test_a_payment_received_is_emailed_with_what_remains(self, committed):
        invoice = issued_invoice()

        committed(payment_record, invoice=invoice, amount=Decimal("10.00"), idempotency_key="wire-1",
                  now=paris(2026, 11, 20, 10))
        committed(payment_record, invoice=invoice, amount=Decimal("10.00"), idempotency_key="wire-1",
                  now=paris(2026, 11, 20, 11))

        [message] = mail.outbox
        assert message.subject == f"Payment received for invoice {NUMBER}"
        assert "10.00 EUR" in message.body and "12.80 EUR" in message.body

    def test_a_failed_payment_is_emailed_with_its_reason(self, committed):
        invoice = issued_invoice()
        payment = payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="card-1",
                                 status=PaymentStatus.PENDING, now=paris(2026, 11, 20, 10))

        committed(payment_fail, payment=payment, reason="Card declined", now=paris(2026, 11, 20, 10, 1))

        [message] = mail.outbox
        assert message.subject == f"Payment failed for invoice {NUMBER}"
        assert "Card declined" in message.body

    def test_a_refusal_the_provider_gives_no_reason_for_is_explained_in_french_to_a_french_customer(self, committed):
        invoice = issued_invoice()
        invoice.user.profile.language = "fr"
        invoice.user.profile.save()
        payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="card-1", provider_reference="pi_1",
                       status=PaymentStatus.PENDING, now=paris(2026, 11, 20, 10))
        event = {"id": "evt_1", "type": "payment.failed", "data": {"reference": "pi_1"}}

        committed(payment_webhook_process, event=event, now=paris(2026, 11, 20, 10, 1))

        [message] = mail.outbox
        assert message.subject == f"Échec du paiement de la facture {NUMBER}"
        assert "Motif\u00a0: refusé par le prestataire de paiement" in message.body
        assert "refused" not in message.body
        alert = BillingAlert.objects.get(type=AlertType.PAYMENT_FAILED)
        assert alert.emailed_at == paris(2026, 11, 20, 10, 1)
