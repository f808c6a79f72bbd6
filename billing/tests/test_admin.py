import datetime
import importlib
import itertools
import re
from contextlib import contextmanager
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from accounts.models import ApiKey, AuditLog, User, UserProfile
from accounts.tests.admin_helpers import (
    admin_url,
    changelist_rows,
    editable_field_names,
    every_model_is_browsable,
    unchanged_form_data,
)
from accounts.tests.factories import ApiKeyFactory, UserFactory, UserProfileFactory
from billing.backoffice.roles import FINANCE_GROUP, finance_permission_names
from billing.models import (
    AccessSuspensionLift,
    AlertType,
    BillingAlert,
    BuyerSnapshot,
    Coupon,
    CouponRedemption,
    Credit,
    CreditApplication,
    CreditNote,
    CreditNoteLine,
    DocumentKind,
    EmailKind,
    EmailNotification,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    NumberSequence,
    OneOffCharge,
    Payment,
    PaymentProviderCustomer,
    PaymentProviderName,
    PaymentStatus,
    Plan,
    PlanVersionMove,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    WebhookEvent,
)
from billing.templatetags.billing_format import money
from billing.tests.admin_world import finance_user, make_world, staff_user
from billing.tests.factories import (
    BuyerSnapshotFactory,
    CreditFactory,
    CreditNoteFactory,
    InvoiceFactory,
    InvoiceLineFactory,
    PaymentFactory,
    PlanFactory,
    SubscriptionFactory,
)
from core.permissions import group_permissions_grant
from libraries.models import UsageLog
from libraries.tests.factories import UsageLogFactory

MODELS = list(apps.get_app_config("billing").get_models())
LEDGER_MODELS = [
    InvoiceLine, CreditNote, NumberSequence, Payment, Credit, CreditApplication, SubscriptionPlanChange,
    SubscriptionPause, EmailNotification,
]
SERIAL = itertools.count(1)
# The year of books ends on this day and is read on it, so that its ages and aging buckets never move.
BOOKS_NOW = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=datetime.UTC)


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
    payment = PaymentFactory(invoice=invoice, status=PaymentStatus.COMPLETED)
    coupon = Coupon.objects.create(code=f"WELCOME{next(SERIAL)}", name="Welcome", percent_off=Decimal("20"))
    credit_note = CreditNoteFactory(
        number=f"AV-2026-{next(SERIAL):06d}", invoice=cancelled_invoice, issue_date=datetime.date(2026, 11, 5)
    )
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
        BuyerSnapshot: BuyerSnapshotFactory(user=user),
        Invoice: invoice,
        InvoiceLine: invoice.lines.get(),  # the factory's fee line
        CreditNote: credit_note,
        CreditNoteLine: CreditNoteLine.objects.create(
            credit_note=credit_note, kind=LineKind.SUBSCRIPTION, description="Pro plan, 2026-10",
            unit_price=credit_note.subtotal, amount=credit_note.subtotal,
        ),
        NumberSequence: NumberSequence.objects.create(
            kind=DocumentKind.INVOICE, year=2000 + next(SERIAL), last_number=1
        ),
        Payment: payment,
        Credit: credit,
        CreditApplication: CreditApplication.objects.create(credit=credit, invoice=invoice, amount=Decimal("5.00")),
        BillingAlert: BillingAlert.objects.create(
            user=user, type=AlertType.USAGE_THRESHOLD, occasion="2026-10:80", message="80 % of your tokens used."
        ),
        EmailNotification: EmailNotification.objects.create(
            key=f"invoice-issued:{invoice.pk}", user=user, kind=EmailKind.INVOICE_ISSUED, invoice=invoice,
            recipient=user.email,
        ),
        WebhookEvent: WebhookEvent.objects.create(
            event_id=f"evt_{invoice.pk}", type="payment.succeeded", payload={"id": f"evt_{invoice.pk}"},
            payment=payment,
        ),
        AccessSuspensionLift: AccessSuspensionLift.objects.create(
            invoice=invoice, lifted_by=UserFactory(), reason="Transfer announced by the customer."
        ),
        PaymentProviderCustomer: PaymentProviderCustomer.objects.create(
            user=user, provider=PaymentProviderName.STRIPE, provider_customer_id=f"cus_{user.pk}",
            default_payment_method_id=f"pm_{user.pk}", card_brand="visa", card_last4="4242", card_exp_month=12,
            card_exp_year=2034,
        ),
        OneOffCharge: OneOffCharge.objects.create(
            user=user, description="Onboarding workshop", amount=Decimal("150.00"), invoice=invoice
        ),
        Coupon: coupon,
        CouponRedemption: CouponRedemption.objects.create(coupon=coupon, user=user, subscription=subscription),
        PlanVersionMove: PlanVersionMove.objects.create(
            from_plan=subscription.plan, to_plan=PlanFactory(code=f"pro-{2026 + next(SERIAL)}", name="Pro 2027"),
            scheduled_count=1, skipped_count=0,
        ),
    }


