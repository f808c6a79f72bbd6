import datetime
import itertools
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin

from accounts.tests.admin_helpers import (
    admin_url,
    changelist_query_count,
    changelist_rows,
    editable_field_names,
    unchanged_form_data,
)
from accounts.tests.factories import UserFactory, UserProfileFactory
from billing.models import (
    AlertType,
    BillingAlert,
    Credit,
    CreditApplication,
    CreditNote,
    DocumentKind,
    EmailKind,
    EmailNotification,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    NumberSequence,
    Payment,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
)
from billing.tests.factories import CreditFactory, InvoiceFactory, PaymentFactory, PlanFactory, SubscriptionFactory

MODELS = list(apps.get_app_config("billing").get_models())
LEDGER_MODELS = [
    InvoiceLine, CreditNote, NumberSequence, Payment, Credit, CreditApplication, SubscriptionPlanChange,
    SubscriptionPause, EmailNotification,
]
SERIAL = itertools.count(1)


def issued_invoice(**fields) -> Invoice:
    return InvoiceFactory(status=InvoiceStatus.SENT, number=f"TMCP-2026-{next(SERIAL):06d}", **fields)


def make_billing_rows() -> dict:
    """One row of every billing model, around one new customer's subscription and its issued invoice."""
    subscription = SubscriptionFactory()
    user = subscription.user
    invoice = issued_invoice(subscription=subscription)
    cancelled_invoice = InvoiceFactory(
        subscription=subscription, status=InvoiceStatus.CANCELLED, number=f"TMCP-2026-{next(SERIAL):06d}"
    )
    credit = CreditFactory(user=user, created_by=UserFactory())
    return {
        Plan: subscription.plan,
        Subscription: subscription,
        SubscriptionPlanChange: SubscriptionPlanChange.objects.create(
            subscription=subscription,
            from_plan=PlanFactory(code="starter", name="Starter", price=Decimal("9.00")),
            to_plan=subscription.plan,
            effective_date=datetime.date(2026, 10, 15),
        ),
        SubscriptionPause: SubscriptionPause.objects.create(
            subscription=subscription, start_date=datetime.date(2026, 10, 3), end_date=datetime.date(2026, 10, 5)
        ),
        Invoice: invoice,
        InvoiceLine: invoice.lines.get(),  # the factory's fee line
        CreditNote: CreditNote.objects.create(
            number=f"AV-2026-{next(SERIAL):06d}", invoice=cancelled_invoice, amount=cancelled_invoice.total,
            reason="Billed twice", issue_date=datetime.date(2026, 11, 5),
        ),
        NumberSequence: NumberSequence.objects.create(
            kind=DocumentKind.INVOICE, year=2000 + next(SERIAL), last_number=1
        ),
        Payment: PaymentFactory(invoice=invoice, status=PaymentStatus.COMPLETED),
        Credit: credit,
        CreditApplication: CreditApplication.objects.create(credit=credit, invoice=invoice, amount=Decimal("5.00")),
        BillingAlert: BillingAlert.objects.create(
            user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 % of your tokens used."
        ),
        EmailNotification: EmailNotification.objects.create(
            key=f"invoice-issued:{invoice.pk}", user=user, kind=EmailKind.INVOICE_ISSUED, invoice=invoice,
            recipient=user.email,
        ),
    }


@pytest.fixture
def rows(db):
    return make_billing_rows()


@pytest.mark.django_db
class TestEveryModelIsBrowsable:
    @pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
    def test_is_registered(self, model):
        assert admin.site.is_registered(model)

    @pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
    def test_changelist_and_change_page_answer(self, admin_client, rows, model):
        assert admin_client.get(admin_url(model, "changelist")).status_code == 200
        assert admin_client.get(admin_url(rows[model], "change")).status_code == 200

    @pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
    def test_changelist_makes_no_query_per_row(self, admin_client, model):
        make_billing_rows()
        queries_for_one = changelist_query_count(admin_client, model)
        make_billing_rows()
        make_billing_rows()

        assert changelist_query_count(admin_client, model) == queries_for_one

    def test_amounts_are_shown_with_their_currency(self, admin_client, rows):
        response = admin_client.get(admin_url(Invoice, "changelist"))

        assert "22.80 EUR" in response.content.decode()


@pytest.mark.django_db
class TestSearch:
    def test_invoices_are_found_by_number(self, admin_client):
        wanted = issued_invoice()
        issued_invoice()

        assert changelist_rows(admin_client, Invoice, q=wanted.number) == [wanted]

    def test_invoices_are_found_by_company_name(self, admin_client):
        acme = UserProfileFactory(company_name="Acme Robotics").user
        wanted = InvoiceFactory(subscription=SubscriptionFactory(user=acme))
        InvoiceFactory(subscription=SubscriptionFactory(user=UserProfileFactory(company_name="Globex").user))

        assert changelist_rows(admin_client, Invoice, q="acme") == [wanted]

    def test_subscriptions_are_found_by_customer_email(self, admin_client):
        wanted = SubscriptionFactory(user=UserFactory(email="alice@acme.test"))
        SubscriptionFactory(user=UserFactory(email="bob@globex.test"))

        assert changelist_rows(admin_client, Subscription, q="alice@") == [wanted]

    def test_payments_are_found_by_invoice_number(self, admin_client):
        wanted = PaymentFactory(invoice=issued_invoice())
        PaymentFactory(invoice=issued_invoice())

        assert changelist_rows(admin_client, Payment, q=wanted.invoice.number) == [wanted]

    def test_plans_are_found_by_code(self, admin_client):
        wanted = PlanFactory(code="enterprise", name="Enterprise")
        PlanFactory(code="pro")

        assert changelist_rows(admin_client, Plan, q="enterp") == [wanted]


