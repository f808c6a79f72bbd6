"""Suspension of metered access for an unpaid invoice (DESIGN, "Payments"; issue 15, "Suspension"), as the
customer, their API client and finance meet it, on real PostgreSQL and Redis.

DESIGN's figures: a 22.80 EUR invoice issued on 1 November 2026 is due on 1 December. With the default
ACCESS_SUSPEND_AFTER_DAYS of 14, its customer's calls are served through 15 December (the 14th day past due
included) and refused with 402 `payment_required` from 16 December at 00:00 in Paris, until it is paid or finance
lifts the suspension.
"""
import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import AuditLog
from accounts.tests.admin_helpers import admin_url, changelist_rows
from accounts.tests.factories import make_customer
from billing.exceptions import BillingError
from billing.metering.throttles import PaymentRequired, PlanQuotaThrottle, request_account
from billing.models import AccessSuspensionLift, Invoice, InvoiceStatus
from billing.payments.suspensions import access_suspension_lift
from billing.services import invoice_cancel, invoice_finalize, payment_record
from billing.tests.admin_world import audit_actions, finance_user, staff_user
from billing.tests.factories import InvoiceFactory, SubscriptionFactory, paris
from billing.tests.test_throttles import DOCS, key_client

pytestmark = pytest.mark.django_db

LAST_DAY_SERVED = paris(2026, 12, 15, 23, 59)
FIRST_DAY_REFUSED = paris(2026, 12, 16, 0, 0)
NBSP = "\u00a0"


def december_customer(**profile):
    """A customer on Pro, in their December period, who owes November's 22.80 EUR invoice, issued on 1 November
    and so due on 1 December."""
    user = make_customer(**profile)
    subscription = SubscriptionFactory(
        user=user, current_period_start=datetime.date(2026, 12, 1), current_period_end=datetime.date(2027, 1, 1)
    )
    november = invoice_finalize(
        invoice=InvoiceFactory(
            subscription=subscription, period_start=datetime.date(2026, 11, 1), period_end=datetime.date(2026, 12, 1)
        ),
        now=paris(2026, 11, 1, 9),
    )
    assert (november.due_date, november.amount_due) == (datetime.date(2026, 12, 1), Decimal("22.80"))
    return user, november


def call(client, at: datetime.datetime):
    with time_machine.travel(at, tick=False):
        return client.get(DOCS)


def pay(invoice: Invoice, amount: str = "22.80", *, at: datetime.datetime = FIRST_DAY_REFUSED):
    return payment_record(
        invoice=invoice, amount=Decimal(amount), idempotency_key=f"bank:{invoice.pk}:{amount}", now=at
    )


@pytest.mark.usefixtures("library_version")
class TestTheDocsApi:
    def test_calls_are_served_through_the_15th_and_refused_from_the_16th(self):
        user, november = december_customer()
        client = key_client(user)

        served = call(client, LAST_DAY_SERVED)  # caches "not suspended" for the 15th
        refused = call(client, FIRST_DAY_REFUSED)

        assert served.status_code == 200
        assert refused.status_code == 402
        error = refused.json()["error"]
        assert error["code"] == "payment_required"
        assert november.number in error["message"]
        assert "22.80 EUR" in error["message"]
        assert f"/billing/invoices/{november.pk}/" in error["message"]

    def test_the_grace_follows_the_setting(self, settings):
        settings.ACCESS_SUSPEND_AFTER_DAYS = 3
        user, _ = december_customer()
        client = key_client(user)

        assert call(client, paris(2026, 12, 4, 23, 59)).status_code == 200
        assert call(client, paris(2026, 12, 5, 0, 0)).status_code == 402

    def test_paying_the_invoice_serves_the_next_call(self):
        user, november = december_customer()
        client = key_client(user)
        assert call(client, FIRST_DAY_REFUSED).status_code == 402  # the suspension is cached now

        pay(november)

        assert call(client, FIRST_DAY_REFUSED + datetime.timedelta(minutes=1)).status_code == 200

    def test_a_part_payment_leaves_the_suspension_naming_what_is_still_due(self):
        user, november = december_customer()
        client = key_client(user)

        pay(november, "10.00")

        refused = call(client, FIRST_DAY_REFUSED)
        assert refused.status_code == 402
        assert "12.80 EUR" in refused.json()["error"]["message"]

    def test_a_cancelled_invoice_suspends_nothing(self):
        user, november = december_customer()
        client = key_client(user)
        assert call(client, FIRST_DAY_REFUSED).status_code == 402

        invoice_cancel(invoice=november, reason_code="DUPLICATE", now=FIRST_DAY_REFUSED)

        assert call(client, FIRST_DAY_REFUSED + datetime.timedelta(minutes=1)).status_code == 200

    def test_a_paid_invoice_and_one_not_yet_late_leave_the_customer_served(self):
        user, november = december_customer()
        pay(november, at=paris(2026, 11, 20, 9))
        december = invoice_finalize(
            invoice=InvoiceFactory(subscription=november.subscription, period_start=datetime.date(2026, 12, 1),
                                   period_end=datetime.date(2027, 1, 1)),
            now=paris(2026, 12, 1, 9),
        )
        assert december.status == InvoiceStatus.SENT  # due 31 December, unpaid

        assert call(key_client(user), FIRST_DAY_REFUSED).status_code == 200

    def test_finance_lifting_the_suspension_serves_the_next_call(self):
        user, november = december_customer()
        client = key_client(user)
        assert call(client, FIRST_DAY_REFUSED).status_code == 402

        access_suspension_lift(
            invoice=november, actor=finance_user(), reason="Transfer announced for Friday.", now=FIRST_DAY_REFUSED
        )

        assert call(client, FIRST_DAY_REFUSED + datetime.timedelta(minutes=1)).status_code == 200
        november.refresh_from_db()
        assert (november.status, november.amount_due) == (InvoiceStatus.SENT, Decimal("22.80"))  # still owed


