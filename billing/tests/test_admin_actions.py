"""The admin actions, run by a Finance user through the test client: each calls its service once per object,
says what it did, writes an audit row, and turns a refused operation into a message, never an error page."""
import datetime
import io
import uuid
import zipfile
from decimal import Decimal

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from accounts.models import AuditLog, User
from accounts.tests.admin_helpers import admin_url, editable_field_names, unchanged_form_data
from accounts.tests.factories import ApiKeyFactory, UserProfileFactory
from billing import clock
from billing.exceptions import BillingError
from billing.models import (
    Credit,
    CreditNote,
    CreditType,
    EmailKind,
    EmailNotification,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from billing.periods import start_of_day
from billing.services import (
    invoice_cancel,
    invoice_finalize,
    payment_record,
    plan_new_version,
    subscription_change_plan,
)
from billing.subscriptions.lifecycle import subscription_change_preview
from billing.tests.admin_world import audit_actions
from billing.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory


def start_action(client, model, action: str, objects, **data):
    """What the list's action menu (or an object's button) posts: the action and the selected rows."""
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "index": 0, "_selected_action": [obj.pk for obj in objects], **data},
    )


def apply_action(client, model, action: str, objects, **data):
    """What the action's intermediate page posts back once its form is filled in."""
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objects], "apply": "1", **data},
    )


@pytest.fixture
def monday():
    """A Monday of November 2026, 10:30 in Paris, the clock stopped: October is the period just billed."""
    with time_machine.travel(datetime.datetime(2026, 11, 16, 9, 30, tzinfo=datetime.UTC), tick=False):
        yield


def shown_token(response) -> str:
    """The one-time token an action's form page rendered (what the browser posts back)."""
    token = str(response.context["form"]["token"].value())
    assert f'name="token" value="{token}"' in response.content.decode()
    return token


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def audit_rows(obj, action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(object_type=obj._meta.label, object_id=str(obj.pk), action=action))


def issued_invoice(**fields) -> Invoice:
    """A draft of 22.80 EUR finalised by the service: numbered, SENT, due in 30 days."""
    return invoice_finalize(invoice=InvoiceFactory(**fields))


@pytest.mark.django_db
class TestFinaliseAndSend:
    def test_drafts_get_their_numbers_in_order_then_their_pdf_and_email(
        self, finance_client, finance, django_capture_on_commit_callbacks
    ):
        drafts = [InvoiceFactory(), InvoiceFactory()]

        with django_capture_on_commit_callbacks(execute=True):
            response = start_action(finance_client, Invoice, "finalize_and_send", reversed(drafts))

        assert response.status_code == 302
        first, second = (Invoice.objects.get(pk=draft.pk) for draft in drafts)
        assert (first.status, second.status) == (InvoiceStatus.SENT, InvoiceStatus.SENT)
        assert first.number < second.number
        assert first.pdf and second.pdf
        assert {message.to[0] for message in mail.outbox} == {first.user.email, second.user.email}
        for invoice in (first, second):
            [entry] = audit_rows(invoice, "invoice.finalize")
            assert entry.actor == finance
        assert any("Finalised and sent (2)" in text for text in messages_of(response))

    def test_an_issued_invoice_is_refused_with_a_message(self, finance_client):
        invoice = issued_invoice()

        response = start_action(finance_client, Invoice, "finalize_and_send", [invoice])

        assert response.status_code == 302
        assert any(invoice.number in text and "cannot move from SENT to SENT" in text for text in messages_of(response))
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT


@pytest.mark.django_db
class TestResendEmail:
    def test_sends_the_invoice_again_with_its_pdf(self, finance_client, finance, django_capture_on_commit_callbacks):
        invoice = issued_invoice()

        with django_capture_on_commit_callbacks(execute=True):
            response = start_action(finance_client, Invoice, "resend_email", [invoice])

        assert response.status_code == 302
        resent = EmailNotification.objects.get(invoice=invoice, key__startswith=f"invoice-resent:{invoice.pk}:")
        assert resent.kind == EmailKind.INVOICE_ISSUED
        [message] = [message for message in mail.outbox if message.to == [invoice.user.email]]
        assert message.attachments[0][0] == f"{invoice.number}.pdf"
        [entry] = audit_rows(invoice, "invoice.resend")
        assert entry.actor == finance and entry.changes == {"email": resent.key}

    def test_a_draft_has_nothing_to_resend(self, finance_client):
        draft = InvoiceFactory()

        response = start_action(finance_client, Invoice, "resend_email", [draft])

        assert any("draft" in text for text in messages_of(response))
        assert not EmailNotification.objects.exists()


