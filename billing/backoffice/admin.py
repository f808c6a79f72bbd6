"""The finance back-office. Finance finds invoices, customers and subscriptions fast, reads every ledger, and
changes money only through actions that call one billing service per object; an issued invoice, a plan in use
and the ledgers cannot be edited. Who may do what is `billing.backoffice.roles`; pages without a model (dashboard,
exports) are `billing.backoffice.views`.
"""
import datetime
import io
import zipfile
from operator import attrgetter

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, DecimalField, Exists, OuterRef, Q, Subquery, Sum
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.admin import UserAdmin
from accounts.admin_mixins import (
    FormChangesAuditMixin,
    ObjectAction,
    ObjectActionsMixin,
    ReadOnlyAdminMixin,
    action_page,
    back_to_object,
)
from accounts.admin_mixins import run_for_each as run_each
from accounts.models import ApiKey, User, UserProfile
from accounts.services import audit_entry, audit_log_record_many
from billing import clock
from billing.backoffice.dashboard import customer_usage
from billing.backoffice.forms import (
    CancelInvoiceForm,
    ChangePlanForm,
    GrantCreditForm,
    PlanVersionForm,
    RecordPaymentForm,
)
from billing.exceptions import BillingError
from billing.models import (
    ISSUED_INVOICE_STATUSES,
    LIVE_SUBSCRIPTION_STATUSES,
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
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    SubscriptionStatus,
    WebhookEvent,
)
from billing.periods import parse_month
from billing.selectors import scheduled_plan_change
from billing.services import (
    credit_grant,
    invoice_cancel,
    invoice_email_resend,
    invoice_finalize,
    invoice_pdf_store,
    payment_record,
    plan_new_version,
    subscription_cancel,
    subscription_change_plan,
    subscription_pause,
    subscription_resume,
    subscription_scheduled_change_apply,
)
from billing.subscriptions.lifecycle import subscription_change_preview
from billing.subscriptions.plans import PLAN_TERMS_FIELDS, plan_is_used
from billing.templatetags.billing_format import last_day, line_quantity, line_unit_price, long_date, money, percent

OUTSTANDING_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.OVERDUE)
CANCELLABLE_STATUSES = (InvoiceStatus.DRAFT, InvoiceStatus.SENT, InvoiceStatus.OVERDUE)


def run_for_each(model_admin, request, objects, call, *, done: str) -> list:
    """One service call per object; a BillingError becomes an admin message naming the object."""
    return run_each(model_admin, request, objects, call, done=done, refused=(BillingError,))


def money_column(field: str, *, description: str, currency: str = "currency"):
    """An amount with its currency, as the `money` filter writes it ("1,022.80 EUR"), for a list column or a
    read-only field of a page; `currency` is a dotted attribute path."""
    currency_of = attrgetter(currency)

    @admin.display(description=description, ordering=field)
    def column(model_admin, obj):
        return money(getattr(obj, field), currency_of(obj))

    return column


def badge(value: str, label: str) -> str:
    """A coloured status label; the colours are in templates/admin/base_site.html."""
    return format_html('<span class="tmcp-badge tmcp-badge-{}">{}</span>', value.lower(), label)


def single(model_admin, request, objects: list, *, what: str):
    """The one selected object of an action that works on one at a time, or None with a message."""
    if len(objects) == 1:
        return objects[0]
    model_admin.message_user(
        request, f"Select exactly one {what}: this action takes them one at a time.", messages.WARNING
    )
    return None


# Plans and subscriptions


