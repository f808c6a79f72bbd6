"""Free trials: a plan's trial days are not billed (fee nor overage), the quota still refuses calls, a reminder
3 days before the end, then conversion, or cancellation when Stripe has no card for a paid plan; one trial per
customer and plan.

The customer of most tests subscribes to Pro (19.00 a month, 5,000,000 tokens, 2.00 per million beyond) on
20 October 2026 with 14 trial days: the trial ends on 3 November (its last day is 2 November).
"""
import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditLog
from accounts.services import api_key_create
from accounts.tests.factories import make_customer
from billing.models import (
    AlertType,
    BillingAlert,
    EmailKind,
    EmailNotification,
    Invoice,
    InvoiceStatus,
    PaymentProviderCustomer,
    Subscription,
    SubscriptionStatus,
)
from billing.notifications.scheduled import alert_emails_send
from billing.selectors import invoice_upcoming
from billing.services import (
    invoice_finalize,
    invoice_generate,
    invoice_run,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    trials_sweep,
    usage_threshold_alerts_raise,
)
from billing.tests.einvoice import document_xml, en16931_failures
from billing.tests.factories import PlanFactory, paris
from billing.tests.test_concurrency import run_in_threads
from libraries.tests.factories import UsageLogFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

NBSP = "\u00a0"
SUBSCRIBED_AT = paris(2026, 10, 20, 10)
TRIAL_END = datetime.date(2026, 11, 3)
DOCS = "/api/libraries/acme/widgets/docs/"


