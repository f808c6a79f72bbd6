"""One-off charges: finance adds an amount to a customer's next period invoice (an ADJUSTMENT line, in the monthly
run and the upcoming estimate alike) or invoices it at once on a numbered invoice of its own, with PDF, email and a
valid Factur-X; a charge is billed once, even while the run runs, and cancelled only while pending.

Ada's company (French: 20 % VAT) is on Pro: 19.00 a month, 5,000,000 tokens included, 2.00 per million above.
"""
import datetime
import io
import threading
import uuid
from decimal import Decimal

import facturx
import pytest
from django.core import mail
from django.db import connection, transaction
from pypdf import PdfReader

from accounts.models import AuditLog, User
from accounts.services import user_data_export
from accounts.tests.factories import make_customer
from billing.exceptions import BillingError
from billing.models import (
    DocumentKind,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    NumberSequence,
    OneOffCharge,
)
from billing.selectors import invoice_upcoming
from billing.services import (
    charge_add,
    charge_cancel,
    charge_invoice,
    credit_grant,
    invoice_cancel,
    invoice_finalize,
    invoice_generate,
    invoice_run,
)
from billing.tests.einvoice import en16931_failures
from billing.tests.factories import PlanFactory, SubscriptionFactory, paris
from billing.tests.test_admin_actions import apply_action, messages_of, start_action
from billing.tests.test_concurrency import WORKER_TIMEOUT, run_in_threads, wait_for_lock_waiters
from libraries.tests.factories import UsageLogFactory

NOVEMBER_1, DECEMBER_1 = datetime.date(2026, 11, 1), datetime.date(2026, 12, 1)
RUN_AT = paris(2026, 11, 1, 2, 0)  # the monthly run of October
WORKSHOP = "Onboarding workshop, 20 October"


def pro_customer(*, tokens: int = 0):
    """Ada on Pro since October, with `tokens` used on 10 October."""
    user = make_customer(user__email="ada@example.com", full_name="Ada Lovelace", company_name="Analytical SAS")
    plan = PlanFactory(code="pro", name="Pro", price=Decimal("19.00"), included_tokens=5_000_000)
    subscription = SubscriptionFactory(
        user=user, plan=plan, current_period_start=datetime.date(2026, 10, 1), current_period_end=NOVEMBER_1,
        started_at=paris(2026, 10, 1, 9, 0),
    )
    if tokens:
        UsageLogFactory(user=user, tokens=tokens, created_at=paris(2026, 10, 10, 12, 0))
    return subscription


def lines_of(invoice: Invoice) -> list[tuple[str, str, Decimal]]:
    return [(line.kind, line.description, line.amount) for line in invoice.lines.order_by("position")]


def totals_of(invoice: Invoice) -> tuple[Decimal, Decimal, Decimal]:
    return invoice.subtotal, invoice.tax_amount, invoice.total


def pdf_text_and_bytes(invoice: Invoice) -> tuple[str, bytes]:
    with invoice.pdf.open("rb") as file:
        pdf = file.read()
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages), pdf


def audit_actions_of(charge: OneOffCharge) -> list[str]:
    rows = AuditLog.objects.filter(object_type="billing.OneOffCharge", object_id=str(charge.pk)).order_by("id")
    return [row.action for row in rows]


