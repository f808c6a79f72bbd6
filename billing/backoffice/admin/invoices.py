"""Invoices: find them fast, finalise, record a payment, grant credit, cancel with a credit note, resend."""
import datetime
import io
import zipfile

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import FileResponse, Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.admin_mixins import (
    FormChangesAuditMixin,
    ObjectAction,
    ObjectActionsMixin,
    ReadOnlyAdminMixin,
    action_page,
    back_to_object,
)
from accounts.services import audit_entry, audit_log_record_many
from billing import clock
from billing.backoffice.admin.common import (
    CANCELLABLE_STATUSES,
    OUTSTANDING_STATUSES,
    badge,
    money_column,
    run_for_each,
    single,
)
from billing.backoffice.forms import CancelInvoiceForm, PartialCreditNoteForm, RecordPaymentForm
from billing.exceptions import BillingError
from billing.models import (
    ISSUED_INVOICE_STATUSES,
    CreditApplication,
    CreditNote,
    EmailNotification,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentStatus,
)
from billing.periods import parse_month
from billing.selectors import invoice_lines_left_to_credit
from billing.services import (
    credit_effect,
    credit_note_card_refund,
    credit_note_partial_issue,
    credit_note_partial_price,
    invoice_cancel,
    invoice_email_resend,
    invoice_finalize,
    invoice_pdf_store,
    payment_record,
)
from billing.templatetags.billing_format import last_day, line_quantity, line_unit_price, long_date, money, percent