@pytest.mark.django_db
class TestRecordPayment:
    def payment_form(self, invoice, **changes) -> dict:
        return {
            "amount": str(invoice.amount_due), "method": PaymentMethod.BANK_TRANSFER, "reference": "VIR 2026-11 ACME",
            "received_on": clock.today().isoformat(), "token": str(uuid.uuid4()), **changes,
        }

    def test_the_form_offers_the_amount_due(self, finance_client):
        invoice = issued_invoice()

        response = start_action(finance_client, Invoice, "record_payment", [invoice])

        assert response.status_code == 200
        assert response.templates[0].name == "admin/action_form.html"
        form = response.context["form"]
        assert form.initial["amount"] == Decimal("22.80")
        assert form["method"].value() == PaymentMethod.BANK_TRANSFER

    def test_records_a_completed_payment_that_settles_the_invoice(self, finance_client, finance):
        invoice = issued_invoice()

        response = apply_action(finance_client, Invoice, "record_payment", [invoice], **self.payment_form(invoice))

        assert response.status_code == 302
        payment = Payment.objects.get(invoice=invoice)
        assert (payment.amount, payment.status, payment.method, payment.provider_reference) == (
            Decimal("22.80"), PaymentStatus.COMPLETED, PaymentMethod.BANK_TRANSFER, "VIR 2026-11 ACME",
        )
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == (InvoiceStatus.PAID, Decimal("0.00"))
        [entry] = audit_rows(payment, "payment.record")
        assert entry.actor == finance
        assert any("Payment recorded (1)" in text for text in messages_of(response))

    def test_a_payment_received_earlier_is_dated_that_day(self, finance_client):
        invoice = issued_invoice(period_start=datetime.date(2026, 9, 1), period_end=datetime.date(2026, 10, 1))
        invoice.issue_date = clock.today() - datetime.timedelta(days=10)
        invoice.save(update_fields=["issue_date"])
        received_on = clock.today() - datetime.timedelta(days=3)

        apply_action(
            finance_client, Invoice, "record_payment", [invoice],
            **self.payment_form(invoice, received_on=received_on.isoformat()),
        )

        payment = Payment.objects.get(invoice=invoice)
        assert payment.processed_at == start_of_day(received_on) + datetime.timedelta(hours=12)

    def test_the_same_form_sent_twice_records_one_payment(self, finance_client):
        invoice = issued_invoice()
        form = self.payment_form(invoice, amount="10.00")

        apply_action(finance_client, Invoice, "record_payment", [invoice], **form)
        apply_action(finance_client, Invoice, "record_payment", [invoice], **form)

        assert Payment.objects.filter(invoice=invoice).count() == 1
        invoice.refresh_from_db()
        assert invoice.amount_due == Decimal("12.80")

    def test_the_form_shown_posted_five_times_records_one_payment(self, finance_client, monday):
        invoice = issued_invoice()
        token = shown_token(start_action(finance_client, Invoice, "record_payment", [invoice]))

        for _ in range(5):
            apply_action(
                finance_client, Invoice, "record_payment", [invoice],
                **self.payment_form(invoice, amount="10.00", token=token),
            )

        assert Payment.objects.filter(invoice=invoice).count() == 1
        invoice.refresh_from_db()
        assert invoice.amount_due == Decimal("12.80")

    def test_more_than_is_due_becomes_a_credit(self, finance_client):
        invoice = issued_invoice()

        apply_action(finance_client, Invoice, "record_payment", [invoice], **self.payment_form(invoice, amount="30.00"))

        assert Credit.objects.get(user=invoice.user).amount == Decimal("7.20")

    @pytest.mark.parametrize(
        "changes",
        [
            {"amount": "0"}, {"amount": "-5"}, {"amount": "1.001"}, {"amount": "lots"}, {"method": "CASH"},
            {"received_on": (clock.today() + datetime.timedelta(days=3)).isoformat()}, {"token": ""},
        ],
        ids=["zero", "negative", "fraction-of-cent", "not-a-number", "unknown-method", "future", "no-token"],
    )
    def test_bad_input_shows_the_form_again_and_records_nothing(self, finance_client, changes):
        invoice = issued_invoice()

        response = apply_action(
            finance_client, Invoice, "record_payment", [invoice], **self.payment_form(invoice, **changes)
        )

        assert response.status_code == 200
        assert response.context["form"].errors
        assert not Payment.objects.exists()

    def test_a_cancelled_invoice_is_refused_with_a_message(self, finance_client):
        invoice = invoice_cancel(invoice=issued_invoice(), reason="Billed twice")

        response = apply_action(finance_client, Invoice, "record_payment", [invoice], **self.payment_form(invoice))

        assert response.status_code == 302
        assert any("cannot be paid" in text for text in messages_of(response))
        assert not Payment.objects.exists()

    def test_payments_are_recorded_one_invoice_at_a_time(self, finance_client):
        invoices = [issued_invoice(), issued_invoice()]

        response = start_action(finance_client, Invoice, "record_payment", invoices)

        assert response.status_code == 302
        assert any("Select exactly one invoice" in text for text in messages_of(response))

    def test_from_the_invoice_page_it_comes_back_to_the_invoice(self, finance_client):
        invoice = issued_invoice()
        page = finance_client.get(admin_url(invoice, "change"))
        assert "record_payment" in {button.action for button in page.context["object_action_buttons"]}

        form_page = start_action(finance_client, Invoice, "record_payment", [invoice], _return_to="change")
        response = apply_action(
            finance_client, Invoice, "record_payment", [invoice], _return_to="change", **self.payment_form(invoice)
        )

        assert 'name="_return_to" value="change"' in form_page.content.decode()
        assert response.url == admin_url(invoice, "change")