@pytest.mark.django_db
class TestOnTheNextInvoice:
    def test_the_monthly_run_bills_it_after_the_fee_and_usage_to_the_cent(self):
        subscription = pro_customer(tokens=6_500_000)  # 1.5 M over → 3.00
        charge = charge_add(
            user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"), now=paris(2026, 10, 20, 16, 0)
        )

        summary = invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        [invoice] = Invoice.objects.filter(pk__in=summary.invoice_ids)
        assert [(kind, amount) for kind, _, amount in lines_of(invoice)] == [
            (LineKind.SUBSCRIPTION, Decimal("19.00")), (LineKind.USAGE, Decimal("3.00")),
            (LineKind.ADJUSTMENT, Decimal("150.00")),
        ]
        assert lines_of(invoice)[-1][1] == WORKSHOP
        # 172.00 + 20 % VAT 34.40 = 206.40
        assert totals_of(invoice) == (Decimal("172.00"), Decimal("34.40"), Decimal("206.40"))
        assert (invoice.kind, invoice.status) == (InvoiceKind.PERIOD, InvoiceStatus.SENT)
        charge.refresh_from_db()
        assert charge.invoice == invoice

    def test_it_is_billed_once_the_next_period_has_the_fee_only(self):
        subscription = pro_customer()
        charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"), now=paris(2026, 10, 20))
        invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        summary = invoice_run(period_end=DECEMBER_1, now=paris(2026, 12, 1, 2, 0))

        [november] = Invoice.objects.filter(pk__in=summary.invoice_ids)
        assert [kind for kind, _, _ in lines_of(november)] == [LineKind.SUBSCRIPTION]
        assert november.total == Decimal("22.80")

    def test_the_upcoming_estimate_shows_it_as_the_run_will_bill_it(self):
        subscription = pro_customer(tokens=6_500_000)
        charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"), now=paris(2026, 10, 20))

        upcoming = invoice_upcoming(subscription=subscription, now=paris(2026, 10, 31, 23, 0))

        assert [(line.kind, line.description, line.amount) for line in upcoming.lines][-1] == (
            LineKind.ADJUSTMENT, WORKSHOP, Decimal("150.00")
        )
        assert (upcoming.subtotal, upcoming.tax_amount, upcoming.total) == (
            Decimal("172.00"), Decimal("34.40"), Decimal("206.40")
        )
        invoice_run(period_end=NOVEMBER_1, now=RUN_AT)
        assert Invoice.objects.get().total == upcoming.total

    def test_the_customer_sees_it_in_the_upcoming_invoice_on_the_billing_page(self, client, time_machine):
        subscription = pro_customer()
        charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"), now=paris(2026, 10, 20))
        time_machine.move_to(paris(2026, 10, 21, 10, 0), tick=False)
        client.force_login(subscription.user)

        page = client.get("/billing/").content.decode()

        assert WORKSHOP in page
        assert "150.00" in page
        assert "202.80" in page  # (19.00 + 150.00) + 33.80 VAT

    def test_a_period_with_nothing_else_owed_is_invoiced_for_the_charge(self):
        subscription = pro_customer()
        free = PlanFactory(code="free", name="Free", price=Decimal("0.00"), overage_price_per_million=Decimal(0))
        subscription.plan = free
        subscription.save(update_fields=["plan"])
        charge_add(user=subscription.user, description="Data import", amount=Decimal("40.00"), now=paris(2026, 10, 5))

        summary = invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        [invoice] = Invoice.objects.filter(pk__in=summary.invoice_ids)
        assert lines_of(invoice) == [(LineKind.ADJUSTMENT, "Data import", Decimal("40.00"))]
        assert totals_of(invoice) == (Decimal("40.00"), Decimal("8.00"), Decimal("48.00"))

    def test_a_charge_in_another_currency_waits_to_be_invoiced_at_once(self):
        subscription = pro_customer()  # Pro bills in EUR
        dollars = OneOffCharge.objects.create(
            user=subscription.user, description="US workshop", amount=Decimal("100.00"), currency="USD"
        )

        invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        assert Invoice.objects.get().total == Decimal("22.80")
        dollars.refresh_from_db()
        assert dollars.is_pending

    def test_a_cancelled_charge_is_not_billed_and_is_audited(self):
        subscription = pro_customer()
        charge = charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"))

        charge_cancel(charge=charge, now=paris(2026, 10, 25))
        invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        assert Invoice.objects.get().total == Decimal("22.80")
        charge.refresh_from_db()
        assert (charge.invoice, charge.cancelled_at) == (None, paris(2026, 10, 25))
        assert audit_actions_of(charge) == ["one_off_charge.add", "one_off_charge.cancel"]
        with pytest.raises(BillingError, match="was cancelled"):
            charge_invoice(charge=charge)

    def test_a_billed_charge_cannot_be_cancelled(self):
        subscription = pro_customer()
        charge = charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"))
        invoice_run(period_end=NOVEMBER_1, now=RUN_AT)
        number = Invoice.objects.get().number

        with pytest.raises(BillingError, match=f"billed already, by invoice {number}"):
            charge_cancel(charge=charge)

    def test_a_generated_draft_holds_it_and_gives_it_back_when_cancelled(self):
        subscription = pro_customer()
        charge = charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"))

        draft = invoice_generate(subscription=subscription, period="2026-10")
        assert draft.total == Decimal("202.80")
        charge.refresh_from_db()
        assert charge.invoice == draft

        invoice_cancel(invoice=draft)
        charge.refresh_from_db()
        assert charge.is_pending
        again = invoice_generate(subscription=subscription, period="2026-10")
        assert invoice_finalize(invoice=again).total == Decimal("202.80")

    def test_the_customers_data_export_lists_their_charges(self):
        subscription = pro_customer()
        charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"), now=paris(2026, 10, 20))

        [exported] = user_data_export(user=subscription.user)["one_off_charges"]

        assert (exported["description"], exported["amount"], exported["invoice"]) == (WORKSHOP, "150.00", None)

    def test_without_a_live_subscription_only_an_invoice_now_is_possible(self):
        user = make_customer()

        with pytest.raises(BillingError, match="no live subscription"):
            charge_add(user=user, description=WORKSHOP, amount=Decimal("150.00"))

        assert not OneOffCharge.objects.exists()