@pytest.fixture
def rows(db):
    return make_billing_rows()


class TestEveryModelIsBrowsable(every_model_is_browsable(MODELS, make_billing_rows)):
    def test_amounts_are_shown_with_their_currency(self, admin_client, rows):
        response = admin_client.get(admin_url(Invoice, "changelist"))

        assert "22.80\u00a0EUR" in response.content.decode()  # as the money filter writes it everywhere


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
    def test_nothing_is_edited_by_hand_the_actions_call_services(self, admin_client, rows):
        response = admin_client.get(admin_url(rows[Subscription], "change"))

        assert editable_field_names(response) == set()
        assert not response.context["has_change_permission"]
        buttons = {button.action for button in response.context["object_action_buttons"]}
        assert buttons == {"change_plan", "pause", "cancel_at_period_end"}

    def test_its_plan_changes_pauses_and_invoices_are_shown_read_only(self, admin_client, rows):
        response = admin_client.get(admin_url(rows[Subscription], "change"))

        history = response.context["inline_admin_formsets"]
        assert [inline.opts.model for inline in history] == [SubscriptionPlanChange, SubscriptionPause, Invoice]
        assert not any(inline.has_add_permission or inline.has_change_permission for inline in history)


# As Finance: every page on a year of books (200 invoices) answers at once, in a fixed number of queries.

MAX_QUERIES_PER_PAGE = 26  # the busiest page (a customer, with six inlines and its usage) makes 26
FINANCE_MODELS = [
    *MODELS, User, UserProfile, ApiKey, AuditLog, UsageLog,
]