def invoice_is_editable(invoice: Invoice | None) -> bool:
    """Only a draft (or an invoice being added) is edited or deleted.

    An issued invoice is cancelled by a credit note instead, and a cancelled draft is closed.
    """
    return invoice is None or (not invoice.is_issued and invoice.status == InvoiceStatus.DRAFT)


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ("position", "kind", "description", "quantity", "unit_price", "price_base_quantity", "amount")
    # An issued invoice's lines read as on its document: plain quantities (tokens on a usage line), prices with
    # their currency (per million tokens).
    issued_fields = ("position", "kind", "description", "plain_quantity", "price_with_currency", "amount_with_currency")
    readonly_fields = issued_fields[3:]
    extra = 0

    def get_fields(self, request, obj=None):
        return self.fields if invoice_is_editable(obj) else self.issued_fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")  # each line shows the invoice's currency

    @admin.display(description="Quantity")
    def plain_quantity(self, line):
        return line_quantity(line)

    @admin.display(description="Unit price")
    def price_with_currency(self, line):
        return line_unit_price(line, line.invoice.currency)

    @admin.display(description="Amount")
    def amount_with_currency(self, line):
        return money(line.amount, line.invoice.currency)

    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and invoice_is_editable(obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and invoice_is_editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and invoice_is_editable(obj)


class PaymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Payment
    # Every charge attempt is a row: its key names the attempt, `failure_reason` says why the bank refused it.
    fields = (
        "created_at", "amount", "refunded_amount", "status", "failure_reason", "method", "idempotency_key",
        "provider_reference", "processed_at",
    )
    show_change_link = True
    ordering = ("created_at", "id")


class CreditNoteInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CreditNote
    fields = ("number", "kind", "issue_date", "subtotal", "tax_amount", "amount", "reason_code", "reason", "pdf_link")
    readonly_fields = fields
    show_change_link = True

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        return credit_note_pdf_link(obj)


class CreditApplicationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CreditApplication
    fields = ("credit", "amount", "created_at", "reversed_at")
    verbose_name_plural = "credits spent on this invoice"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("credit")


class EmailNotificationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EmailNotification
    fields = ("created_at", "kind", "recipient", "status", "attempts", "sent_at", "last_error")
    ordering = ("created_at", "id")
    verbose_name_plural = "emails"


class PeriodFilter(admin.SimpleListFilter):
    title = "billing period"
    parameter_name = "period"
    MONTHS_LISTED = 24

    def lookups(self, request, model_admin):
        months = Invoice.objects.dates("period_start", "month", order="DESC")[: self.MONTHS_LISTED]
        return [(f"{month:%Y-%m}", f"{month:%B %Y}") for month in months]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            month = parse_month(self.value())
        except BillingError:
            return queryset.none()
        return queryset.filter(period_start__gte=month.start, period_start__lt=month.end)


class OverdueFilter(admin.SimpleListFilter):
    """Unpaid invoices past their due date, aged like the dashboard: 0–30 is 1 to 30 days past due."""

    title = "overdue"
    parameter_name = "overdue"
    BUCKETS = {"0-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90), "90+": (91, None)}

    def lookups(self, request, model_admin):
        return (
            ("yes", "Overdue"),
            ("0-30", "0–30 days"),
            ("31-60", "31–60 days"),
            ("61-90", "61–90 days"),
            ("90+", "90+ days"),
            ("not_due", "Unpaid, not yet due"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        today = clock.today()
        unpaid = queryset.filter(status__in=OUTSTANDING_STATUSES)
        if value == "not_due":
            return unpaid.filter(due_date__gte=today)
        if value == "yes":
            return unpaid.filter(due_date__lt=today)
        if value not in self.BUCKETS:
            return queryset.none()
        first_day, last_day = self.BUCKETS[value]
        unpaid = unpaid.filter(due_date__lte=today - datetime.timedelta(days=first_day))
        if last_day is not None:
            unpaid = unpaid.filter(due_date__gte=today - datetime.timedelta(days=last_day))
        return unpaid


class CountryFilter(admin.SimpleListFilter):
    """The buyer's country as invoiced (the snapshot taken when the invoice was priced)."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request, model_admin):
        countries = (
            Invoice.objects.exclude(buyer_country="").values_list("buyer_country", flat=True).distinct()
            .order_by("buyer_country")
        )
        return [(country, country) for country in countries]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(buyer_country=self.value())


def credit_note_pdf_link(credit_note: CreditNote) -> str:
    if not credit_note.pdf:
        return "Not rendered yet"
    url = reverse("admin:billing_creditnote_pdf", args=[credit_note.pk])
    return format_html('<a href="{}">{}.pdf</a>', url, credit_note.number)


@admin.register(Invoice)
class InvoiceAdmin(FormChangesAuditMixin, ObjectActionsMixin, admin.ModelAdmin):
    list_display = (
        "reference", "customer", "status_badge", "total_with_currency", "amount_due_with_currency",
        "due_date", "days_overdue",
    )
    list_select_related = ("user__profile", "buyer_snapshot")
    list_filter = ("status", "kind", PeriodFilter, OverdueFilter, "reverse_charge", CountryFilter)
    search_fields = ("number", "user__email", "user__profile__company_name")
    autocomplete_fields = ("user", "subscription")
    inlines = (InvoiceLineInline, PaymentInline, CreditApplicationInline, CreditNoteInline, EmailNotificationInline)
    date_hierarchy = "issue_date"
    ordering = ("-period_start", "-id")
    fieldsets = (
        (None, {"fields": ("number", "kind", "status", "user", "subscription", "currency", "pdf_link")}),
        ("Dates", {"fields": ("period_start", "period_end", "issue_date", "due_date")}),
        (
            "Amounts",
            {"fields": (
                "subtotal", "tax_rate", "tax_amount", "total", "credit_applied", "amount_paid", "credited",
                "amount_due",
            )},
        ),
        ("Tax", {"fields": ("reverse_charge", "tax_mention")}),
        ("Buyer and seller as invoiced", {"fields": ("billed_parties",)}),
        ("Issued document", {"classes": ("collapse",), "fields": ("billing_details", "pdf_sha256")}),
        ("History", {"fields": ("created_at", "sent_at", "paid_at", "cancelled_at")}),
    )
    # An issued invoice's page reads like the document the customer has: the period's last day (not its excluded
    # end), the tax rate in percent, amounts with their currency.
    AS_ISSUED = {
        "period_start": "billed_period", "period_end": None, "tax_rate": "tax_percent",
        **{field: f"{field}_as_issued" for field in (
            "subtotal", "tax_amount", "total", "credit_applied", "amount_paid", "credited", "amount_due"
        )},
    }
    # Set by finalisation, payments and cancellation, never by hand, even on a draft.
    readonly_fields = (
        "number", "kind", "status", "issue_date", "billing_details", "billed_parties", "pdf_link", "pdf_sha256",
        "created_at", "sent_at", "paid_at", "cancelled_at", "credited", *filter(None, AS_ISSUED.values()),
    )
    actions = (
        "finalize_and_send", "resend_email", "record_payment", "partial_credit_note", "cancel_with_credit_note",
        "download_pdfs",
    )
    object_actions = (
        ObjectAction("finalize_and_send", "Finalise and send"),
        ObjectAction("record_payment", "Record a payment"),
        ObjectAction("resend_email", "Resend the email"),
        ObjectAction("partial_credit_note", "Issue a partial credit note…"),
        ObjectAction("cancel_with_credit_note", "Cancel"),
    )

    total_with_currency = money_column("total", description="Total")
    amount_due_with_currency = money_column("amount_due", description="Amount due")
    subtotal_as_issued = money_column("subtotal", description="Subtotal")
    tax_amount_as_issued = money_column("tax_amount", description="Tax amount")
    total_as_issued = money_column("total", description="Total")
    credit_applied_as_issued = money_column("credit_applied", description="Credit applied")
    amount_paid_as_issued = money_column("amount_paid", description="Amount paid")
    credited_as_issued = money_column("credited", description="Credited by partial credit notes")
    amount_due_as_issued = money_column("amount_due", description="Amount due")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl")
        if cl is not None:
            # Every invoice the filters select, not only this page's: one grouped query.
            response.context_data["selection_totals"] = list(
                cl.queryset.order_by().values("currency").annotate(total=Sum("total"), due=Sum("amount_due"))
                .order_by("currency")
            )
        return response

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if invoice_is_editable(obj):
            return fieldsets
        return tuple(
            (name, {**options, "fields": tuple(
                self.AS_ISSUED.get(field, field) for field in options["fields"] if self.AS_ISSUED.get(field, field)
            )})
            for name, options in fieldsets
        )

    @admin.display(description="Period (last day included)")
    def billed_period(self, obj):
        return f"{long_date(obj.period_start)} – {long_date(last_day(obj.period_end))}"

    @admin.display(description="Tax rate")
    def tax_percent(self, obj):
        return percent(obj.tax_rate)

    @admin.display(description="Invoice", ordering="number")
    def reference(self, obj):
        """The number, with the kind under it unless it is a period's invoice (most are): the list keeps its width."""
        if obj.kind == InvoiceKind.PERIOD:
            return str(obj)
        return format_html('{}<br><span class="tmcp-quiet">{}</span>', obj, obj.get_kind_display())

    @admin.display(description="Customer", ordering="user__email")
    def customer(self, obj):
        """The company as invoiced above the email, in one narrow column."""
        buyer = (obj.billing_details or {}).get("buyer") or {}
        profile = getattr(obj.user, "profile", None)
        company = buyer.get("company_name") or (profile.company_name if profile else "")
        email = obj.user.email
        return format_html(
            '<span class="tmcp-ellipsis" title="{}">{}</span><br><span class="tmcp-ellipsis tmcp-quiet" title="{}">'
            "{}</span>", company, company, email, email,
        )

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="Days overdue", ordering="due_date")
    def days_overdue(self, obj):
        today = clock.today()
        if obj.status in OUTSTANDING_STATUSES and obj.due_date is not None and obj.due_date < today:
            return (today - obj.due_date).days
        return None

    @admin.display(description="Parties")
    def billed_parties(self, obj):
        details = obj.billing_details or {}
        rows = []
        for role in ("buyer", "seller"):
            party = details.get(role) or {}
            if party:
                address = " ".join(
                    part for part in (party.get("address_line1") or party.get("address"), party.get("address_line2"),
                                      party.get("postal_code"), party.get("city"), party.get("country")) if part
                )
                rows.append(
                    (role.capitalize(), party.get("company_name") or party.get("name", ""), party.get("name", ""),
                     address, party.get("vat_number", ""), party.get("email", ""))
                )
        if not rows:
            return "Taken when the invoice is priced."
        # Six columns do not fit a phone: the table scrolls sideways in a region the keyboard can reach.
        return format_html(
            "<div class='tmcp-scroll-region' role='region' tabindex='0' aria-label='Parties'>"
            "<table class='tmcp-table'><thead><tr><th></th><th>Company</th><th>Name</th><th>Address</th>"
            "<th>VAT number</th><th>Email</th></tr></thead><tbody>{}</tbody></table></div>",
            format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        if not obj.is_issued:
            return "A draft has no document until it is finalised."
        url = reverse("admin:billing_invoice_pdf", args=[obj.pk])
        return format_html('<a href="{}">{}.pdf</a>', url, obj.number)

    # Refusing the change permission (rather than listing every field as read-only) makes the page view-only
    # and refuses a POST outright, so a save can never write back amounts that a payment has just changed.
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and invoice_is_editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and invoice_is_editable(obj)

    def has_record_payment_permission(self, request):
        return request.user.has_perm("billing.add_payment")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a draft is deleted from its own page, one at a time
        return actions

    def object_action_applies(self, action, invoice):
        return {
            "finalize_and_send": invoice.status == InvoiceStatus.DRAFT,
            "record_payment": invoice.status in OUTSTANDING_STATUSES,
            "resend_email": invoice.status in ISSUED_INVOICE_STATUSES,
            "partial_credit_note": invoice.status in ISSUED_INVOICE_STATUSES and invoice.credited < invoice.total,
            "cancel_with_credit_note": invoice.status in CANCELLABLE_STATUSES,
        }[action]

    def object_tool_links(self, request, invoice):
        if not invoice.is_issued:
            return []
        return [(reverse("admin:billing_invoice_pdf", args=[invoice.pk]), "PDF")]

    def audit_trail_objects(self, invoice):
        related = list(invoice.payments.all())
        return [invoice, *related, *invoice.credit_notes.order_by("pk")]

    def get_urls(self):
        return [
            path("<path:object_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, object_id):
        """The stored PDF of an issued invoice, rendered (once, by the service) if it never was."""
        invoice = self.get_object(request, unquote(object_id))
        if invoice is None:
            raise Http404("No such invoice.")
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        try:
            invoice = invoice_pdf_store(invoice=invoice)
        except BillingError as error:
            raise Http404(str(error)) from None
        return FileResponse(invoice.pdf.open("rb"), filename=f"{invoice.number}.pdf", content_type="application/pdf")

    @admin.action(description="Finalise and send the selected drafts", permissions=["change"])
    def finalize_and_send(self, request, queryset):
        # In primary-key order: the numbers follow the order the drafts were made in.
        objects = list(queryset.order_by("pk"))
        run_for_each(
            self, request, objects, lambda invoice: invoice_finalize(invoice=invoice), done="Finalised and sent"
        )
        return back_to_object(self, request, objects)

    @admin.action(description="Resend the selected invoices by email", permissions=["change"])
    def resend_email(self, request, queryset):
        objects = list(queryset.order_by("pk"))
        run_for_each(
            self, request, objects, lambda invoice: invoice_email_resend(invoice=invoice), done="Email sent again"
        )
        return back_to_object(self, request, objects)

    @admin.action(description="Record a payment…", permissions=["record_payment"])
    def record_payment(self, request, queryset):
        invoice = single(self, request, list(queryset), what="invoice")
        if invoice is None:
            return None
        form = RecordPaymentForm(request.POST if "apply" in request.POST else None, invoice=invoice)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            run_for_each(
                self, request, [invoice],
                lambda item: payment_record(
                    invoice=item, amount=data["amount"], idempotency_key=form.idempotency_key("payment", item),
                    method=data["method"], provider_reference=data["reference"], status=PaymentStatus.COMPLETED,
                    now=form.received_at,
                ),
                done="Payment recorded",
            )
            return back_to_object(self, request, [invoice])
        return action_page(
            self, request, [invoice], action="record_payment", title=f"Record a payment of {invoice}", form=form,
            submit_label="Record the payment",
            summary=[
                ("Customer", invoice.user.email),
                ("Total", f"{invoice.total} {invoice.currency}"),
                ("Amount due", f"{invoice.amount_due} {invoice.currency}"),
            ],
        )

    @admin.action(description="Issue a partial credit note…", permissions=["change"])
    def partial_credit_note(self, request, queryset):
        """Lines or an amount, a reason and where the money paid goes; previewed (the credit note's lines and
        totals, and what it does to the invoice), then issued as previewed, once per form."""
        invoice = single(self, request, list(queryset), what="invoice")
        if invoice is None:
            return None
        left = invoice_lines_left_to_credit(invoice)
        submitted = "preview" in request.POST or "apply" in request.POST
        form = PartialCreditNoteForm(
            request.POST if submitted else None, lines=[line for line, rest in left if rest > 0],
            left_by_line=dict((line.pk, rest) for line, rest in left),
        )
        preview = None
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                preview = credit_note_partial_price(invoice=invoice, lines=data["lines"], amount=data["amount"])
            except BillingError as error:
                form.add_error(None, str(error))
        if preview is not None and "apply" in request.POST and request.POST.get("previewed_plan") == form.signature():
            run_for_each(
                self, request, [invoice], lambda item: self._partial_credit_note_issue(request, item, form),
                done="Partial credit note issued",
            )
            return back_to_object(self, request, [invoice])
        return action_page(
            self, request, [invoice], action="partial_credit_note", title=f"Partial credit note of {invoice}",
            form=form, submit_label="Issue the credit note", template="admin/billing/invoice/partial_credit_note.html",
            preview=preview, effect=preview and self._credit_effect(invoice, preview.total, form),
            can_apply=preview is not None, previewed_pk=form.signature() if preview is not None else "",
            summary=[
                ("Customer", invoice.user.email),
                ("Total", f"{invoice.total} {invoice.currency}"),
                ("Already credited", f"{invoice.credited} {invoice.currency}"),
                ("Amount due", f"{invoice.amount_due} {invoice.currency}"),
            ],
        )

    @staticmethod
    def _credit_effect(invoice, total, form):
        """What the previewed credit note does to the invoice's money: to the card, what it gives back of the
        amount paid (credit_note_card_refund)."""
        effect = credit_effect(invoice, total)
        if form.cleaned_data["refund_to"] != PartialCreditNoteForm.CARD:
            return effect
        return credit_effect(invoice, total, refunded=effect.given_back)

    @staticmethod
    def _partial_credit_note_issue(request, invoice, form):
        data = form.cleaned_data
        request_key = form.idempotency_key("credit-note", invoice)
        asked = {
            "invoice": invoice, "lines": data["lines"] or None, "amount": data["amount"],
            "reason_code": data["reason_code"], "reason": data["reason"], "actor": request.user,
        }
        if data["refund_to"] == PartialCreditNoteForm.CARD:
            return credit_note_card_refund(**asked, request_key=request_key)
        return credit_note_partial_issue(**asked, idempotency_key=request_key)

    @admin.action(description="Cancel (with a credit note when issued)…", permissions=["change"])
    def cancel_with_credit_note(self, request, queryset):
        objects = list(queryset.order_by("pk"))
        form = CancelInvoiceForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason_code, reason = form.cleaned_data["reason_code"], form.cleaned_data["reason"]
            run_for_each(
                self, request, objects,
                lambda invoice: invoice_cancel(invoice=invoice, reason_code=reason_code, reason=reason),
                done="Cancelled",
            )
            return back_to_object(self, request, objects)
        return action_page(
            self, request, objects, action="cancel_with_credit_note", title="Cancel invoices", form=form,
            submit_label="Cancel the invoices",
            intro="An issued invoice is never deleted: a credit note cancels it, the credits it used come back to "
            "the customer and what was paid on it becomes a credit.",
        )

    @admin.action(description="Download the selected PDFs as one ZIP", permissions=["view"])
    def download_pdfs(self, request, queryset):
        invoices = [invoice for invoice in queryset.order_by("number") if invoice.is_issued]
        name = f"invoices-{clock.now():%Y%m%d-%H%M%S}.zip"
        buffer, added = io.BytesIO(), []
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for invoice in invoices:
                try:
                    stored = invoice_pdf_store(invoice=invoice)
                except BillingError as error:
                    self.message_user(request, f"{invoice}: {error}", messages.ERROR)
                    continue
                with stored.pdf.open("rb") as pdf:
                    archive.writestr(f"{stored.number}.pdf", pdf.read())
                added.append(stored)
        if not added:
            self.message_user(
                request, "None of the selected invoices has a document: drafts have none.", messages.WARNING
            )
            return None
        audit_log_record_many(
            audit_entry(action="invoice.pdf_download", obj=invoice, changes={"archive": name}) for invoice in added
        )
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


@admin.register(InvoiceLine)
class InvoiceLineAdmin(admin.ModelAdmin):
    """Lines are added and edited on their draft invoice's page; deleting a draft deletes its lines."""

    list_display = (
        "invoice", "position", "kind", "description", "quantity", "unit_price", "price_base_quantity",
        "amount_with_currency",
    )
    list_select_related = ("invoice",)
    list_filter = ("kind",)
    search_fields = ("description", "invoice__number")
    ordering = ("-invoice__period_start", "invoice", "position")

    amount_with_currency = money_column("amount", description="Amount", currency="invoice.currency")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and invoice_is_editable(obj and obj.invoice)