@pytest.mark.django_db
class TestInvoicedAtOnce:
    def test_a_numbered_invoice_of_its_own_with_pdf_email_and_a_valid_einvoice(
        self, media, django_capture_on_commit_callbacks
    ):
        subscription = pro_customer(tokens=6_500_000)
        with django_capture_on_commit_callbacks(execute=True):
            charge = charge_add(
                user=subscription.user, description=WORKSHOP, amount=Decimal("250.00"), invoice_now=True,
                now=paris(2026, 10, 20, 16, 0),
            )

        invoice = Invoice.objects.get()
        assert charge.invoice == invoice
        assert (invoice.kind, invoice.number, invoice.status) == (InvoiceKind.ONE_OFF, "TMCP-2026-000001", "SENT")
        assert (invoice.subscription, invoice.period_start, invoice.period_end) == (
            subscription, datetime.date(2026, 10, 20), datetime.date(2026, 10, 21)
        )
        assert lines_of(invoice) == [(LineKind.ADJUSTMENT, WORKSHOP, Decimal("250.00"))]
        assert totals_of(invoice) == (Decimal("250.00"), Decimal("50.00"), Decimal("300.00"))
        assert invoice.due_date == datetime.date(2026, 11, 19)

        text, pdf = pdf_text_and_bytes(invoice)
        assert "TMCP-2026-000001" in text and WORKSHOP in text and "300.00" in text
        assert "SERVICE DATE" in text and "20 October 2026" in text  # one day: no period "20 October – 20 October"
        assert "SERVICE PERIOD" not in text
        _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
        assert en16931_failures(xml) == []

        [email] = mail.outbox
        assert email.to == [subscription.user.profile.invoice_email]
        assert "TMCP-2026-000001" in email.subject
        assert "Your invoice TMCP-2026-000001 is available." in email.body
        assert "October 2026" not in email.body  # no period of the subscription: the charge's own invoice
        assert "300.00" in email.body

        # The period's invoice still bills the fee and the usage only.
        summary = invoice_run(period_end=NOVEMBER_1, now=RUN_AT)
        [october] = Invoice.objects.filter(pk__in=summary.invoice_ids)
        assert totals_of(october) == (Decimal("22.00"), Decimal("4.40"), Decimal("26.40"))
        assert audit_actions_of(charge) == ["one_off_charge.add", "one_off_charge.invoice"]

    def test_the_customers_invoice_page_gives_the_day_of_the_charge(self, client):
        subscription = pro_customer()
        charge = charge_add(
            user=subscription.user, description=WORKSHOP, amount=Decimal("250.00"), invoice_now=True,
            now=paris(2026, 10, 20, 16, 0),
        )
        client.force_login(subscription.user)

        page = client.get(f"/billing/invoices/{charge.invoice.pk}/").content.decode()

        assert WORKSHOP in page and "300.00" in page
        assert "<dt>Service date</dt><dd>20 Oct 2026</dd>" in page

    def test_a_customer_without_subscription_pays_with_their_credit(self):
        user = make_customer()
        credit_grant(user=user, type="COMPENSATION", amount=Decimal("100.00"), reason="Outage")

        charge = charge_add(
            user=user, description="Consulting, 2 hours", amount=Decimal("200.00"), invoice_now=True,
            now=paris(2026, 12, 7, 11, 0),
        )

        invoice = charge.invoice
        assert (invoice.subscription, invoice.kind) == (None, InvoiceKind.ONE_OFF)
        # 100.00 of compensation, VAT included, takes 83.33 off 200.00: 116.67 + 23.33 VAT = 140.00 due.
        assert (invoice.subtotal, invoice.total, invoice.credit_applied, invoice.amount_due) == (
            Decimal("116.67"), Decimal("140.00"), Decimal("0.00"), Decimal("140.00")
        )

    def test_a_charge_added_for_the_next_invoice_can_be_invoiced_at_once_instead(self):
        subscription = pro_customer()
        charge = charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"))

        invoice = charge_invoice(charge=charge, now=paris(2026, 10, 22, 9, 0))

        assert totals_of(invoice) == (Decimal("150.00"), Decimal("30.00"), Decimal("180.00"))
        assert invoice_upcoming(subscription=subscription, now=paris(2026, 10, 23)).total == Decimal("22.80")
        with pytest.raises(BillingError, match="billed already"):
            charge_invoice(charge=charge)