@pytest.mark.django_db
class TestCancelWithCreditNote:
    def test_other_without_a_detail_is_refused_and_writes_nothing(self, finance_client):
        invoice = issued_invoice()

        response = apply_action(
            finance_client, Invoice, "cancel_with_credit_note", [invoice], reason_code="OTHER", reason="  "
        )

        assert response.status_code == 200
        assert "reason" in response.context["form"].errors
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.SENT
        assert not CreditNote.objects.exists()

    def test_the_reason_is_picked_from_the_list(self, finance_client):
        invoice = issued_invoice()

        response = apply_action(finance_client, Invoice, "cancel_with_credit_note", [invoice])

        assert response.status_code == 200
        assert "reason_code" in response.context["form"].errors
        assert [code for code, _ in response.context["form"].fields["reason_code"].choices] == [
            "BILLING_ERROR", "DUPLICATE", "NOT_DELIVERED", "COMMERCIAL_GESTURE", "CUSTOMER_REQUEST", "OTHER",
        ]
        assert not CreditNote.objects.exists()

    def test_issues_a_credit_note_with_the_reason_code_and_its_detail(self, finance_client, finance):
        invoice = issued_invoice()

        response = apply_action(
            finance_client, Invoice, "cancel_with_credit_note", [invoice], reason_code="DUPLICATE",
            reason="Duplicate of TMCP-2026-000001",
        )

        assert response.status_code == 302
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.CANCELLED
        credit_note = CreditNote.objects.get(invoice=invoice)
        assert (credit_note.amount, credit_note.reason_code, credit_note.reason) == (
            Decimal("22.80"), "DUPLICATE", "Duplicate of TMCP-2026-000001"
        )
        assert credit_note.reason_text() == "Duplicate invoice — Duplicate of TMCP-2026-000001"
        assert audit_rows(invoice, "invoice.cancel")[0].actor == finance
        assert audit_rows(credit_note, "credit_note.issue")

    def test_the_same_form_posted_five_times_issues_one_credit_note(self, finance_client, monday):
        invoice = issued_invoice()
        payment_record(invoice=invoice, amount=Decimal("10.00"), idempotency_key="bank:VIR-1", now=clock.now())

        for _ in range(5):
            apply_action(
                finance_client, Invoice, "cancel_with_credit_note", [invoice], reason_code="DUPLICATE", reason=""
            )

        assert CreditNote.objects.filter(invoice=invoice).count() == 1
        refunds = Credit.objects.filter(user=invoice.user).values_list("type", "amount")
        assert list(refunds) == [(CreditType.REFUND, Decimal("10.00"))]

    def test_a_cancelled_invoice_is_refused_with_a_message(self, finance_client):
        invoice = invoice_cancel(invoice=issued_invoice(), reason="Billed twice")

        response = apply_action(
            finance_client, Invoice, "cancel_with_credit_note", [invoice], reason_code="OTHER", reason="Again"
        )

        assert any("cannot move from CANCELLED to CANCELLED" in text for text in messages_of(response))
        assert CreditNote.objects.count() == 1


