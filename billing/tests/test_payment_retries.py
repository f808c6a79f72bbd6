"""A failed card charge tried again on the PAYMENT_RETRY_DAYS (1, 3, 5, 7 days after issue), each once, against
a real localstripe (billing/tests/localstripe.py).

4000 0000 0000 0341 saves and is then declined when charged (localstripe refuses 4000 0000 0000 0002 when it is
saved already): the card that stops paying. The invoices are issued on 1 December 2026 (Paris).
"""
import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.notifications.tasks import payment_reminders_task
from billing.payments.tasks import payment_retries_task
from billing.services import invoice_finalize, invoice_pay_now
from billing.tests.admin_world import finance_user
from billing.tests.factories import InvoiceFactory, SubscriptionFactory
from billing.tests.test_stripe_charging import DECLINED_WHEN_CHARGED, card_saved, intents_of

ISSUED = datetime.datetime(2026, 12, 1, 7, 0, tzinfo=datetime.UTC)


def at_six_paris(day: int) -> datetime.datetime:
    """06:00 in Paris (05:00 UTC in December) on `day` December 2026: when the beat runs the sweep."""
    return datetime.datetime(2026, 12, day, 5, 0, tzinfo=datetime.UTC)


@pytest.fixture
def declined_invoice(customer, stripe_settings, time_machine, django_capture_on_commit_callbacks) -> Invoice:
    """Issued on 1 December with a card that is declined: the first attempt failed."""
    time_machine.move_to(ISSUED, tick=False)
    card_saved(customer, stripe_settings, number=DECLINED_WHEN_CHARGED)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_finalize(invoice=InvoiceFactory(subscription=SubscriptionFactory(user=customer)), now=ISSUED)
    [payment] = Payment.objects.filter(invoice=invoice)
    assert payment.status == PaymentStatus.FAILED
    return invoice


def sweep(capture) -> int:
    """The daily task as the beat runs it; the charges it queues run after its commit (eager Celery)."""
    with capture(execute=True):
        return payment_retries_task.apply().get()


def attempts(invoice: Invoice) -> list[tuple[int, str]]:
    payments = Payment.objects.filter(invoice=invoice).order_by("pk")
    return [(int(p.idempotency_key.rsplit(":", 1)[1]), p.status) for p in payments]


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
class TestPaymentRetries:
    def test_retried_once_on_each_retry_day_until_the_replaced_card_pays(
        self, customer, stripe_settings, declined_invoice, time_machine, django_capture_on_commit_callbacks
    ):
        assert sweep(django_capture_on_commit_callbacks) == 0  # the day of issue: the first retry is tomorrow

        time_machine.move_to(at_six_paris(2), tick=False)  # day 1
        assert sweep(django_capture_on_commit_callbacks) == 1
        assert sweep(django_capture_on_commit_callbacks) == 0  # the beat (or a redelivery) again the same day
        assert attempts(declined_invoice) == [(1, PaymentStatus.FAILED), (2, PaymentStatus.FAILED)]

        card = card_saved(customer, stripe_settings)  # the customer replaces the card
        time_machine.move_to(at_six_paris(3), tick=False)  # day 2: no retry day
        assert sweep(django_capture_on_commit_callbacks) == 0

        time_machine.move_to(at_six_paris(4), tick=False)  # day 3
        assert sweep(django_capture_on_commit_callbacks) == 1

        declined_invoice.refresh_from_db()
        assert (declined_invoice.status, declined_invoice.amount_due) == (InvoiceStatus.PAID, Decimal("0.00"))
        assert attempts(declined_invoice) == [
            (1, PaymentStatus.FAILED), (2, PaymentStatus.FAILED), (3, PaymentStatus.COMPLETED),
        ]
        [paid] = [intent for intent in intents_of(stripe_settings, card) if intent.status == "succeeded"]
        assert paid.metadata["attempt"] == "3"
        time_machine.move_to(at_six_paris(6), tick=False)  # day 5: paid, nothing more to try
        assert sweep(django_capture_on_commit_callbacks) == 0

    def test_a_missed_retry_day_is_caught_up_once_the_day_after(
        self, declined_invoice, time_machine, django_capture_on_commit_callbacks
    ):
        time_machine.move_to(at_six_paris(5), tick=False)  # day 4: the beat did not run on days 1 to 3

        assert sweep(django_capture_on_commit_callbacks) == 1
        assert sweep(django_capture_on_commit_callbacks) == 0

        assert attempts(declined_invoice) == [(1, PaymentStatus.FAILED), (2, PaymentStatus.FAILED)]

    def test_a_pay_now_on_a_retry_day_stands_for_that_days_retry(
        self, customer, declined_invoice, time_machine, django_capture_on_commit_callbacks
    ):
        time_machine.move_to(at_six_paris(2) - datetime.timedelta(hours=1), tick=False)  # day 1, before the sweep
        invoice_pay_now(invoice=declined_invoice, user=customer)  # refused again: attempt 2
        time_machine.move_to(at_six_paris(2), tick=False)

        assert sweep(django_capture_on_commit_callbacks) == 0

        time_machine.move_to(at_six_paris(4), tick=False)  # day 3
        assert sweep(django_capture_on_commit_callbacks) == 1
        assert attempts(declined_invoice) == [(n, PaymentStatus.FAILED) for n in range(1, 4)]

    def test_past_the_last_retry_day_nothing_is_attempted(
        self, declined_invoice, time_machine, django_capture_on_commit_callbacks
    ):
        time_machine.move_to(at_six_paris(9), tick=False)  # day 8: the last retry day was day 7

        assert sweep(django_capture_on_commit_callbacks) == 0

        assert attempts(declined_invoice) == [(1, PaymentStatus.FAILED)]

    def test_every_retry_day_then_no_more(self, declined_invoice, time_machine, django_capture_on_commit_callbacks):
        for day in range(2, 12):
            time_machine.move_to(at_six_paris(day), tick=False)
            sweep(django_capture_on_commit_callbacks)

        # Days 1, 3, 5 and 7 after issue: 2, 4, 6 and 8 December.
        assert attempts(declined_invoice) == [(n, PaymentStatus.FAILED) for n in range(1, 6)]
        dates = [p.created_at.date() for p in Payment.objects.filter(invoice=declined_invoice).order_by("pk")]
        assert [d.day for d in dates] == [1, 2, 4, 6, 8]

    def test_with_the_manual_provider_nothing_is_charged(
        self, declined_invoice, settings, time_machine, django_capture_on_commit_callbacks
    ):
        settings.PAYMENT_PROVIDER = "manual"
        time_machine.move_to(at_six_paris(2), tick=False)

        assert sweep(django_capture_on_commit_callbacks) == 0

        assert attempts(declined_invoice) == [(1, PaymentStatus.FAILED)]