@pytest.mark.django_db
class TestBadInput:
    @pytest.mark.parametrize(
        ("description", "amount", "message"),
        [
            (WORKSHOP, Decimal("0.00"), "positive amount"),
            (WORKSHOP, Decimal("-5.00"), "positive amount"),
            (WORKSHOP, Decimal("12.345"), "positive amount in cents"),
            ("   ", Decimal("10.00"), "needs a description"),
            ("x" * 301, Decimal("10.00"), "at most 300 characters"),
        ],
    )
    def test_the_service_refuses_it_and_writes_nothing(self, description, amount, message):
        subscription = pro_customer()

        with pytest.raises(BillingError, match=message):
            charge_add(user=subscription.user, description=description, amount=amount, invoice_now=True)

        assert not OneOffCharge.objects.exists()
        assert not Invoice.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestBilledOnce:
    def test_two_runs_at_once_bill_the_charge_on_one_invoice(self):
        subscription = pro_customer()
        charge = charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"))

        def run():
            return invoice_run(period_end=NOVEMBER_1, now=RUN_AT)

        summaries = run_in_threads(run, run, hold=OneOffCharge.objects.filter(pk=charge.pk))

        assert sum(summary.created for summary in summaries) == 1
        invoice = Invoice.objects.get()
        assert invoice.total == Decimal("202.80")
        charge.refresh_from_db()
        assert charge.invoice == invoice

    def test_a_charge_added_while_the_run_runs_waits_for_the_next_invoice(self):
        """The run has priced Ada's period (its charge locked) and waits for the invoice counter: a charge added
        then is not on this invoice, and cancelling or invoicing the one being billed waits, then is refused."""
        subscription = pro_customer()
        first = charge_add(user=subscription.user, description=WORKSHOP, amount=Decimal("150.00"))
        NumberSequence.objects.create(kind=DocumentKind.INVOICE, year=2026)
        outcome, errors = {}, []

        def in_thread(name, call):
            def work():
                try:
                    outcome[name] = call()
                except BaseException as error:  # reported by the test thread
                    errors.append((name, error))
                finally:
                    connection.close()
            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            return thread

        with transaction.atomic():
            NumberSequence.objects.select_for_update().get(kind=DocumentKind.INVOICE, year=2026)
            run = in_thread("run", lambda: invoice_run(period_end=NOVEMBER_1, now=RUN_AT))
            wait_for_lock_waiters(1)
            late = in_thread("late", lambda: charge_add(
                user=subscription.user, description="Extra seat setup", amount=Decimal("30.00")
            ))
            late.join(WORKER_TIMEOUT)
            cancel = in_thread("cancel", lambda: charge_cancel(charge=first))
            wait_for_lock_waiters(2)
        for thread in (run, cancel):
            thread.join(WORKER_TIMEOUT)

        assert [name for name, _ in errors] == ["cancel"]
        assert "billed already" in str(errors[0][1])
        invoice = Invoice.objects.get()
        assert [description for _, description, _ in lines_of(invoice)][-1] == WORKSHOP
        assert invoice.total == Decimal("202.80")
        first.refresh_from_db()
        assert first.invoice == invoice
        assert outcome["late"].is_pending
        upcoming = invoice_upcoming(subscription=subscription, now=paris(2026, 11, 2))
        assert [line.description for line in upcoming.lines][-1] == "Extra seat setup"