@pytest.mark.django_db
class TestDownloadPdfs:
    def test_the_selected_invoices_come_as_one_zip(self, finance_client, finance):
        invoices = [issued_invoice(), issued_invoice()]
        draft = InvoiceFactory()

        response = start_action(finance_client, Invoice, "download_pdfs", [*invoices, draft])

        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert sorted(archive.namelist()) == sorted(f"{invoice.number}.pdf" for invoice in invoices)
        assert all(archive.read(name).startswith(b"%PDF") for name in archive.namelist())
        for invoice in invoices:
            assert audit_rows(invoice, "invoice.pdf_download")[0].actor == finance

    def test_drafts_alone_give_a_message(self, finance_client):
        response = start_action(finance_client, Invoice, "download_pdfs", [InvoiceFactory()])

        assert response.status_code == 302
        assert any("drafts have none" in text for text in messages_of(response))

    def test_one_pdf_opens_from_the_invoice_page(self, finance_client):
        invoice = issued_invoice()

        response = finance_client.get(reverse("admin:billing_invoice_pdf", args=[invoice.pk]))

        assert response["Content-Type"] == "application/pdf"
        assert b"".join(response.streaming_content).startswith(b"%PDF")
        assert finance_client.get(reverse("admin:billing_invoice_pdf", args=[InvoiceFactory().pk])).status_code == 404


@pytest.mark.django_db
class TestGrantCredit:
    def test_each_selected_customer_gets_the_credit(self, finance_client, finance):
        customers = [UserProfileFactory().user, UserProfileFactory().user]
        usable_until = clock.today() + datetime.timedelta(days=90)

        response = apply_action(
            finance_client, User, "grant_credit", customers,
            type=CreditType.COMPENSATION, amount="15.00", reason="Outage of 12 November",
            usable_until=usable_until.isoformat(), token=str(uuid.uuid4()),
        )

        assert response.status_code == 302
        for customer in customers:
            credit = Credit.objects.get(user=customer)
            assert (credit.type, credit.amount, credit.remaining_amount, credit.reason, credit.created_by) == (
                CreditType.COMPENSATION, Decimal("15.00"), Decimal("15.00"), "Outage of 12 November", finance,
            )
            assert credit.expires_at == start_of_day(usable_until + datetime.timedelta(days=1))
            assert audit_rows(credit, "credit.grant")[0].actor == finance

    def test_a_reason_and_a_positive_amount_are_required(self, finance_client):
        customer = UserProfileFactory().user

        response = apply_action(
            finance_client, User, "grant_credit", [customer], type=CreditType.PROMOTIONAL,
            amount="0", reason="", token=str(uuid.uuid4()),
        )

        assert response.status_code == 200
        assert set(response.context["form"].errors) == {"amount", "reason"}
        assert not Credit.objects.exists()

    def test_the_form_shown_posted_five_times_grants_one_credit_each(self, finance_client, monday):
        customers = [UserProfileFactory().user, UserProfileFactory().user]
        token = shown_token(start_action(finance_client, User, "grant_credit", customers))

        for _ in range(5):
            apply_action(
                finance_client, User, "grant_credit", customers, type=CreditType.COMPENSATION, amount="15.00",
                reason="Outage of 12 November", token=token,
            )

        for customer in customers:
            [credit] = Credit.objects.filter(user=customer)
            assert credit.amount == Decimal("15.00")
            assert len(audit_rows(credit, "credit.grant")) == 1

    def test_each_form_shown_grants_its_own_credit(self, finance_client, monday):
        customer = UserProfileFactory().user

        for _ in range(2):
            token = shown_token(start_action(finance_client, User, "grant_credit", [customer]))
            apply_action(
                finance_client, User, "grant_credit", [customer], type=CreditType.PROMOTIONAL, amount="5.00",
                reason="Welcome", token=token,
            )

        assert Credit.objects.filter(user=customer).count() == 2

    def test_a_form_without_its_token_grants_nothing(self, finance_client):
        customer = UserProfileFactory().user

        response = apply_action(
            finance_client, User, "grant_credit", [customer], type=CreditType.PROMOTIONAL, amount="5.00",
            reason="Welcome",
        )

        assert response.status_code == 200
        assert set(response.context["form"].errors) == {"token"}
        assert not Credit.objects.exists()