class TestAWarmCall:
    @pytest.mark.parametrize("at, refused", [(LAST_DAY_SERVED, False), (FIRST_DAY_REFUSED, True)])
    def test_reads_no_database(self, at, refused, django_assert_num_queries):
        user, _ = december_customer()
        request, view = SimpleNamespace(user=user), SimpleNamespace(metered=True)
        request_account(request)  # read once per request, by the request's own statement

        def check():
            if refused:
                with pytest.raises(PaymentRequired):
                    PlanQuotaThrottle().allow_request(request, view)
            else:
                assert PlanQuotaThrottle().allow_request(request, view)

        with time_machine.travel(at, tick=False):
            check()  # seeds the counter, the quota and the suspension state
            with django_assert_num_queries(0):
                check()


class TestTheLift:
    def test_is_audited_with_who_and_why(self):
        _, november = december_customer()
        finance = finance_user()

        lift = access_suspension_lift(
            invoice=november, actor=finance, reason="  Transfer announced for Friday.  ", now=FIRST_DAY_REFUSED
        )

        assert (lift.invoice, lift.lifted_by, lift.reason) == (november, finance, "Transfer announced for Friday.")
        entry = AuditLog.objects.get(action="invoice.suspension_lift")
        assert (entry.object_id, entry.actor_id) == (str(november.pk), finance.pk)
        assert entry.changes == {"reason": "Transfer announced for Friday."}

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_needs_a_reason(self, reason):
        _, november = december_customer()

        with pytest.raises(BillingError, match="reason"):
            access_suspension_lift(invoice=november, actor=finance_user(), reason=reason, now=FIRST_DAY_REFUSED)
        assert not AccessSuspensionLift.objects.exists()

    def test_refuses_an_invoice_that_does_not_suspend(self):
        _, november = december_customer()
        finance = finance_user()

        with pytest.raises(BillingError, match="does not suspend"):
            access_suspension_lift(invoice=november, actor=finance, reason="Early", now=LAST_DAY_SERVED)
        pay(november)
        with pytest.raises(BillingError, match="does not suspend"):
            access_suspension_lift(invoice=november, actor=finance, reason="Paid", now=FIRST_DAY_REFUSED)
        assert not AccessSuspensionLift.objects.exists()

    def test_lifts_once(self):
        _, november = december_customer()
        finance = finance_user()
        access_suspension_lift(invoice=november, actor=finance, reason="Announced", now=FIRST_DAY_REFUSED)

        with pytest.raises(BillingError, match="does not suspend"):
            access_suspension_lift(invoice=november, actor=finance, reason="Again", now=FIRST_DAY_REFUSED)
        assert AccessSuspensionLift.objects.count() == 1
        assert audit_actions(november).count("invoice.suspension_lift") == 1