@pytest.mark.django_db
class TestIssuedInvoiceIsFrozen:
    @pytest.fixture
    def invoice(self, db):
        return issued_invoice()  # with the factory's 19.00 fee line

    def test_its_page_has_no_editable_field(self, admin_client, invoice):
        response = admin_client.get(admin_url(invoice, "change"))

        assert response.status_code == 200
        assert editable_field_names(response) == set()
        assert not response.context["has_change_permission"]

    def test_posting_new_amounts_changes_nothing(self, admin_client, invoice):
        data = {"subtotal": "1.00", "tax_amount": "0.20", "total": "1.20", "amount_due": "1.20"}

        response = admin_client.post(admin_url(invoice, "change"), data)

        assert response.status_code == 403
        invoice.refresh_from_db()
        assert (invoice.subtotal, invoice.total) == (Decimal("19.00"), Decimal("22.80"))

    def test_cannot_be_deleted(self, admin_client, invoice):
        response = admin_client.post(admin_url(invoice, "delete"), {"post": "yes"})

        assert response.status_code == 403
        assert Invoice.objects.filter(pk=invoice.pk).exists()

    def test_a_cancelled_draft_is_closed_too(self, admin_client):
        cancelled = InvoiceFactory(status=InvoiceStatus.CANCELLED)

        response = admin_client.get(admin_url(cancelled, "change"))

        assert not response.context["has_change_permission"]


@pytest.mark.django_db
class TestDraftInvoiceIsEditable:
    @pytest.fixture
    def draft(self, db):
        return InvoiceFactory()  # with its 19.00 fee line

    def edit(self, client, draft, **changes):
        response = client.get(admin_url(draft, "change"))
        return client.post(admin_url(draft, "change"), unchanged_form_data(response) | changes)

    def test_amounts_lines_and_dates_can_be_corrected(self, admin_client, draft):
        response = self.edit(
            admin_client, draft,
            subtotal="20.00", tax_amount="4.00", total="24.00", amount_due="24.00", due_date="2026-12-01",
            **{"lines-0-description": "Pro plan, October", "lines-0-unit_price": "20.00", "lines-0-amount": "20.00"},
        )

        assert response.status_code == 302
        draft.refresh_from_db()
        assert (draft.total, draft.due_date) == (Decimal("24.00"), datetime.date(2026, 12, 1))
        assert draft.lines.get().description == "Pro plan, October"

    def test_amounts_that_do_not_add_up_are_refused_with_a_message(self, admin_client, draft):
        response = self.edit(admin_client, draft, total="99.00")

        assert response.status_code == 200
        assert response.context["adminform"].form.errors
        draft.refresh_from_db()
        assert draft.total == Decimal("22.80")

    def test_number_and_status_are_left_to_finalisation(self, admin_client, draft):
        response = admin_client.get(admin_url(draft, "change"))

        assert {"subtotal", "total", "due_date"} <= editable_field_names(response)
        assert {"number", "status", "issue_date", "pdf"}.isdisjoint(editable_field_names(response))

    def test_can_be_deleted(self, admin_client, draft):
        response = admin_client.post(admin_url(draft, "delete"), {"post": "yes"})

        assert response.status_code == 302
        assert not Invoice.objects.filter(pk=draft.pk).exists()


@pytest.mark.django_db
class TestLedgersAreReadOnly:
    @pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda model: model.__name__)
    def test_cannot_be_added_changed_or_deleted(self, admin_client, rows, model):
        record = rows[model]

        assert admin_client.get(admin_url(model, "add")).status_code == 403
        assert admin_client.post(admin_url(record, "change"), {}).status_code == 403
        assert admin_client.post(admin_url(record, "delete"), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=record.pk).exists()


@pytest.mark.django_db
class TestSubscriptionPage:
    def test_plan_and_status_are_changed_by_services_only(self, admin_client, rows):
        response = admin_client.get(admin_url(rows[Subscription], "change"))

        editable = editable_field_names(response)
        assert {"current_period_end", "cancel_at_period_end"} <= editable
        assert {"user", "plan", "status"}.isdisjoint(editable)

    def test_its_plan_changes_and_pauses_are_shown_read_only(self, admin_client, rows):
        response = admin_client.get(admin_url(rows[Subscription], "change"))

        history = response.context["inline_admin_formsets"]
        assert [inline.opts.model for inline in history] == [SubscriptionPlanChange, SubscriptionPause]
        assert not any(inline.has_add_permission or inline.has_change_permission for inline in history)