@contextmanager
def rolled_back_afterwards(django_db_blocker):
    """Rows shared by a whole test class, rolled back after its last test; each test runs in its own savepoint."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="class")
def books(django_db_setup, django_db_blocker):
    with time_machine.travel(BOOKS_NOW), rolled_back_afterwards(django_db_blocker):
        world = make_world(invoices=200)
        rows = make_billing_rows()
        rows[User] = world.customers[0]
        rows[UserProfile] = world.customers[0].profile
        rows[ApiKey] = ApiKeyFactory(user=world.customers[0])
        rows[AuditLog] = AuditLog.objects.order_by("-id").first()
        rows[UsageLog] = UsageLogFactory(user=world.customers[0])
        yield world, rows, finance_user(), staff_user()


@pytest.fixture
def finance_client(client, books):
    client.force_login(books[2])
    return client


@pytest.fixture
def staff_client(client, books):
    client.force_login(books[3])
    return client


def invoice_list_params(world) -> list[dict]:
    sent = world.invoice(InvoiceStatus.SENT)
    month = sent.period_start
    return [
        {},
        {"status__exact": InvoiceStatus.OVERDUE},
        {"period": f"{month:%Y-%m}"},
        {"overdue": "yes"},
        {"overdue": "0-30"},
        {"overdue": "31-60"},
        {"overdue": "61-90"},
        {"overdue": "90+"},
        {"overdue": "not_due"},
        {"reverse_charge__exact": "1"},
        {"country": "DE"},
        {"q": sent.number},
        {"q": sent.user.email},
        {"q": sent.user.profile.company_name},
        {"issue_date__year": sent.issue_date.year, "issue_date__month": sent.issue_date.month},
        {"status__exact": InvoiceStatus.PAID, "country": "FR", "o": "-5"},
        {"p": "1"},
    ]


@pytest.mark.django_db
@pytest.mark.usefixtures("books")
class TestFinancePagesOnAYearOfBooks:
    def test_the_invoice_list_shows_what_finance_reads_at_a_glance(self, finance_client, books):
        world = books[0]
        overdue = next(i for i in world.invoices if i.status == InvoiceStatus.OVERDUE and i.due_date < world.today)

        response = finance_client.get(admin_url(Invoice, "changelist"), {"q": overdue.number})

        content = response.content.decode()
        assert response.context["cl"].result_count == 1
        for text in (overdue.number, overdue.user.email, overdue.user.profile.company_name, money(overdue.total, "EUR"),
                     money(overdue.amount_due, "EUR"), 'tmcp-badge tmcp-badge-overdue'):
            assert text in content
        assert f'<td class="field-days_overdue">{(world.today - overdue.due_date).days}</td>' in content

    @pytest.mark.parametrize("case", range(17))
    def test_every_invoice_filter_and_search_answers_in_bounded_queries(
        self, finance_client, books, case, django_assert_max_num_queries
    ):
        params = invoice_list_params(books[0])[case]

        with django_assert_max_num_queries(MAX_QUERIES_PER_PAGE):
            response = finance_client.get(admin_url(Invoice, "changelist"), params)

        assert response.status_code == 200
        assert "?e=1" not in response.get("Location", "")

    def test_filters_select_what_they_say(self, finance_client, books):
        world = books[0]
        today = world.today

        def numbers(**params):
            return {invoice.pk for invoice in changelist_rows(finance_client, Invoice, **params)}

        issued = [invoice for invoice in world.invoices if invoice.is_issued]
        assert numbers(country="DE") == {i.pk for i in issued if i.billing_details["buyer"]["country"] == "DE"} | {
            i.pk for i in world.invoices if not i.is_issued and i.billing_details["buyer"]["country"] == "DE"
        }
        assert numbers(overdue="31-60") == {
            i.pk for i in world.invoices
            if i.status in (InvoiceStatus.SENT, InvoiceStatus.OVERDUE) and 31 <= (today - i.due_date).days <= 60
        }
        assert numbers(reverse_charge__exact="1") == {i.pk for i in world.invoices if i.reverse_charge}

    @pytest.mark.parametrize("model", FINANCE_MODELS, ids=lambda model: model.__name__)
    def test_every_list_and_detail_page_answers_in_bounded_queries(
        self, finance_client, books, model, django_assert_max_num_queries
    ):
        record = books[1][model]

        with django_assert_max_num_queries(MAX_QUERIES_PER_PAGE):
            listing = finance_client.get(admin_url(model, "changelist"))
        with django_assert_max_num_queries(MAX_QUERIES_PER_PAGE):
            detail = finance_client.get(admin_url(record, "change"))

        assert listing.status_code == 200
        assert detail.status_code == 200

    @pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.PAID, InvoiceStatus.CANCELLED])
    def test_an_invoice_page_shows_lines_payments_credit_note_and_audit_trail(
        self, finance_client, books, status, django_assert_max_num_queries
    ):
        invoice = books[0].invoice(status)

        with django_assert_max_num_queries(MAX_QUERIES_PER_PAGE):
            response = finance_client.get(admin_url(invoice, "change"))

        inlines = {inline.opts.model: inline for inline in response.context["inline_admin_formsets"]}
        assert set(inlines) == {InvoiceLine, Payment, CreditApplication, CreditNote, EmailNotification}
        shown = {model: len(inline.formset.initial_forms) for model, inline in inlines.items()}
        assert shown[InvoiceLine] == 1
        assert shown[Payment] == (status == InvoiceStatus.PAID)
        assert shown[CreditNote] == (status == InvoiceStatus.CANCELLED)
        assert not any(inline.formset.extra_forms for model, inline in inlines.items() if model != InvoiceLine)
        trail = response.context["audit_trail"]
        assert [entry.action for entry in trail] == ([] if status == InvoiceStatus.DRAFT else ["invoice.finalize"])
        content = response.content.decode()
        assert 'id="audit-trail"' in content
        if invoice.is_issued:
            assert reverse("admin:billing_invoice_pdf", args=[invoice.pk]) in content

    def test_a_customer_page_shows_profile_subscription_credits_keys_usage_and_invoices(
        self, finance_client, books, django_assert_max_num_queries
    ):
        customer = books[0].customers[0]

        with django_assert_max_num_queries(MAX_QUERIES_PER_PAGE):
            response = finance_client.get(admin_url(customer, "change"))

        models = [inline.opts.model for inline in response.context["inline_admin_formsets"]]
        assert models == [UserProfile, Subscription, Credit, OneOffCharge, ApiKey, Invoice]
        assert "Current period" in response.content.decode()
        assert [button.action for button in response.context["object_action_buttons"]] == ["grant_credit", "add_charge"]

    @pytest.mark.parametrize("page", ["billing_dashboard", "billing_exports"])
    def test_the_finance_pages_answer_in_bounded_queries(
        self, finance_client, page, django_assert_max_num_queries
    ):
        with django_assert_max_num_queries(MAX_QUERIES_PER_PAGE):
            response = finance_client.get(reverse(f"admin:{page}"))

        assert response.status_code == 200

    def test_the_index_links_the_dashboard_and_the_exports(self, finance_client):
        content = finance_client.get(reverse("admin:index")).content.decode()

        assert reverse("admin:billing_dashboard") in content
        assert reverse("admin:billing_exports") in content


def selection_totals(response) -> dict[str, tuple[str, str]]:
    """The totals table under the invoice list: {currency: (total, amount due)} as printed."""
    table = re.search(r'<table[^>]*id="selection-totals".*?</table>', response.content.decode(), re.S)
    assert table, "no totals under the list"
    return {
        currency: (total, due)
        for currency, total, due in re.findall(
            r"<tr><th>(\w+)</th><td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td></tr>", table.group(0)
        )
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("books")
class TestInvoiceListFitsFinanceReading:
    def test_the_columns_are_the_ones_finance_reads_first(self, finance_client):
        response = finance_client.get(admin_url(Invoice, "changelist"))

        headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', response.content.decode())
        assert headers == [
            "reference", "customer", "status_badge", "total_with_currency", "amount_due_with_currency",
            "due_date", "days_overdue",
        ]

    def test_an_invoice_that_is_not_a_period_s_says_its_kind_under_its_number(self, finance_client, books):
        invoice = books[0].invoice(InvoiceStatus.SENT)
        Invoice.objects.filter(pk=invoice.pk).update(kind=InvoiceKind.INTERIM)

        response = finance_client.get(admin_url(Invoice, "changelist"), {"q": invoice.number})

        cell = re.search(r'<th class="field-reference">(.*?)</th>', response.content.decode(), re.S).group(1)
        assert invoice.number in cell and "Interim" in cell

    def test_the_customer_column_names_the_company_and_the_email(self, finance_client, books):
        invoice = books[0].invoice(InvoiceStatus.SENT)

        response = finance_client.get(admin_url(Invoice, "changelist"), {"q": invoice.number})

        cell = re.search(r'<td class="field-customer">(.*?)</td>', response.content.decode(), re.S).group(1)
        assert invoice.billing_details["buyer"]["company_name"] in cell
        assert invoice.user.email in cell


@pytest.mark.django_db
@pytest.mark.usefixtures("books")
class TestFilteredSelectionTotals:
    def test_totals_cover_every_page_of_the_selection_to_the_cent(self, finance_client, books):
        world = books[0]

        response = finance_client.get(admin_url(Invoice, "changelist"), {"q": "@world.test"})

        assert response.context["cl"].result_count == len(world.invoices) > response.context["cl"].list_per_page
        total = sum(invoice.total for invoice in world.invoices)
        due = sum(invoice.amount_due for invoice in world.invoices)
        assert selection_totals(response) == {"EUR": (f"{total:,}\xa0EUR", f"{due:,}\xa0EUR")}

    def test_totals_follow_the_filters(self, finance_client, books):
        overdue = [invoice for invoice in books[0].invoices if invoice.status == InvoiceStatus.OVERDUE]

        response = finance_client.get(
            admin_url(Invoice, "changelist"), {"q": "@world.test", "status__exact": InvoiceStatus.OVERDUE}
        )

        total = sum(invoice.total for invoice in overdue)
        due = sum(invoice.amount_due for invoice in overdue)
        assert selection_totals(response) == {"EUR": (f"{total:,}\xa0EUR", f"{due:,}\xa0EUR")}

    def test_each_currency_has_its_own_totals(self, finance_client, books):
        sent = [invoice for invoice in books[0].invoices if invoice.status == InvoiceStatus.SENT]
        in_dollars = sent[0]
        Invoice.objects.filter(pk=in_dollars.pk).update(currency="USD")

        response = finance_client.get(
            admin_url(Invoice, "changelist"), {"q": "@world.test", "status__exact": InvoiceStatus.SENT}
        )

        euros = sent[1:]
        assert selection_totals(response) == {
            "EUR": (f"{sum(i.total for i in euros):,}\xa0EUR", f"{sum(i.amount_due for i in euros):,}\xa0EUR"),
            "USD": (f"{in_dollars.total:,}\xa0USD", f"{in_dollars.amount_due:,}\xa0USD"),
        }

    def test_an_empty_selection_shows_no_totals(self, finance_client):
        response = finance_client.get(admin_url(Invoice, "changelist"), {"q": "no-such-invoice"})

        assert 'id="selection-totals"' not in response.content.decode()


@pytest.mark.django_db
class TestIssuedInvoicePageReadsLikeTheDocument:
    @pytest.fixture
    def page(self, client):
        subscription = SubscriptionFactory(
            current_period_start=datetime.date(2026, 11, 1), current_period_end=datetime.date(2026, 12, 1)
        )
        invoice = issued_invoice(subscription=subscription, currency="EUR")  # 19.00 + 20 % = 22.80
        client.force_login(finance_user())
        response = client.get(admin_url(invoice, "change"))
        assert response.status_code == 200
        return response.content.decode()

    @staticmethod
    def shown(page: str, field: str) -> str:
        match = re.search(rf'field-{field}\b.*?<div class="readonly">(.*?)</div>', page, re.S)
        assert match, f"{field} is not on the page"
        return match.group(1).strip()

    def test_the_period_ends_on_its_last_day(self, page):
        assert self.shown(page, "billed_period") == "1 November 2026 – 30 November 2026"
        assert "Dec. 1, 2026" not in page

    def test_the_tax_rate_is_a_percentage(self, page):
        assert self.shown(page, "tax_percent") == "20\xa0%"

    def test_amounts_carry_their_currency(self, page):
        assert self.shown(page, "subtotal_as_issued") == "19.00\xa0EUR"
        assert self.shown(page, "tax_amount_as_issued") == "3.80\xa0EUR"
        assert self.shown(page, "total_as_issued") == "22.80\xa0EUR"
        assert self.shown(page, "amount_due_as_issued") == "22.80\xa0EUR"

    def test_lines_show_plain_quantities_and_priced_amounts(self, page):
        line = re.search(r'<td class="field-plain_quantity">\s*<p>(.*?)</p>', page, re.S)
        assert line and line.group(1) == "1"
        assert "1.000000" not in page
        assert re.search(r'<td class="field-amount_with_currency">\s*<p>19.00\xa0EUR</p>', page)

    def test_a_usage_line_shows_its_tokens_and_price_per_million(self, client):
        invoice = issued_invoice(currency="EUR")
        InvoiceLineFactory(
            invoice=invoice, kind=LineKind.USAGE, position=1, description="Usage", quantity=35_161_291,
            unit_price=Decimal("2.00"), price_base_quantity=1_000_000, amount=Decimal("70.32"),
        )
        client.force_login(finance_user())

        page = client.get(admin_url(invoice, "change")).content.decode()

        assert re.search(r'<td class="field-plain_quantity">\s*<p>35,161,291 tokens</p>', page)
        assert re.search(r'<td class="field-price_with_currency">\s*<p>2.00\xa0EUR / million tokens</p>', page)

    def test_a_draft_keeps_its_editable_fields(self, client):
        draft = InvoiceFactory()
        client.force_login(finance_user())

        response = client.get(admin_url(draft, "change"))

        assert {"period_end", "tax_rate", "total"} <= editable_field_names(response)


@pytest.mark.django_db
@pytest.mark.usefixtures("books")
class TestStaffOutsideFinance:
    @pytest.mark.parametrize(
        "model", [*MODELS, UserProfile, ApiKey, AuditLog, UsageLog], ids=lambda model: model.__name__
    )
    def test_see_no_billing_data(self, staff_client, books, model):
        assert staff_client.get(admin_url(model, "changelist")).status_code == 403
        assert staff_client.get(admin_url(books[1][model], "change")).status_code == 403

    @pytest.mark.parametrize("page", ["billing_dashboard", "billing_exports"])
    def test_are_refused_the_finance_pages(self, staff_client, page):
        assert staff_client.get(reverse(f"admin:{page}")).status_code == 403

    def test_cannot_run_an_action(self, staff_client, books):
        draft = books[0].invoice(InvoiceStatus.DRAFT)

        response = staff_client.post(
            admin_url(Invoice, "changelist"),
            {"action": "finalize_and_send", "index": 0, "_selected_action": [draft.pk]},
        )

        assert response.status_code == 403
        draft.refresh_from_db()
        assert draft.status == InvoiceStatus.DRAFT

    def test_cannot_download_an_invoice(self, staff_client, books):
        invoice = books[0].invoice(InvoiceStatus.PAID)

        assert staff_client.get(reverse("admin:billing_invoice_pdf", args=[invoice.pk])).status_code == 403

    def test_the_index_shows_no_finance_link(self, staff_client):
        content = staff_client.get(reverse("admin:index")).content.decode()

        assert reverse("admin:billing_dashboard") not in content


@pytest.mark.django_db
@pytest.mark.usefixtures("books")
class TestFinanceCannotCorruptTheBooks:
    def test_a_forged_post_on_an_issued_invoice_changes_nothing(self, finance_client, books):
        invoice = books[0].invoice(InvoiceStatus.SENT)
        before = Invoice.objects.filter(pk=invoice.pk).values().get()
        lines_before = list(invoice.lines.values())

        response = finance_client.post(
            admin_url(invoice, "change"),
            {
                "subtotal": "1.00", "tax_amount": "0.20", "total": "1.20", "amount_due": "0.00", "status": "PAID",
                "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "1", "lines-0-id": invoice.lines.get().pk,
                "lines-0-invoice": invoice.pk, "lines-0-amount": "1.00", "lines-0-unit_price": "1.00",
            },
        )

        assert response.status_code == 403
        assert Invoice.objects.filter(pk=invoice.pk).values().get() == before
        assert list(invoice.lines.values()) == lines_before

    def test_a_draft_is_still_corrected_by_hand(self, finance_client, books):
        draft = books[0].invoice(InvoiceStatus.DRAFT)
        page = finance_client.get(admin_url(draft, "change"))

        response = finance_client.post(
            admin_url(draft, "change"), unchanged_form_data(page) | {"due_date": "2031-01-31"}
        )

        assert response.status_code == 302
        draft.refresh_from_db()
        assert draft.due_date == datetime.date(2031, 1, 31)

    @pytest.mark.parametrize("model", LEDGER_MODELS + [BillingAlert], ids=lambda model: model.__name__)
    def test_ledgers_are_read_only(self, finance_client, books, model):
        record = books[1][model]

        assert finance_client.get(admin_url(model, "add")).status_code == 403
        assert finance_client.post(admin_url(record, "change"), {}).status_code == 403
        assert finance_client.post(admin_url(record, "delete"), {"post": "yes"}).status_code == 403

    def test_finance_deletes_nothing(self, finance_client, books):
        draft = books[0].invoice(InvoiceStatus.DRAFT)

        assert finance_client.post(admin_url(draft, "delete"), {"post": "yes"}).status_code == 403
        assert Invoice.objects.filter(pk=draft.pk).exists()

    def test_a_customer_cannot_be_made_staff(self, finance_client, books):
        customer = books[0].customers[1]
        page = finance_client.get(admin_url(customer, "change"))

        response = finance_client.post(
            admin_url(customer, "change"),
            unchanged_form_data(page) | {"first_name": "Renamed", "is_staff": "on", "is_superuser": "on"},
        )

        assert response.status_code == 302
        customer.refresh_from_db()
        assert customer.first_name == "Renamed"
        assert not customer.is_staff and not customer.is_superuser

    def test_staff_accounts_and_passwords_are_for_superusers(self, finance_client, books):
        finance = books[2]

        response = finance_client.post(admin_url(finance, "change"), {"email": finance.email, "is_superuser": "on"})

        assert response.status_code == 403
        customer = books[0].customers[2]
        password_url = reverse("admin:auth_user_password_change", args=[customer.pk])
        assert finance_client.get(password_url).status_code == 403
        finance.refresh_from_db()
        assert not finance.is_superuser

    def test_api_keys_are_revoked_not_edited(self, finance_client, books):
        api_key = books[1][ApiKey]

        response = finance_client.post(admin_url(api_key, "change"), {"name": "x", "scopes": '["usage:write"]'})

        assert response.status_code == 403
        api_key.refresh_from_db()
        assert api_key.scopes == ["docs:read"]


@pytest.mark.django_db
class TestFinanceGroup:
    def test_the_migrations_give_finance_exactly_its_permissions(self):
        Group.objects.filter(name=FINANCE_GROUP).delete()
        for name in (
            "0004_finance_group", "0007_finance_views_webhook_events", "0013_access_suspension_lift",
            "0014_payment_provider_customer", "0020_coupons", "0021_one_off_charges",
            "0023_plan_version_moves", "0025_partial_credit_notes", "0026_buyer_snapshots",
        ):
            historical_apps = MigrationExecutor(connection).loader.project_state(("billing", name)).apps
            migration = importlib.import_module(f"billing.migrations.{name}")
            if name.startswith("0004"):
                migration.create_finance_group(historical_apps, None)
            else:
                group_permissions_grant(
                    historical_apps, group=migration.FINANCE_GROUP, app_label="billing", codenames=migration.CODENAMES
                )
        webhooks_rights = ("webhooks", "0002_schedule_and_finance_rights")
        migration = importlib.import_module(f"webhooks.migrations.{webhooks_rights[1]}")
        group_permissions_grant(MigrationExecutor(connection).loader.project_state(webhooks_rights).apps,
                                group=FINANCE_GROUP, app_label="webhooks", codenames=migration.CODENAMES)

        group = Group.objects.get(name=FINANCE_GROUP)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert granted == finance_permission_names()
        assert not any(name.split(".")[1].startswith("delete_") for name in granted)
        assert {"billing.view_invoice", "billing.change_invoice", "billing.add_payment", "billing.add_credit",
                "accounts.change_apikey", "libraries.view_usagelog"} <= granted
        assert not {"accounts.view_oauthtoken", "accounts.view_consentrecord", "auth.change_group"} & granted

    def test_superusers_keep_every_action(self, admin_client):
        response = admin_client.get(admin_url(Invoice, "changelist"))

        actions = {name for name, _ in response.context["action_form"].fields["action"].choices if name}
        assert {"finalize_and_send", "resend_email", "record_payment", "cancel_with_credit_note",
                "download_pdfs"} <= actions