class TestTheCustomerPages:
    @pytest.fixture(autouse=True)
    def _on_the_16th(self, time_machine):
        time_machine.move_to(FIRST_DAY_REFUSED + datetime.timedelta(hours=10), tick=False)

    def test_the_dashboard_says_why_and_links_to_pay_now(self, client):
        user, november = december_customer(language="en")
        client.force_login(user)

        html = client.get(reverse("billing:dashboard")).content.decode()

        assert "Your API access is suspended" in html
        assert f"Invoice {november.number}, due on 1 Dec 2026, is still unpaid: 22.80{NBSP}EUR left to pay." in html
        pay_now = f'<a class="button" href="/billing/invoices/{november.pk}/" data-testid="pay-now">Pay now</a>'
        assert pay_now in html

    def test_the_invoice_page_says_so_and_how_to_pay_by_transfer(self, client):
        user, november = december_customer(language="en")
        client.force_login(user)

        html = client.get(reverse("billing:invoice_detail", args=[november.pk])).content.decode()

        assert "This invoice, due on 1 Dec 2026, is still unpaid: calls to the documentation API are refused" in html
        assert "Pay by bank transfer to IBAN FR76 3000 6000 0112 3456 7890 189, BIC" in html
        assert f"quoting the reference {november.number}." in html

    def test_no_banner_once_paid(self, client):
        user, november = december_customer(language="en")
        pay(november)
        client.force_login(user)

        dashboard = client.get(reverse("billing:dashboard")).content.decode()
        invoice = client.get(reverse("billing:invoice_detail", args=[november.pk])).content.decode()

        assert 'data-testid="suspension"' not in dashboard + invoice
        assert 'data-testid="bank-transfer"' not in invoice  # nothing left to pay

    def test_the_dashboard_banner_in_french(self, client):
        user, november = december_customer(language="fr")
        client.force_login(user)

        html = client.get(reverse("billing:dashboard")).content.decode()

        assert "Votre accès à l’API est suspendu" in html
        assert f"La facture {november.number}, échue le 1 déc. 2026, n’est toujours pas réglée{NBSP}:" in html
        assert f"il reste 22,80{NBSP}EUR à payer." in html
        assert ">Payer maintenant</a>" in html


class TestTheAdmin:
    @pytest.fixture(autouse=True)
    def _on_the_16th(self, time_machine):
        time_machine.move_to(FIRST_DAY_REFUSED + datetime.timedelta(hours=10), tick=False)

    def test_the_suspended_filter_and_column(self, finance_client):
        suspended, november = december_customer()
        paid_up, paid = december_customer()
        pay(paid)

        rows = changelist_rows(finance_client, suspended, suspended="yes")
        others = changelist_rows(finance_client, suspended, suspended="no")

        assert [user.pk for user in rows] == [suspended.pk]
        assert paid_up.pk in {user.pk for user in others} and suspended.pk not in {user.pk for user in others}
        assert rows[0].suspending_number == november.number

    def test_finance_lifts_a_suspension_with_a_reason(self, finance_client):
        user, november = december_customer()
        changelist = admin_url(user, "changelist")

        page = finance_client.post(
            changelist, {"action": "lift_suspension", "index": 0, "_selected_action": [user.pk]}
        )
        assert page.status_code == 200 and november.number in page.content.decode()
        blank = finance_client.post(
            changelist, {"action": "lift_suspension", "_selected_action": [user.pk], "apply": "1", "reason": " "}
        )
        assert blank.status_code == 200 and not AccessSuspensionLift.objects.exists()  # the form again, with why
        done = finance_client.post(
            changelist,
            {"action": "lift_suspension", "_selected_action": [user.pk], "apply": "1", "reason": "Paid by cheque"},
        )

        assert done.status_code == 302
        lift = AccessSuspensionLift.objects.get()
        assert (lift.invoice, lift.reason) == (november, "Paid by cheque")
        assert audit_actions(november)[-1] == "invoice.suspension_lift"
        assert [str(m) for m in get_messages(done.wsgi_request)] == [f"Suspension lifted (1): {november.number}."]
        assert changelist_rows(finance_client, user, suspended="yes") == []

    def test_the_customer_page_offers_the_lift_only_while_suspended(self, finance_client):
        user, november = december_customer()
        label = "Lift the access suspension"

        assert label in finance_client.get(admin_url(user, "change")).content.decode()
        pay(november)
        assert label not in finance_client.get(admin_url(user, "change")).content.decode()

    def test_staff_outside_finance_cannot_lift(self, client):
        user, _ = december_customer()
        client.force_login(staff_user())

        client.post(
            admin_url(user, "changelist"),
            {"action": "lift_suspension", "_selected_action": [user.pk], "apply": "1", "reason": "Please"},
        )

        assert not AccessSuspensionLift.objects.exists()