@pytest.mark.django_db
class TestRevokeApiKey:
    def test_asks_to_confirm_then_revokes(self, finance_client, finance):
        api_key = ApiKeyFactory()

        confirmation = start_action(finance_client, api_key.__class__, "revoke", [api_key])
        response = apply_action(finance_client, api_key.__class__, "revoke", [api_key])

        assert confirmation.status_code == 200
        api_key.refresh_from_db()
        assert response.status_code == 302
        assert api_key.revoked_at is not None
        assert audit_rows(api_key, "api_key.revoke")[0].actor == finance

    def test_the_key_page_has_the_button_until_revoked(self, finance_client):
        api_key = ApiKeyFactory()

        before = finance_client.get(admin_url(api_key, "change"))
        apply_action(finance_client, api_key.__class__, "revoke", [api_key])
        after = finance_client.get(admin_url(api_key, "change"))

        assert [button.action for button in before.context["object_action_buttons"]] == ["revoke"]
        assert after.context["object_action_buttons"] == []


@pytest.mark.django_db
class TestSubscriptionActions:
    @pytest.mark.parametrize(
        ("action", "status_before", "status_after", "audit"),
        [
            ("pause", SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED, "subscription.pause"),
            ("resume", SubscriptionStatus.PAUSED, SubscriptionStatus.ACTIVE, "subscription.resume"),
        ],
    )
    def test_pause_and_resume(self, finance_client, finance, action, status_before, status_after, audit):
        subscription = SubscriptionFactory(status=status_before)

        response = start_action(finance_client, Subscription, action, [subscription])

        assert response.status_code == 302
        subscription.refresh_from_db()
        assert subscription.status == status_after
        assert audit_rows(subscription, audit)[0].actor == finance

    def test_cancel_at_period_end(self, finance_client):
        subscription = SubscriptionFactory()

        start_action(finance_client, Subscription, "cancel_at_period_end", [subscription])

        subscription.refresh_from_db()
        assert subscription.cancel_at_period_end and subscription.status == SubscriptionStatus.ACTIVE
        assert audit_actions(subscription) == ["subscription.cancel_at_period_end"]

    def test_a_refused_move_is_a_message(self, finance_client):
        subscription = SubscriptionFactory()

        response = start_action(finance_client, Subscription, "resume", [subscription])

        assert any("cannot move from ACTIVE to ACTIVE" in text for text in messages_of(response))

    def live_subscription(self) -> Subscription:
        today = clock.today()
        start = today.replace(day=1)
        end = (start + datetime.timedelta(days=32)).replace(day=1)
        return SubscriptionFactory(current_period_start=start, current_period_end=end)

    def test_changing_plan_previews_the_proration_first(self, finance_client):
        subscription = self.live_subscription()
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"))

        response = finance_client.post(
            admin_url(Subscription, "changelist"),
            {"action": "change_plan", "_selected_action": [subscription.pk], "plan": team.pk, "preview": "1"},
        )

        assert response.status_code == 200
        [row] = response.context["previews"]
        expected = subscription_change_preview(subscription=subscription, plan=team, now=clock.now())
        assert (row["preview"].current_fee, row["preview"].new_fee) == (expected.current_fee, expected.new_fee)
        assert f"{expected.difference} EUR" in response.content.decode()
        subscription.refresh_from_db()
        assert subscription.plan.code == "pro"

    def test_changing_plan_applies_the_previewed_plan(self, finance_client, finance):
        subscription = self.live_subscription()
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"))

        response = apply_action(
            finance_client, Subscription, "change_plan", [subscription], plan=team.pk, previewed_plan=team.pk
        )

        assert response.status_code == 302
        subscription.refresh_from_db()
        assert subscription.plan == team
        assert audit_rows(subscription, "subscription.change_plan")[0].actor == finance

    def test_the_same_change_posted_five_times_changes_the_plan_once(self, finance_client, monday):
        subscription = self.live_subscription()
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"))

        for _ in range(5):
            apply_action(
                finance_client, Subscription, "change_plan", [subscription], plan=team.pk, previewed_plan=team.pk
            )

        assert [(change.from_plan.code, change.to_plan.code) for change in subscription.plan_changes.all()] == [
            ("pro", "team")
        ]

    def test_finance_applies_a_scheduled_downgrade_at_once(self, finance_client, finance):
        with time_machine.travel(datetime.datetime(2026, 10, 20, 9, tzinfo=datetime.UTC), tick=False):
            team = PlanFactory(code="team", name="Team", price=Decimal("99.00"))
            subscription = SubscriptionFactory(
                plan=team, current_period_start=datetime.date(2026, 10, 1),
                current_period_end=datetime.date(2026, 11, 1),
            )
            subscription_change_plan(subscription=subscription, plan=PlanFactory())
            page = finance_client.get(admin_url(subscription, "change"))

            response = start_action(finance_client, Subscription, "apply_scheduled_change", [subscription])

        assert "apply_scheduled_change" in {button.action for button in page.context["object_action_buttons"]}
        assert response.status_code == 302
        subscription.refresh_from_db()
        assert subscription.plan.code == "pro"
        assert [(c.from_plan.code, c.to_plan.code, c.effective_date) for c in subscription.plan_changes.all()] == [
            ("team", "pro", datetime.date(2026, 10, 20))
        ]
        assert audit_rows(subscription, "subscription.change_plan")[0].actor == finance

    def test_the_preview_says_a_downgrade_waits_for_the_end_of_the_period(self, finance_client):
        subscription = SubscriptionFactory(
            plan=PlanFactory(code="team", name="Team", price=Decimal("99.00")),
            current_period_start=datetime.date(2026, 10, 1), current_period_end=datetime.date(2026, 11, 1),
        )

        with time_machine.travel(datetime.datetime(2026, 10, 20, 9, tzinfo=datetime.UTC), tick=False):
            response = finance_client.post(
                admin_url(Subscription, "changelist"),
                {"action": "change_plan", "_selected_action": [subscription.pk], "plan": PlanFactory().pk,
                 "preview": "1"},
            )

        assert "(downgrade: scheduled for the period's end)" in response.content.decode()
        [row] = response.context["previews"]
        assert (row["preview"].effective_date, row["preview"].difference) == (datetime.date(2026, 11, 1), 0)

    def test_applying_when_nothing_is_scheduled_says_so(self, finance_client):
        subscription = self.live_subscription()

        response = start_action(finance_client, Subscription, "apply_scheduled_change", [subscription])

        assert any("no plan change scheduled" in text for text in messages_of(response))
        subscription.refresh_from_db()
        assert subscription.plan.code == "pro"

    def test_a_plan_chosen_after_the_preview_is_previewed_before_it_applies(self, finance_client):
        subscription = self.live_subscription()
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"))
        business = PlanFactory(code="business", name="Business", price=Decimal("49.00"))

        response = apply_action(
            finance_client, Subscription, "change_plan", [subscription], plan=business.pk, previewed_plan=team.pk
        )

        assert response.status_code == 200
        assert response.context["previews"][0]["preview"].new_plan == business
        subscription.refresh_from_db()
        assert subscription.plan.code == "pro"