@pytest.fixture
def pro():
    return PlanFactory(
        code="pro", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000,
        overage_price_per_million=Decimal("2.00"), trial_days=14,
    )


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a service as a committed transaction: the emails it queues are delivered (eager Celery)."""

    def run(service, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return run


def in_trial(plan, *, language: str = "en", at: datetime.datetime = SUBSCRIBED_AT) -> Subscription:
    customer = make_customer(language=language, billing_email="accounts@acme.example")
    return subscription_create(user=customer, plan=plan, now=at)


def use(subscription: Subscription, tokens: int, *, at: datetime.datetime) -> None:
    UsageLogFactory(user=subscription.user, tokens=tokens, created_at=at)


class TestStarting:
    def test_subscribing_through_the_api_to_a_plan_with_trial_days_starts_a_trial(self, pro, time_machine):
        time_machine.move_to(SUBSCRIBED_AT, tick=False)
        client = APIClient()
        client.force_authenticate(make_customer())

        created = client.post("/api/billing/subscription/", {"plan": "pro"}, format="json")

        assert created.status_code == 201
        assert (created.json()["trial_end"], created.json()["plan"]["trial_days"]) == ("2026-11-03", 14)
        assert client.get("/api/billing/subscription/").json()["trial_end"] == "2026-11-03"
        subscription = Subscription.objects.get()
        assert (subscription.trial_end, subscription.trial_plan) == (TRIAL_END, pro)
        entry = AuditLog.objects.get(action="subscription.create", object_id=str(subscription.pk))
        assert entry.changes == {"plan": "pro", "trial_end": "2026-11-03"}

    def test_one_trial_per_customer_and_plan_the_second_subscription_is_billed_from_its_first_day(self, pro):
        first = in_trial(pro)
        subscription_cancel(subscription=first, at_period_end=False, now=paris(2026, 10, 22))

        again = subscription_create(user=first.user, plan=pro, now=paris(2026, 10, 25, 9))

        assert (again.trial_end, again.trial_plan) == (None, None)
        upcoming = invoice_upcoming(subscription=again, now=paris(2026, 10, 31, 12))
        # 7 days of 31 billed at once: 19 × 7 / 31 = 4.29, + 20 % VAT.
        assert (upcoming.subtotal, upcoming.total) == (Decimal("4.29"), Decimal("5.15"))

    def test_a_plan_without_trial_days_gives_no_trial(self):
        subscription = in_trial(PlanFactory(code="team", name="Team", price=Decimal("99.00")))

        assert subscription.trial_end is None


class TestPricing:
    """October entirely in the trial; November's first two days too, then billed from 3 November: 28 of 30 days."""

    @pytest.fixture
    def subscription(self, pro):
        subscription = in_trial(pro)
        use(subscription, 4_000_000, at=paris(2026, 10, 28, 12))  # in the trial: not billed
        use(subscription, 3_000_000, at=paris(2026, 11, 2, 23, 30))  # still the trial's last day in Paris
        use(subscription, 6_000_000, at=paris(2026, 11, 20, 12))  # after it: 1,000,000 beyond the quota
        return subscription

    def test_a_period_entirely_in_the_trial_is_not_invoiced_and_its_estimate_is_zero(self, subscription):
        upcoming = invoice_upcoming(subscription=subscription, now=paris(2026, 10, 31, 18))
        assert (upcoming.lines, upcoming.total) == ((), Decimal("0.00"))

        summary = invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))

        assert (summary.created, summary.nothing_owed) == (0, 1)
        subscription.refresh_from_db()
        assert (subscription.current_period_start, subscription.current_period_end) == (
            datetime.date(2026, 11, 1), datetime.date(2026, 12, 1),
        )

    def test_the_first_billed_period_pays_the_days_after_the_trial_and_the_usage_after_it(self, subscription):
        invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))
        upcoming = invoice_upcoming(subscription=subscription, now=paris(2026, 11, 30, 23))

        summary = invoice_run(period_end=datetime.date(2026, 12, 1), now=paris(2026, 12, 1, 2))

        invoice = Invoice.objects.get(pk__in=summary.invoice_ids)
        lines = [(line.kind, line.description, line.quantity, line.amount) for line in invoice.lines.all()]
        assert lines == [
            ("SUBSCRIPTION", "Pro plan, 28/30 days of November 2026", Decimal(1), Decimal("17.73")),
            ("USAGE", "Pro plan, 28/30 days: usage above the 5,000,000 included tokens", Decimal(1_000_000),
             Decimal("2.00")),
        ]
        # 19 × 28 / 30 = 17.73, + 2.00 of overage = 19.73; VAT 3.95; 23.68.
        assert (invoice.subtotal, invoice.tax_amount, invoice.total) == (
            Decimal("19.73"), Decimal("3.95"), Decimal("23.68"),
        )
        assert [(line.description, line.amount) for line in upcoming.lines] == [
            (line.description, line.amount) for line in invoice.lines.all()
        ]
        assert upcoming.total == invoice.total

    def test_invoice_generate_bills_the_same(self, subscription):
        invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))

        invoice = invoice_generate(subscription=subscription, period="2026-11")

        assert (invoice.subtotal, invoice.total) == (Decimal("19.73"), Decimal("23.68"))

    def test_the_invoice_after_a_trial_is_a_valid_en16931_e_invoice(self, subscription):
        invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))
        draft = invoice_generate(subscription=subscription, period="2026-11")
        invoice = invoice_finalize(invoice=draft, now=paris(2026, 12, 1, 2))

        xml = document_xml(invoice)

        assert en16931_failures(xml) == []
        assert b"19.73" in xml and b"23.68" in xml

    def test_a_plan_change_during_the_trial_keeps_its_end_and_bills_the_new_plan_from_it(self, pro):
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
                           overage_price_per_million=Decimal("1.50"))
        subscription = in_trial(pro)
        subscription_change_plan(subscription=subscription, plan=team, now=paris(2026, 10, 25, 12))
        invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))

        invoice = invoice_generate(subscription=subscription, period="2026-11")

        subscription.refresh_from_db()
        assert subscription.trial_end == TRIAL_END
        # 99 × 28 / 30 = 92.40, + 20 % VAT.
        assert [line.description for line in invoice.lines.all()] == ["Team plan, 28/30 days of November 2026"]
        assert (invoice.subtotal, invoice.total) == (Decimal("92.40"), Decimal("110.88"))

    def test_a_cancellation_during_the_trial_costs_nothing(self, pro):
        subscription = in_trial(pro)
        use(subscription, 9_000_000, at=paris(2026, 10, 24, 12))
        subscription_cancel(subscription=subscription, at_period_end=False, now=paris(2026, 10, 25, 12))

        summary = invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))

        assert (summary.created, Invoice.objects.count()) == (0, 0)


class TestQuotaDuringTheTrial:
    @pytest.fixture
    def client(self, library_version):
        plan = PlanFactory(
            code="pro", name="Pro", included_tokens=1_000, overage_price_per_million=Decimal("1000.00"), trial_days=14
        )
        subscription = in_trial(plan)
        client = APIClient()
        key = api_key_create(user=subscription.user, name="Key", scopes=["docs:read"])
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.token}")
        client.subscription = subscription
        return client

    def test_calls_beyond_the_included_tokens_are_refused_in_the_trial_even_when_the_plan_bills_overage(
        self, client, time_machine
    ):
        use(client.subscription, 1_000, at=paris(2026, 10, 24, 12))
        time_machine.move_to(paris(2026, 10, 25, 12), tick=False)

        refused = client.get(DOCS)

        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "quota_exceeded"
        assert error["message"] == (
            "You have used the 1,000 tokens included in your free trial of the Pro plan; calls resume on "
            "2026-11-01. Tokens beyond the quota are billed once the trial is over."
        )

    def test_after_the_trial_calls_beyond_the_quota_are_served_and_billed(self, client, time_machine):
        invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))  # October: nothing owed
        use(client.subscription, 5_000, at=paris(2026, 11, 2, 12))  # the trial's last day: its quota is used
        time_machine.move_to(paris(2026, 11, 2, 15), tick=False)
        assert client.get(DOCS).status_code == 429

        use(client.subscription, 1_500, at=paris(2026, 11, 3, 8))  # after it: beyond the quota
        time_machine.move_to(paris(2026, 11, 3, 9), tick=False)
        assert client.get(DOCS).status_code == 200

        upcoming = invoice_upcoming(subscription=client.subscription, now=paris(2026, 11, 3, 10))
        # 1,500 + the call's 1,200 tokens from 3 November: 1,700 beyond its quota, at 1,000.00 per million; the
        # trial's 5,000 are free.
        [usage] = [line for line in upcoming.lines if line.kind == "USAGE"]
        assert (usage.quantity, usage.amount) == (Decimal(1_700), Decimal("1.70"))


