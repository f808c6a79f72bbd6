from operator import attrgetter

from django.contrib import admin

from accounts.admin_mixins import ReadOnlyAdminMixin

from .models import (
    BillingAlert,
    Credit,
    CreditApplication,
    CreditNote,
    EmailNotification,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    NumberSequence,
    Payment,
    Plan,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
)


def money_column(field: str, *, description: str, currency: str = "currency"):
    """A list column showing an amount with its currency ("22.80 EUR"); `currency` is a dotted attribute path."""
    currency_of = attrgetter(currency)

    @admin.display(description=description, ordering=field)
    def column(model_admin, obj):
        return f"{getattr(obj, field)} {currency_of(obj)}"

    return column


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "code", "name", "price_with_currency", "interval", "included_tokens", "overage_price_per_million",
        "requests_per_minute", "is_active",
    )
    list_filter = ("is_active", "interval", "currency")
    search_fields = ("code", "name")
    readonly_fields = ("created_at",)
    ordering = ("price", "code")

    price_with_currency = money_column("price", description="Price")


class SubscriptionPlanChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SubscriptionPlanChange
    fields = ("from_plan", "to_plan", "effective_date", "changed_at")


class SubscriptionPauseInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SubscriptionPause
    fields = ("start_date", "end_date")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "user", "plan", "status", "current_period_start", "current_period_end", "cancel_at_period_end", "started_at",
    )
    list_select_related = ("user", "plan")
    list_filter = ("status", "plan", "cancel_at_period_end")
    search_fields = ("user__email", "user__profile__company_name", "plan__code")
    autocomplete_fields = ("user", "plan")
    inlines = (SubscriptionPlanChangeInline, SubscriptionPauseInline)
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")
    # Plan and status changes go through services, which keep the plan-change and pause history that
    # proration reads; editing them here would bill a period on the wrong plan.
    LIFECYCLE_FIELDS = ("user", "plan", "status", "started_at", "paused_at", "cancelled_at", "ended_at")

    def get_readonly_fields(self, request, obj=None):
        return self.LIFECYCLE_FIELDS if obj else ()


@admin.register(SubscriptionPlanChange)
class SubscriptionPlanChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("subscription", "from_plan", "to_plan", "effective_date", "changed_at")
    list_select_related = ("subscription__user", "subscription__plan", "from_plan", "to_plan")
    list_filter = ("to_plan",)
    search_fields = ("subscription__user__email",)
    date_hierarchy = "effective_date"
    ordering = ("-changed_at", "-id")


@admin.register(SubscriptionPause)
class SubscriptionPauseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("subscription", "start_date", "end_date")
    list_select_related = ("subscription__user", "subscription__plan")
    list_filter = (("end_date", admin.EmptyFieldListFilter),)
    search_fields = ("subscription__user__email",)
    date_hierarchy = "start_date"
    ordering = ("-start_date", "-id")


def invoice_is_editable(invoice: Invoice | None) -> bool:
    """Only a draft (or an invoice being added) is edited or deleted.

    An issued invoice is cancelled by a credit note instead, and a cancelled draft is closed.
    """
    return invoice is None or (not invoice.is_issued and invoice.status == InvoiceStatus.DRAFT)


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ("position", "kind", "description", "quantity", "unit_price", "amount")
    extra = 0

    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and invoice_is_editable(obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and invoice_is_editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and invoice_is_editable(obj)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "reference", "user", "status", "period_start", "issue_date", "due_date", "total_with_currency",
        "amount_due_with_currency",
    )
    list_select_related = ("user",)
    list_filter = ("status", "reverse_charge", "currency")
    search_fields = ("number", "user__email", "user__profile__company_name")
    autocomplete_fields = ("user", "subscription")
    inlines = (InvoiceLineInline,)
    date_hierarchy = "period_start"
    ordering = ("-period_start", "-id")
    fieldsets = (
        (None, {"fields": ("number", "status", "user", "subscription", "currency")}),
        ("Dates", {"fields": ("period_start", "period_end", "issue_date", "due_date")}),
        (
            "Amounts",
            {"fields": ("subtotal", "tax_rate", "tax_amount", "total", "credit_applied", "amount_paid", "amount_due")},
        ),
        ("Tax", {"fields": ("reverse_charge", "tax_mention")}),
        ("Issued document", {"fields": ("billing_details", "pdf", "pdf_sha256")}),
        ("History", {"fields": ("created_at", "sent_at", "paid_at", "cancelled_at")}),
    )
    # Set by finalisation, payments and cancellation, never by hand, even on a draft.
    readonly_fields = (
        "number", "status", "issue_date", "billing_details", "pdf", "pdf_sha256",
        "created_at", "sent_at", "paid_at", "cancelled_at",
    )

    total_with_currency = money_column("total", description="Total")
    amount_due_with_currency = money_column("amount_due", description="Amount due")

    @admin.display(description="Invoice", ordering="number")
    def reference(self, obj):
        return str(obj)

    # Refusing the change permission (rather than listing every field as read-only) makes the page view-only
    # and refuses a POST outright, so a save can never write back amounts that a payment has just changed.
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and invoice_is_editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and invoice_is_editable(obj)


@admin.register(InvoiceLine)
class InvoiceLineAdmin(admin.ModelAdmin):
    """Lines are added and edited on their draft invoice's page; deleting a draft deletes its lines."""

    list_display = ("invoice", "position", "kind", "description", "quantity", "unit_price", "amount_with_currency")
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


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("number", "invoice", "customer", "amount_with_currency", "issue_date", "created_at")
    list_select_related = ("invoice__user",)
    search_fields = ("number", "invoice__number", "invoice__user__email")
    date_hierarchy = "issue_date"
    ordering = ("-issue_date", "-id")

    amount_with_currency = money_column("amount", description="Amount", currency="invoice.currency")

    @admin.display(description="Customer", ordering="invoice__user__email")
    def customer(self, obj):
        return obj.invoice.user


@admin.register(NumberSequence)
class NumberSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("kind", "year", "last_number")
    list_filter = ("kind", "year")
    ordering = ("-year", "kind")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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


@admin.register(BillingAlert)
class BillingAlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "type", "occasion", "read_at", "emailed_at")
    list_select_related = ("user",)
    list_filter = ("type", ("read_at", admin.EmptyFieldListFilter), ("emailed_at", admin.EmptyFieldListFilter))
    search_fields = ("user__email", "occasion", "message")
    autocomplete_fields = ("user",)
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