@admin.register(Plan)
class PlanAdmin(FormChangesAuditMixin, ObjectActionsMixin, admin.ModelAdmin):
    list_display = (
        "code", "name", "price_with_currency", "interval", "quota", "overage", "requests_per_minute", "is_active",
        "live_subscriptions",
    )
    list_filter = ("is_active", "interval", "currency")
    search_fields = ("code", "name")
    ordering = ("price", "code")
    actions = ("new_version",)
    object_actions = (ObjectAction("new_version", "Copy as a new plan version"),)

    price_with_currency = money_column("price", description="Price")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(live_count=Count("subscriptions", filter=Q(subscriptions__status__in=LIVE_SUBSCRIPTION_STATUSES)))
        )

    @admin.display(description="Included tokens", ordering="included_tokens")
    def quota(self, obj):
        return f"{obj.included_tokens:,}"

    @admin.display(description="Overage per M tokens", ordering="overage_price_per_million")
    def overage(self, obj):
        return "hard cap" if obj.has_hard_cap else f"{obj.overage_price_per_million.normalize():f} {obj.currency}"

    @admin.display(description="Live subscriptions", ordering="live_count")
    def live_subscriptions(self, obj):
        return obj.live_count

    @staticmethod
    def is_used(plan: Plan | None) -> bool:
        """`plan_is_used`, asked once per page for the plan shown."""
        if plan is None:
            return False
        if not hasattr(plan, "_admin_is_used"):
            plan._admin_is_used = plan_is_used(plan)
        return plan._admin_is_used

    def get_readonly_fields(self, request, obj=None):
        # Once used, a plan's terms are part of its subscribers' contracts: a new price is a new version.
        if self.is_used(obj):
            return ("created_at", *PLAN_TERMS_FIELDS)
        return ("created_at",)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.is_used(obj):
            name, options = fieldsets[0]
            description = (
                "Subscriptions use this plan: its price and quotas are frozen. To change them for new subscribers, "
                "use “Copy as a new plan version”; existing subscriptions keep this plan."
            )
            return ((name, {**options, "description": description}), *fieldsets[1:])
        return fieldsets

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not self.is_used(obj)

    def has_new_version_permission(self, request):
        return request.user.has_perm("billing.add_plan")

    @admin.action(description="Copy as a new plan version…", permissions=["new_version"])
    def new_version(self, request, queryset):
        plan = single(self, request, list(queryset), what="plan")
        if plan is None:
            return None
        form = PlanVersionForm(request.POST if "apply" in request.POST else None, plan=plan)
        if form.is_bound and form.is_valid():
            try:
                new_plan = plan_new_version(plan=plan, **form.cleaned_data)
            except BillingError as error:
                self.message_user(request, f"{plan.code}: {error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Plan {new_plan.code} is offered from now on; {plan.code} keeps its subscribers and is no "
                    "longer offered.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:billing_plan_change", args=[new_plan.pk]))
        return action_page(
            self, request, [plan], action="new_version", title=f"New version of the {plan.name} plan", form=form,
            submit_label="Create the new version",
            intro="The new plan is offered to new subscriptions; the current one keeps its subscribers and prices.",
        )


class SubscriptionPlanChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SubscriptionPlanChange
    fields = ("from_plan", "to_plan", "effective_date", "changed_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_plan", "to_plan")


class SubscriptionPauseInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SubscriptionPause
    fields = ("start_date", "end_date")


class SubscriptionInvoiceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Invoice
    fields = ("number", "status", "period_start", "period_end", "total", "amount_due", "due_date")
    show_change_link = True
    ordering = ("-period_start", "-id")
    verbose_name_plural = "invoices"