@pytest.mark.django_db
class TestPlans:
    def test_an_unused_plan_is_edited_freely(self, finance_client):
        plan = PlanFactory(code="scale", name="Scale", price=Decimal("49.00"))
        page = finance_client.get(admin_url(plan, "change"))

        response = finance_client.post(admin_url(plan, "change"), unchanged_form_data(page) | {"price": "59.00"})

        assert response.status_code == 302
        plan.refresh_from_db()
        assert plan.price == Decimal("59.00")

    def test_a_plan_in_use_keeps_its_terms_even_against_a_forged_post(self, finance_client):
        subscription = SubscriptionFactory()
        plan = subscription.plan
        page = finance_client.get(admin_url(plan, "change"))

        response = finance_client.post(
            admin_url(plan, "change"),
            unchanged_form_data(page) | {"name": "Pro (2026)", "price": "1.00", "included_tokens": "999999999"},
        )

        assert {"price", "included_tokens", "overage_price_per_million", "code"}.isdisjoint(editable_field_names(page))
        assert response.status_code == 302
        plan.refresh_from_db()
        assert (plan.name, plan.price, plan.included_tokens) == ("Pro (2026)", Decimal("19.00"), 5_000_000)

    def test_a_new_version_is_offered_and_subscribers_keep_theirs(self, finance_client, finance):
        subscription = SubscriptionFactory()
        plan = subscription.plan
        form_page = start_action(finance_client, Plan, "new_version", [plan])
        data = {
            **{name: value for name, value in form_page.context["form"].initial.items()},
            "price": "24.00", "included_tokens": "6000000",
        }

        response = apply_action(finance_client, Plan, "new_version", [plan], **{k: str(v) for k, v in data.items()})

        new_plan = Plan.objects.get(code=f"pro-{clock.today().year}")
        assert response.url == admin_url(new_plan, "change")
        assert (new_plan.price, new_plan.included_tokens, new_plan.is_active) == (Decimal("24.00"), 6_000_000, True)
        plan.refresh_from_db()
        subscription.refresh_from_db()
        assert not plan.is_active and plan.price == Decimal("19.00")
        assert subscription.plan == plan
        assert audit_rows(new_plan, "plan.new_version")[0].actor == finance
        assert audit_rows(plan, "plan.deactivate")

    def test_a_code_already_taken_is_a_message(self, finance_client):
        plan = SubscriptionFactory().plan
        PlanFactory(code="taken", name="Taken")
        form_page = start_action(finance_client, Plan, "new_version", [plan])
        data = {name: str(value) for name, value in form_page.context["form"].initial.items()} | {"code": "taken"}

        response = apply_action(finance_client, Plan, "new_version", [plan], **data)

        assert response.status_code == 200
        assert any("taken" in text for text in messages_of(response))
        plan.refresh_from_db()
        assert plan.is_active