@pytest.mark.django_db
class TestAdmin:
    def test_finance_adds_a_charge_to_the_next_invoice(self, finance_client, finance):
        subscription = pro_customer()
        customer = subscription.user
        token = str(start_action(finance_client, User, "add_charge", [customer]).context["form"]["token"].value())

        for _ in range(2):  # the same form posted twice adds one charge
            response = apply_action(
                finance_client, User, "add_charge", [customer], description=WORKSHOP, amount="150.00",
                billing="next", token=token,
            )

        assert response.status_code == 302
        charge = OneOffCharge.objects.get()
        assert (charge.user, charge.amount, charge.description, charge.created_by) == (
            customer, Decimal("150.00"), WORKSHOP, finance
        )
        assert charge.is_pending and not Invoice.objects.exists()
        assert AuditLog.objects.get(action="one_off_charge.add").actor == finance

    def test_finance_invoices_a_charge_at_once(self, finance_client, finance):
        customer = pro_customer().user

        response = apply_action(
            finance_client, User, "add_charge", [customer], description=WORKSHOP, amount="250.00", billing="now",
            token=str(uuid.uuid4()),
        )

        assert "Charge of 250.00 invoiced (1)" in messages_of(response)[0]
        invoice = Invoice.objects.get()
        assert (invoice.kind, invoice.status, invoice.total) == (InvoiceKind.ONE_OFF, "SENT", Decimal("300.00"))
        assert AuditLog.objects.get(action="one_off_charge.invoice").actor == finance

    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            ({"description": WORKSHOP, "amount": "0"}, {"amount"}),
            ({"description": WORKSHOP, "amount": "-5.00"}, {"amount"}),
            ({"description": WORKSHOP, "amount": "12.345"}, {"amount"}),
            ({"description": "", "amount": "10.00"}, {"description"}),
        ],
    )
    def test_bad_input_is_a_form_error_and_writes_nothing(self, finance_client, fields, errors):
        customer = pro_customer().user

        response = apply_action(
            finance_client, User, "add_charge", [customer], billing="now", token=str(uuid.uuid4()), **fields
        )

        assert response.status_code == 200
        assert set(response.context["form"].errors) == errors
        assert not OneOffCharge.objects.exists() and not Invoice.objects.exists()

    def test_finance_sees_pending_and_billed_charges_and_cancels_a_pending_one(self, finance_client, finance):
        customer = pro_customer().user
        billed = charge_add(user=customer, description="Setup", amount=Decimal("80.00"), invoice_now=True)
        pending = charge_add(user=customer, description=WORKSHOP, amount=Decimal("150.00"))

        listed = finance_client.get("/admin/billing/oneoffcharge/?state=pending").content.decode()
        assert WORKSHOP in listed and "Setup" not in listed
        assert "Setup" in finance_client.get("/admin/billing/oneoffcharge/?state=billed").content.decode()

        response = apply_action(finance_client, OneOffCharge, "cancel_charges", [billed, pending])

        assert response.status_code == 302
        pending.refresh_from_db()
        billed.refresh_from_db()
        assert pending.cancelled_at is not None and billed.cancelled_at is None
        assert AuditLog.objects.get(action="one_off_charge.cancel").actor == finance
        text = " ".join(messages_of(response))
        assert "billed already" in text and "Cancelled (1)" in text