class TestReminderAndEnd:
    def test_the_reminder_comes_3_days_before_the_end_once(self, pro, committed):
        subscription = in_trial(pro)
        assert trials_sweep(now=paris(2026, 10, 30, 0, 15)) == (0, 0)  # 4 days before: not yet

        assert trials_sweep(now=paris(2026, 10, 31, 0, 15)) == (0, 1)
        assert trials_sweep(now=paris(2026, 11, 1, 0, 15)) == (0, 0)
        committed(alert_emails_send, now=paris(2026, 10, 31, 0, 20))
        committed(alert_emails_send, now=paris(2026, 11, 1, 0, 20))

        alert = BillingAlert.objects.get(user=subscription.user, type=AlertType.TRIAL_ENDING)
        assert alert.message == (
            "Your free trial of the Pro plan runs until 2 November 2026: from 3 November 2026, your subscription "
            "is billed."
        )
        [message] = mail.outbox
        assert message.subject == "Your free trial of TwinMCP Pro ends on 2 November 2026"
        assert "From 3 November 2026, your subscription is billed at the plan's price" in message.body
        assert "Plan price: 19.00" in message.body

    def test_the_reminder_is_written_in_the_customers_language(self, pro, committed):
        subscription = in_trial(pro, language="fr")

        trials_sweep(now=paris(2026, 10, 31, 0, 15))
        committed(alert_emails_send, now=paris(2026, 10, 31, 0, 20))

        notification = EmailNotification.objects.get(user=subscription.user, kind=EmailKind.TRIAL_ENDING)
        assert notification.language == "fr"
        [message] = mail.outbox
        assert "2 novembre 2026" in message.subject
        assert "2 novembre 2026" in BillingAlert.objects.get(type=AlertType.TRIAL_ENDING).message

    def test_at_the_end_the_subscription_converts_once_audited_and_emailed(self, pro, committed):
        subscription = in_trial(pro)

        assert committed(trials_sweep, now=paris(2026, 11, 3, 0, 15)) == (1, 0)
        assert committed(trials_sweep, now=paris(2026, 11, 4, 0, 15)) == (0, 0)

        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert AuditLog.objects.filter(action="subscription.trial_convert", object_id=str(subscription.pk)).count() == 1
        [message] = mail.outbox
        assert message.subject == "Your free trial is over: your TwinMCP Pro subscription continues"
        assert "it is billed from 3 November 2026" in message.body

    def test_with_stripe_a_paid_plan_without_a_card_is_cancelled_at_the_trials_end_nothing_billed(
        self, pro, committed, settings
    ):
        settings.PAYMENT_PROVIDER = "stripe"
        subscription = in_trial(pro)
        use(subscription, 8_000_000, at=paris(2026, 11, 3, 0, 5))  # before the sweep: never billed

        assert committed(trials_sweep, now=paris(2026, 11, 3, 0, 15)) == (1, 0)

        subscription.refresh_from_db()
        assert (subscription.status, subscription.ended_at) == (SubscriptionStatus.CANCELLED, paris(2026, 11, 3))
        assert AuditLog.objects.get(action="subscription.trial_cancel").changes["outcome"] == "no_payment_method"
        [message] = mail.outbox
        assert message.subject == "Your free trial is over: your TwinMCP Pro subscription has ended"
        assert "because no card was on file to pay for the plan. Nothing is billed." in message.body
        invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))
        summary = invoice_run(period_end=datetime.date(2026, 12, 1), now=paris(2026, 12, 1, 2))
        assert (summary.created, Invoice.objects.filter(status=InvoiceStatus.SENT).count()) == (0, 0)

    def test_cancelled_at_period_end_during_the_trial_it_ends_with_the_trial_and_costs_nothing(self, pro, committed):
        subscription = in_trial(pro, at=paris(2026, 10, 1, 10))  # the trial ends on 15 October
        use(subscription, 2_000_000, at=paris(2026, 10, 5, 12))
        subscription_cancel(subscription=subscription, at_period_end=True, now=paris(2026, 10, 10))

        assert committed(trials_sweep, now=paris(2026, 10, 15, 0, 15)) == (1, 0)

        subscription.refresh_from_db()
        assert (subscription.status, subscription.ended_at) == (SubscriptionStatus.CANCELLED, paris(2026, 10, 15))
        assert "as you cancelled it. Nothing is billed." in mail.outbox[0].body
        summary = invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))
        assert (summary.created, summary.nothing_owed) == (0, 1)

    def test_with_stripe_and_a_card_on_file_the_trial_converts(self, pro, committed, settings):
        settings.PAYMENT_PROVIDER = "stripe"
        subscription = in_trial(pro)
        PaymentProviderCustomer.objects.create(
            user=subscription.user, provider="stripe", provider_customer_id="cus_1", default_payment_method_id="pm_1"
        )

        committed(trials_sweep, now=paris(2026, 11, 3, 0, 15))

        subscription.refresh_from_db()
        assert (subscription.status, subscription.ended_at) == (SubscriptionStatus.ACTIVE, None)

    def test_the_quota_alert_in_a_trial_says_calls_are_refused_not_billed(self, pro, committed):
        subscription = in_trial(pro)
        use(subscription, 5_000_000, at=paris(2026, 10, 26, 12))

        usage_threshold_alerts_raise(now=paris(2026, 10, 26, 13, 10))
        committed(alert_emails_send, now=paris(2026, 10, 26, 13, 20))

        alert = BillingAlert.objects.get(type=AlertType.USAGE_THRESHOLD, occasion__endswith=":100")
        assert alert.message == (
            "You have used 5,000,000 of the 5,000,000 tokens included in your free trial of the Pro plan (100 %); "
            "during the trial, calls beyond them are refused."
        )
        [message] = [message for message in mail.outbox if "(100%)" in message.body]  # the 80 % one aside
        assert "Your free trial bills no tokens: further calls are refused until 1 November 2026." in message.body