@pytest.mark.django_db
class TestPlanNewVersionService:
    def test_copies_the_terms_with_the_changes_under_a_free_code(self):
        plan = PlanFactory(code="pro-2026", name="Pro", price=Decimal("19.00"))
        PlanFactory(code="pro-2027", name="Pro 2027")

        new_plan = plan_new_version(
            plan=plan, price="21.00", now=datetime.datetime(2027, 1, 10, tzinfo=datetime.UTC)
        )

        assert new_plan.code == "pro-2027-2"
        assert (new_plan.price, new_plan.included_tokens, new_plan.overage_price_per_million) == (
            Decimal("21.00"), plan.included_tokens, plan.overage_price_per_million,
        )
        plan.refresh_from_db()
        assert not plan.is_active

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"price": 21.0}, "never a float"),
            ({"price": "-1"}, "zero or more"),
            ({"price": "1.234"}, "at most 2 decimals"),
            ({"is_active": False}, "cannot change is_active"),
            ({"code": "pro"}, "is taken"),
            ({"code": "not a slug"}, "not a plan code"),
            ({"requests_per_minute": 0}, "at least 1"),
        ],
    )
    def test_refuses_bad_changes_and_changes_nothing(self, changes, message):
        plan = PlanFactory()

        with pytest.raises(BillingError, match=message):
            plan_new_version(plan=plan, **changes)

        assert list(Plan.objects.values_list("code", "is_active")) == [("pro", True)]


@pytest.mark.django_db
class TestCreditNoteDocument:
    def test_the_credit_note_pdf_opens_once_rendered(self, finance_client, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            invoice = invoice_cancel(invoice=issued_invoice(), reason="Billed twice")
        credit_note = CreditNote.objects.get(invoice=invoice)

        page = finance_client.get(admin_url(credit_note, "change"))
        response = finance_client.get(reverse("admin:billing_creditnote_pdf", args=[credit_note.pk]))

        assert reverse("admin:billing_creditnote_pdf", args=[credit_note.pk]) in page.content.decode()
        assert b"".join(response.streaming_content).startswith(b"%PDF")

    def test_a_cancelled_invoice_is_not_resent(self, finance_client):
        invoice = invoice_cancel(invoice=issued_invoice(), reason="Billed twice")

        response = start_action(finance_client, Invoice, "resend_email", [invoice])

        assert any("was cancelled" in text for text in messages_of(response))
        assert not EmailNotification.objects.filter(key__startswith="invoice-resent:").exists()