@admin.register(Subscription)
class SubscriptionAdmin(FormChangesAuditMixin, ObjectActionsMixin, admin.ModelAdmin):
    list_display = (
        "user", "company", "plan", "status_badge", "current_period_start", "current_period_end",
        "cancel_at_period_end", "started_at",
    )
    list_select_related = ("user__profile", "plan")
    list_filter = ("status", "plan", "cancel_at_period_end")
    search_fields = ("user__email", "user__profile__company_name", "plan__code")
    autocomplete_fields = ("user", "plan")
    inlines = (SubscriptionPlanChangeInline, SubscriptionPauseInline, SubscriptionInvoiceInline)
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")
    actions = ("pause", "resume", "cancel_at_period_end", "change_plan", "apply_scheduled_change")
    object_actions = (
        ObjectAction("change_plan", "Change plan"),
        ObjectAction("apply_scheduled_change", "Apply the scheduled plan change now"),
        ObjectAction("pause", "Pause"),
        ObjectAction("resume", "Resume"),
        ObjectAction("cancel_at_period_end", "Cancel at period end"),
    )

    @admin.display(description="Company", ordering="user__profile__company_name")
    def company(self, obj):
        profile = getattr(obj.user, "profile", None)
        return profile.company_name if profile else ""

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    # Plan, status and periods change through services only, which keep the plan-change and pause history that
    # proration reads and write the audit trail: an existing subscription's page is view-only, its changes are
    # the actions (which need the change permission on the model).
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and obj is None

    def object_action_applies(self, action, subscription):
        live = subscription.status in LIVE_SUBSCRIPTION_STATUSES
        if action == "apply_scheduled_change":
            return live and scheduled_plan_change(subscription) is not None
        return {
            "pause": subscription.status == SubscriptionStatus.ACTIVE,
            "resume": subscription.status == SubscriptionStatus.PAUSED,
            "cancel_at_period_end": live and not subscription.cancel_at_period_end,
            "change_plan": live,
        }[action]

    @admin.action(description="Pause the selected subscriptions", permissions=["change"])
    def pause(self, request, queryset):
        objects = list(queryset)
        run_for_each(self, request, objects, lambda s: subscription_pause(subscription=s), done="Paused")
        return back_to_object(self, request, objects)

    @admin.action(description="Resume the selected subscriptions", permissions=["change"])
    def resume(self, request, queryset):
        objects = list(queryset)
        run_for_each(self, request, objects, lambda s: subscription_resume(subscription=s), done="Resumed")
        return back_to_object(self, request, objects)

    @admin.action(description="Cancel the selected subscriptions at the end of their period", permissions=["change"])
    def cancel_at_period_end(self, request, queryset):
        objects = list(queryset)
        run_for_each(
            self, request, objects, lambda s: subscription_cancel(subscription=s, at_period_end=True),
            done="Will end at the end of their period",
        )
        return back_to_object(self, request, objects)

    @admin.action(description="Apply the scheduled plan change (a downgrade) now", permissions=["change"])
    def apply_scheduled_change(self, request, queryset):
        objects = list(queryset)
        run_for_each(
            self, request, objects, lambda s: subscription_scheduled_change_apply(subscription=s),
            done="Moved to the scheduled plan from today",
        )
        return back_to_object(self, request, objects)

    @admin.action(description="Change plan (with the proration preview)…", permissions=["change"])
    def change_plan(self, request, queryset):
        subscriptions = list(queryset.select_related("user", "plan"))
        submitted = "preview" in request.POST or "apply" in request.POST
        form = ChangePlanForm(request.POST if submitted else None)
        previews = None
        if form.is_bound and form.is_valid():
            plan = form.cleaned_data["plan"]
            # Applied only as previewed: a plan chosen after the preview is previewed first.
            if "apply" in request.POST and request.POST.get("previewed_plan") == str(plan.pk):
                run_for_each(
                    self, request, subscriptions,
                    lambda s: subscription_change_plan(subscription=s, plan=plan), done=f"Moved to {plan.name}",
                )
                return back_to_object(self, request, subscriptions)
            now = clock.now()
            previews = []
            for subscription in subscriptions:
                try:
                    preview = subscription_change_preview(subscription=subscription, plan=plan, now=now)
                except BillingError as error:
                    previews.append({"subscription": subscription, "error": str(error)})
                else:
                    previews.append({"subscription": subscription, "preview": preview})
        return action_page(
            self, request, subscriptions, action="change_plan", title="Change plan", form=form,
            submit_label="Change plan", template="admin/billing/subscription/change_plan.html", previews=previews,
            can_apply=bool(previews) and any("preview" in row for row in previews),
        )


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


# Invoices


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
    fields = ("created_at", "amount", "refunded_amount", "status", "method", "provider_reference", "processed_at")
    show_change_link = True
    ordering = ("created_at", "id")


class CreditNoteInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = CreditNote
    fields = ("number", "issue_date", "amount", "reason_code", "reason", "pdf_link")
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
        "reference", "customer", "status_badge", "total_with_currency", "amount_due_with_currency", "due_date",
        "days_overdue",
    )
    list_select_related = ("user__profile",)
    list_filter = ("status", PeriodFilter, OverdueFilter, "reverse_charge", CountryFilter)
    search_fields = ("number", "user__email", "user__profile__company_name")
    autocomplete_fields = ("user", "subscription")
    inlines = (InvoiceLineInline, PaymentInline, CreditApplicationInline, CreditNoteInline, EmailNotificationInline)
    date_hierarchy = "issue_date"
    ordering = ("-period_start", "-id")
    fieldsets = (
        (None, {"fields": ("number", "status", "user", "subscription", "currency", "pdf_link")}),
        ("Dates", {"fields": ("period_start", "period_end", "issue_date", "due_date")}),
        (
            "Amounts",
            {"fields": ("subtotal", "tax_rate", "tax_amount", "total", "credit_applied", "amount_paid", "amount_due")},
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
            "subtotal", "tax_amount", "total", "credit_applied", "amount_paid", "amount_due"
        )},
    }
    # Set by finalisation, payments and cancellation, never by hand, even on a draft.
    readonly_fields = (
        "number", "status", "issue_date", "billing_details", "billed_parties", "pdf_link", "pdf_sha256",
        "created_at", "sent_at", "paid_at", "cancelled_at", *filter(None, AS_ISSUED.values()),
    )
    actions = ("finalize_and_send", "resend_email", "record_payment", "cancel_with_credit_note", "download_pdfs")
    object_actions = (
        ObjectAction("finalize_and_send", "Finalise and send"),
        ObjectAction("record_payment", "Record a payment"),
        ObjectAction("resend_email", "Resend the email"),
        ObjectAction("cancel_with_credit_note", "Cancel"),
    )

    total_with_currency = money_column("total", description="Total")
    amount_due_with_currency = money_column("amount_due", description="Amount due")
    subtotal_as_issued = money_column("subtotal", description="Subtotal")
    tax_amount_as_issued = money_column("tax_amount", description="Tax amount")
    total_as_issued = money_column("total", description="Total")
    credit_applied_as_issued = money_column("credit_applied", description="Credit applied")
    amount_paid_as_issued = money_column("amount_paid", description="Amount paid")
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
        return str(obj)

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
            "cancel_with_credit_note": invoice.status in CANCELLABLE_STATUSES,
        }[action]

    def object_tool_links(self, request, invoice):
        if not invoice.is_issued:
            return []
        return [(reverse("admin:billing_invoice_pdf", args=[invoice.pk]), "PDF")]

    def audit_trail_objects(self, invoice):
        related = list(invoice.payments.all())
        credit_note = CreditNote.objects.filter(invoice=invoice).first()
        return [invoice, *related, *([credit_note] if credit_note else [])]

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