def failed_emails() -> list:
    return [message for message in mail.outbox if message.subject.startswith("Payment failed for invoice")]


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
class TestDunningEmailsSayWhatHappened:
    def test_the_failed_payment_email_names_the_next_attempt_and_links_to_pay_now(self, declined_invoice, settings):
        [message] = failed_emails()

        assert "Reason: Your card was declined." in message.body
        assert "We will try again on 2 December 2026." in message.body
        assert f"Pay now\n{settings.SITE_URL}/billing/invoices/{declined_invoice.pk}/" in message.body
        html = message.alternatives[0][0]
        assert "We will try again on 2 December 2026." in html and ">Pay now</a>" in html
        assert "or by bank transfer" not in message.body

    def test_a_french_customer_reads_it_in_french(
        self, customer, stripe_settings, time_machine, django_capture_on_commit_callbacks
    ):
        customer.profile.language = "fr"
        customer.profile.save(update_fields=["language"])
        time_machine.move_to(ISSUED, tick=False)
        card_saved(customer, stripe_settings, number=DECLINED_WHEN_CHARGED)
        with django_capture_on_commit_callbacks(execute=True):
            invoice_finalize(invoice=InvoiceFactory(subscription=SubscriptionFactory(user=customer)), now=ISSUED)

        [message] = [message for message in mail.outbox if message.subject.startswith("Échec du paiement")]

        assert "Nous réessaierons le 2 décembre 2026." in message.body
        assert "Payer maintenant" in message.body

    def test_after_the_last_attempt_the_email_says_no_more_automatic_attempts(
        self, declined_invoice, time_machine, django_capture_on_commit_callbacks
    ):
        for day in (2, 4, 6, 8):
            time_machine.move_to(at_six_paris(day), tick=False)
            sweep(django_capture_on_commit_callbacks)

        texts = [message.body for message in failed_emails()]
        assert len(texts) == 5
        assert ["We will try again on 4 December 2026." in text for text in texts] == [0, 1, 0, 0, 0]
        assert "We will try again on 8 December 2026." in texts[3]
        assert "We will not try to charge your card again automatically." in texts[4]
        assert "We will try again" not in texts[4]

    def test_a_reminder_for_an_invoice_whose_card_was_refused_says_so(
        self, declined_invoice, time_machine, django_capture_on_commit_callbacks
    ):
        time_machine.move_to(datetime.datetime(2026, 12, 28, 8, 15, tzinfo=datetime.UTC), tick=False)  # due -3

        with django_capture_on_commit_callbacks(execute=True):
            assert payment_reminders_task.apply().get() == 1

        [reminder] = [message for message in mail.outbox if message.subject.startswith("Reminder:")]
        assert declined_invoice.number in reminder.subject
        assert "Your card was refused when we tried to charge it" in reminder.body
        assert "Your card was refused" in reminder.alternatives[0][0]

    def test_a_reminder_without_a_card_attempt_says_nothing_of_a_card(
        self, customer, time_machine, django_capture_on_commit_callbacks
    ):
        time_machine.move_to(ISSUED, tick=False)
        with django_capture_on_commit_callbacks(execute=True):
            invoice = invoice_finalize(
                invoice=InvoiceFactory(subscription=SubscriptionFactory(user=customer)), now=ISSUED
            )
        mail.outbox.clear()
        time_machine.move_to(datetime.datetime(2026, 12, 28, 8, 15, tzinfo=datetime.UTC), tick=False)

        with django_capture_on_commit_callbacks(execute=True):
            assert payment_reminders_task.apply().get() == 1

        [reminder] = mail.outbox
        assert invoice.number in reminder.subject
        assert "card" not in reminder.body


@pytest.mark.django_db
@pytest.mark.usefixtures("media")
class TestAttemptsInTheAdmin:
    def test_finance_sees_each_attempt_of_an_invoice_with_its_outcome(
        self, client, customer, stripe_settings, declined_invoice, time_machine, django_capture_on_commit_callbacks
    ):
        time_machine.move_to(at_six_paris(2), tick=False)
        sweep(django_capture_on_commit_callbacks)
        client.force_login(finance_user())

        page = client.get(reverse("admin:billing_invoice_change", args=[declined_invoice.pk])).content.decode()
        payments = page.split('id="payments-group"', 1)[1].split("</fieldset>", 1)[0]  # the Payments inline

        for attempt in (1, 2):
            assert f"stripe:invoice:{declined_invoice.pk}:attempt:{attempt}" in payments
        assert payments.count("Your card was declined.") == 2
        assert payments.count("Failed") == 2