@pytest.mark.django_db(transaction=True)
class TestTwoSweepsAtOnce:
    def test_the_trial_ends_once_one_audit_entry_one_email(self, pro):
        subscription = in_trial(pro)
        at = paris(2026, 11, 3, 0, 15)

        results = run_in_threads(lambda: trials_sweep(now=at), lambda: trials_sweep(now=at))

        assert sorted(ended for ended, _ in results) == [0, 1]
        assert AuditLog.objects.filter(action="subscription.trial_convert", object_id=str(subscription.pk)).count() == 1
        assert EmailNotification.objects.filter(kind=EmailKind.TRIAL_ENDED).count() == 1
        assert len(mail.outbox) == 1


class TestDashboard:
    def test_billing_shows_the_trial_its_end_the_days_left_and_what_comes_next(self, client, pro, time_machine):
        subscription = in_trial(pro)
        time_machine.move_to(paris(2026, 10, 25, 12), tick=False)
        client.force_login(subscription.user)

        html = client.get(reverse("billing:dashboard")).content.decode()

        assert "Free trial of Pro until 2 Nov 2026" in html
        assert "(9 days left)." in html
        assert "From 3 Nov 2026, your subscription is billed: the plan's fee pro rata" in html
        assert f'data-testid="upcoming-total">0.00{NBSP}EUR<' in html
        assert "Free trial: calls beyond the included tokens are refused, and their usage is not billed." in html

    def test_after_the_trial_the_usage_counts_from_its_end_with_the_whole_quota(self, client, pro, time_machine):
        subscription = in_trial(pro)
        invoice_run(period_end=datetime.date(2026, 11, 1), now=paris(2026, 11, 1, 2))
        use(subscription, 3_000_000, at=paris(2026, 11, 2, 12))
        use(subscription, 1_000_000, at=paris(2026, 11, 4, 12))
        time_machine.move_to(paris(2026, 11, 5, 12), tick=False)
        client.force_login(subscription.user)

        html = client.get(reverse("billing:dashboard")).content.decode()

        assert 'data-testid="trial"' not in html
        assert "From 3 Nov 2026, after your free trial: the whole quota for the rest of the period." in html
        assert "of 5,000,000 included — 20.00&nbsp;%" in html


class TestAdmin:
    def test_finance_filters_the_subscriptions_in_trial_and_sees_their_end(self, finance_client, pro, time_machine):
        trial = in_trial(pro)
        billed = subscription_create(
            user=make_customer(user__email="billed@example.com"), plan=PlanFactory(code="team", name="Team"),
            now=SUBSCRIBED_AT,
        )
        time_machine.move_to(paris(2026, 10, 25, 12), tick=False)

        html = finance_client.get(reverse("admin:billing_subscription_changelist") + "?in_trial=yes").content.decode()

        assert trial.user.email in html and billed.user.email not in html
        assert "Nov. 3, 2026" in html
        assert "in trial" in html.lower()