# Ledgers: written by services, read here.


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("number", "invoice", "customer", "amount_with_currency", "issue_date", "created_at")
    list_select_related = ("invoice__user",)
    search_fields = ("number", "invoice__number", "invoice__user__email")
    date_hierarchy = "issue_date"
    ordering = ("-issue_date", "-id")
    fields = (
        "number", "invoice", "amount", "reason_code", "reason", "issue_date", "pdf_link", "pdf_sha256", "created_at",
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


# Customers: the accounts user page, with what billing knows of them (billing reads accounts, never the reverse).


class CustomerSubscriptionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Subscription
    fields = ("plan", "status", "current_period_start", "current_period_end", "cancel_at_period_end", "started_at")
    show_change_link = True
    ordering = ("-started_at", "-id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("plan")


class CustomerCreditInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Credit
    fk_name = "user"
    fields = ("type", "amount", "remaining_amount", "currency", "reason", "expires_at", "created_at")
    ordering = ("-created_at", "-id")


class CustomerApiKeyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Keys are revoked from their own page (the link), which asks to confirm."""

    model = ApiKey
    fields = ("name", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")
    show_change_link = True
    ordering = ("-created_at", "-id")


class CustomerInvoiceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Invoice
    fk_name = "user"
    fields = ("number", "status", "period_start", "issue_date", "due_date", "total", "amount_due")
    show_change_link = True
    ordering = ("-period_start", "-id")


class LivePlanFilter(admin.SimpleListFilter):
    title = "plan"
    parameter_name = "plan"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Plan.objects.order_by("price", "code").values_list("pk", "name")]

    def queryset(self, request, queryset):
        if not self.value() or not self.value().isdigit():
            return queryset
        live = Subscription.objects.filter(
            user=OuterRef("pk"), plan_id=int(self.value()), status__in=LIVE_SUBSCRIPTION_STATUSES
        )
        return queryset.filter(Exists(live))


admin.site.unregister(User)


def _quota_share(usage) -> str:
    """'41 % of 25,806,451 since 2026-12-16' after a plan change within the period: what the limits count."""
    if usage.percent is None:
        return "—"
    share = f"{usage.percent} % of {usage.included_tokens:,}"
    return f"{share} since {usage.counted_from}" if usage.counted_from else share


@admin.register(User)
class CustomerAdmin(ObjectActionsMixin, UserAdmin):
    inlines = (
        *UserAdmin.inlines, CustomerSubscriptionInline, CustomerCreditInline, CustomerApiKeyInline,
        CustomerInvoiceInline,
    )
    list_display = (
        "email", "full_name", "company_name", "live_plan", "credit_balance", "is_staff", "is_active", "date_joined",
    )
    list_filter = (LivePlanFilter, *UserAdmin.list_filter)
    actions = ("grant_credit",)
    object_actions = (ObjectAction("grant_credit", "Grant a credit"),)

    def get_queryset(self, request):
        live = Subscription.objects.filter(user=OuterRef("pk"), status__in=LIVE_SUBSCRIPTION_STATUSES).order_by(
            "-started_at", "-id"
        )
        balance = (
            Credit.objects.filter(user=OuterRef("pk"), remaining_amount__gt=0)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=clock.now()))
            .values("user")
            .annotate(total=Sum("remaining_amount"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                live_plan_name=Subquery(live.values("plan__name")[:1]),
                credit_total=Subquery(balance, output_field=DecimalField(max_digits=12, decimal_places=2)),
            )
        )

    @admin.display(description="Name", ordering="profile__full_name")
    def full_name(self, obj):
        profile = getattr(obj, "profile", None)
        return (profile.full_name if profile else "") or obj.get_full_name()

    @admin.display(description="Plan", ordering="live_plan_name")
    def live_plan(self, obj):
        return obj.live_plan_name

    @admin.display(description="Credit", ordering="credit_total")
    def credit_balance(self, obj):
        return obj.credit_total

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return (*fieldsets, ("Usage", {"fields": ("usage",)}))

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "usage")

    @admin.display(description="Tokens used")
    def usage(self, obj):
        periods = customer_usage(user=obj, today=clock.today())
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} → {}</td><td class='tmcp-number'>{}</td><td class='tmcp-number'>{}</td></tr>",
            (
                (
                    label, usage.period.start, usage.period.end - datetime.timedelta(days=1), f"{usage.tokens:,}",
                    _quota_share(usage),
                )
                for label, usage in zip(("Current period", "Previous period"), periods, strict=True)
            ),
        )
        return format_html(
            "<table class='tmcp-table'><thead><tr><th>Period</th><th>Days</th><th>Tokens</th><th>Of the quota</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def audit_trail_objects(self, user):
        """The customer's account, profile, subscriptions, keys and credits (invoices have their own trail)."""
        return [
            user,
            *UserProfile.objects.filter(user=user),
            *Subscription.objects.filter(user=user),
            *ApiKey.objects.filter(user=user),
            *Credit.objects.filter(user=user),
        ]

    def has_grant_credit_permission(self, request):
        return request.user.has_perm("billing.add_credit")

    @admin.action(description="Grant a credit…", permissions=["grant_credit"])
    def grant_credit(self, request, queryset):
        users = list(queryset)
        form = GrantCreditForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            run_for_each(
                self, request, users,
                lambda user: credit_grant(
                    user=user, type=data["type"], amount=data["amount"], reason=data["reason"],
                    expires_at=form.expires_at, created_by=request.user,
                    idempotency_key=form.idempotency_key("credit", user),
                ),
                done=f"Credit of {data['amount']} granted",
            )
            return back_to_object(self, request, users)
        return action_page(
            self, request, users, action="grant_credit", title="Grant a credit", form=form,
            submit_label="Grant the credit",
            intro="Each customer selected receives the credit; it pays their next invoices, oldest-expiring first.",
        )



@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "type", "event_id", "status", "payment")
    list_select_related = ("payment__invoice",)  # a payment names its invoice
    list_filter = ("status", "type")
    search_fields = ("event_id",)
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
