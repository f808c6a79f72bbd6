"""Ledgers, written by services and read here: credit notes, numbers, payments, credits, alerts, emails,
and the payment provider's events."""
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.urls import path

from accounts.admin_mixins import ObjectAction, ObjectActionsMixin, ReadOnlyAdminMixin, action_page, back_to_object
from billing.backoffice.admin.common import money_column, run_for_each, single
from billing.backoffice.admin.invoices import credit_note_pdf_link
from billing.backoffice.forms import RefundPaymentForm
from billing.models import (
    BillingAlert,
    BuyerSnapshot,
    Credit,
    CreditApplication,
    CreditNote,
    CreditNoteLine,
    EmailNotification,
    NumberSequence,
    Payment,
    WebhookEvent,
)
from billing.payments.refunds import REFUNDABLE_STATUSES, is_stripe_card_payment, refund_left
from billing.services import card_payment_refund, recorded_payment_refund


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("number", "kind", "invoice", "customer", "amount_with_currency", "issue_date", "created_at")
    list_select_related = ("invoice__user",)
    list_filter = ("kind",)
    search_fields = ("number", "invoice__number", "invoice__user__email")
    date_hierarchy = "issue_date"
    ordering = ("-issue_date", "-id")
    fields = (
        "number", "invoice", "kind", "subtotal", "tax_rate", "tax_amount", "amount", "reason_code", "reason",
        "issue_date", "pdf_link", "pdf_sha256", "created_at",
    )
    readonly_fields = ("pdf_link",)

    amount_with_currency = money_column("amount", description="Amount", currency="invoice.currency")

    @admin.display(description="Customer", ordering="invoice__user__email")
    def customer(self, obj):
        return obj.invoice.user

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        return credit_note_pdf_link(obj)

    def get_urls(self):
        return [
            path("<path:object_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_creditnote_pdf"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, object_id):
        credit_note = self.get_object(request, unquote(object_id))
        if credit_note is None or not credit_note.pdf:
            raise Http404("No document for this credit note yet.")
        if not self.has_view_permission(request, credit_note):
            raise PermissionDenied
        return FileResponse(
            credit_note.pdf.open("rb"), filename=f"{credit_note.number}.pdf", content_type="application/pdf"
        )


@admin.register(CreditNoteLine)
class CreditNoteLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What each credit note credits, line by line: written with its credit note, never changed."""

    list_display = (
        "credit_note", "position", "kind", "description", "quantity", "unit_price", "price_base_quantity",
        "amount_with_currency",
    )
    list_select_related = ("credit_note__invoice",)
    list_filter = ("kind",)
    search_fields = ("description", "credit_note__number", "credit_note__invoice__number")
    ordering = ("-credit_note__issue_date", "credit_note", "position")
    raw_id_fields = ("credit_note", "invoice_line")

    amount_with_currency = money_column("amount", description="Amount", currency="credit_note.invoice.currency")


@admin.register(NumberSequence)
class NumberSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("kind", "year", "last_number")
    list_filter = ("kind", "year")
    ordering = ("-year", "kind")


@admin.register(Payment)
class PaymentAdmin(ObjectActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at", "invoice", "user", "amount_with_currency", "refunded_with_currency", "status", "method",
        "provider_reference", "processed_at",
    )
    list_select_related = ("invoice", "user")
    list_filter = ("status", "method", "currency")
    search_fields = ("invoice__number", "user__email", "provider_reference", "=idempotency_key")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    amount_with_currency = money_column("amount", description="Amount")
    refunded_with_currency = money_column("refunded_amount", description="Refunded")
    actions = ("refund",)
    object_actions = (ObjectAction("refund", "Refund"),)

    def has_refund_permission(self, request):
        # Who records money received records money handed back (Finance: add_payment).
        return request.user.has_perm("billing.add_payment")

    def object_action_applies(self, action, payment):
        return payment.status in REFUNDABLE_STATUSES and refund_left(payment) > 0

    @admin.action(description="Refund…", permissions=["refund"])
    def refund(self, request, queryset):
        payment = single(self, request, list(queryset), what="payment")
        if payment is None:
            return None
        by_stripe = is_stripe_card_payment(payment)
        form = RefundPaymentForm(
            request.POST if "apply" in request.POST else None, payment=payment, left=refund_left(payment)
        )
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            service = card_payment_refund if by_stripe else recorded_payment_refund
            run_for_each(
                self, request, [payment],
                lambda item: service(
                    payment=item, amount=data["amount"], reason=data["reason"], actor=request.user,
                    request_key=form.idempotency_key("refund", item), credit_note=form.credit_note_request(),
                ),
                done="Refunded through Stripe" if by_stripe else "Refund recorded",
            )
            return back_to_object(self, request, [payment])
        return action_page(
            self, request, [payment], action="refund", title=f"Refund payment {payment.pk}", form=form,
            submit_label="Refund through Stripe" if by_stripe else "Record the refund",
            intro="Stripe gives the amount back to the card; the books change once Stripe confirms it."
            if by_stripe else "Record money already handed back to the customer (a bank transfer back…).",
            summary=[
                ("Invoice", str(payment.invoice)),
                ("Customer", payment.user.email),
                ("Amount", f"{payment.amount} {payment.currency}"),
                ("Refunded", f"{payment.refunded_amount} {payment.currency}"),
                ("Method", payment.get_method_display()),
            ],
        )


@admin.register(Credit)
class CreditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at", "user", "type", "amount_with_currency", "remaining_with_currency", "expires_at", "created_by",
    )
    list_select_related = ("user", "created_by")
    list_filter = ("type", "currency", ("expires_at", admin.EmptyFieldListFilter))
    search_fields = ("user__email", "reason")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    amount_with_currency = money_column("amount", description="Amount")
    remaining_with_currency = money_column("remaining_amount", description="Remaining")


@admin.register(CreditApplication)
class CreditApplicationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "credit", "invoice", "amount_with_currency", "reversed_at")
    list_select_related = ("credit", "invoice")
    list_filter = (("reversed_at", admin.EmptyFieldListFilter),)
    search_fields = ("invoice__number", "credit__user__email")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    amount_with_currency = money_column("amount", description="Amount", currency="credit.currency")


@admin.register(BuyerSnapshot)
class BuyerSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The buyer as each version of a customer's profile stated them: what their invoices of that time print."""

    list_display = ("created_at", "user", "profile_version", "country", "tax_case", "language")
    list_select_related = ("user",)
    list_filter = ("tax_case", "country")
    search_fields = ("user__email",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    fields = ("user", "profile_version", "country", "tax_case", "language", "details", "created_at")


@admin.register(BillingAlert)
class BillingAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Alerts are raised once per occasion by the sweeps and read by the customer: a record, not a to-do."""

    list_display = ("created_at", "user", "type", "occasion", "read_at", "emailed_at")
    list_select_related = ("user",)
    list_filter = ("type", ("read_at", admin.EmptyFieldListFilter), ("emailed_at", admin.EmptyFieldListFilter))
    search_fields = ("user__email", "occasion", "message")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")


@admin.register(EmailNotification)
class EmailNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "recipient", "status", "attempts", "sent_at", "invoice")
    list_select_related = ("invoice",)
    list_filter = ("kind", "status", "language")
    search_fields = ("key", "recipient", "user__email", "invoice__number")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "type", "event_id", "status", "payment")
    list_select_related = ("payment__invoice",)  # a payment names its invoice
    list_filter = ("status", "type")
    search_fields = ("event_id",)
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
