"""Customers: the accounts user page, with what billing knows of them (billing reads accounts, never the
reverse)."""
import datetime

from django.contrib import admin, messages
from django.db.models import DecimalField, Exists, OuterRef, Q, Subquery, Sum
from django.utils.html import format_html, format_html_join

from accounts.admin import UserAdmin
from accounts.admin_mixins import ObjectAction, ObjectActionsMixin, ReadOnlyAdminMixin, action_page, back_to_object
from accounts.models import ApiKey, User, UserProfile
from billing import clock
from billing.backoffice.admin.common import run_for_each
from billing.backoffice.dashboard import customer_usage
from billing.backoffice.forms import GrantCreditForm, LiftSuspensionForm, OneOffChargeForm
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    AccessSuspensionLift,
    Credit,
    Invoice,
    OneOffCharge,
    Plan,
    Subscription,
)
from billing.payments.suspensions import access_suspension_lift
from billing.selectors import suspending_invoices
from billing.services import charge_add, credit_grant


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


class CustomerOneOffChargeInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Pending, billed and cancelled: each one's page cancels or invoices a pending one."""

    model = OneOffCharge
    fk_name = "user"
    fields = ("created_at", "description", "amount", "currency", "invoice", "cancelled_at")
    show_change_link = True
    ordering = ("-created_at", "-id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")


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


class SuspendedFilter(admin.SimpleListFilter):
    """Customers whose metered calls are refused today for an unpaid invoice (billing.selectors)."""

    title = "access"
    parameter_name = "suspended"

    def lookups(self, request, model_admin):
        return [("yes", "Suspended"), ("no", "Not suspended")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        suspending = Exists(suspending_invoices(today=clock.today()).filter(user=OuterRef("pk")))
        return queryset.filter(suspending if self.value() == "yes" else ~suspending)


@admin.register(AccessSuspensionLift)
class AccessSuspensionLiftAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Finance's lifts, made by the customers' "Lift the access suspension" action: a record, never edited."""

    list_display = ("created_at", "invoice", "customer", "lifted_by", "reason")
    list_select_related = ("invoice__user", "lifted_by")
    search_fields = ("invoice__number", "invoice__user__email", "reason")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    @admin.display(description="Customer", ordering="invoice__user__email")
    def customer(self, obj):
        return obj.invoice.user


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
        *UserAdmin.inlines, CustomerSubscriptionInline, CustomerCreditInline, CustomerOneOffChargeInline,
        CustomerApiKeyInline, CustomerInvoiceInline,
    )
    list_display = (
        "email", "full_name", "company_name", "live_plan", "credit_balance", "suspended_by", "is_staff", "is_active",
        "date_joined",
    )
    list_filter = (SuspendedFilter, LivePlanFilter, *UserAdmin.list_filter)
    actions = ("grant_credit", "add_charge", "lift_suspension")
    object_actions = (
        ObjectAction("grant_credit", "Grant a credit"),
        ObjectAction("add_charge", "Add a one-off charge"),
        ObjectAction("lift_suspension", "Lift the access suspension"),
    )

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
        suspending = suspending_invoices(today=clock.today()).filter(user=OuterRef("pk")).order_by("due_date", "id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                live_plan_name=Subquery(live.values("plan__name")[:1]),
                credit_total=Subquery(balance, output_field=DecimalField(max_digits=12, decimal_places=2)),
                suspending_number=Subquery(suspending.values("number")[:1]),
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

    @admin.display(description="Suspended by", ordering="suspending_number")
    def suspended_by(self, obj):
        """The unpaid invoice that has the docs API refuse the customer's calls today (the oldest, if several)."""
        return obj.suspending_number or "—"

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

    def object_action_applies(self, action: str, obj) -> bool:
        if action == "lift_suspension":
            return bool(obj.suspending_number)  # annotated by get_queryset, as the page's object is read
        return super().object_action_applies(action, obj)

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

    def has_add_charge_permission(self, request):
        return request.user.has_perm("billing.add_oneoffcharge")

    @admin.action(description="Add a one-off charge…", permissions=["add_charge"])
    def add_charge(self, request, queryset):
        users = list(queryset)
        form = OneOffChargeForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            run_for_each(
                self, request, users,
                lambda user: charge_add(
                    user=user, description=data["description"], amount=data["amount"],
                    invoice_now=form.invoice_now, created_by=request.user,
                    idempotency_key=form.idempotency_key("charge", user),
                ),
                done=f"Charge of {data['amount']} " + ("invoiced" if form.invoice_now else "added to the next invoice"),
            )
            return back_to_object(self, request, users)
        return action_page(
            self, request, users, action="add_charge", title="Add a one-off charge", form=form,
            submit_label="Add the charge",
            intro="Each customer selected is charged this amount plus their VAT: on their next period invoice "
            "(shown in their upcoming invoice until then), or on an invoice of its own issued now.",
        )

    def has_lift_suspension_permission(self, request):
        return request.user.has_perm("billing.add_accesssuspensionlift")

    @admin.action(description="Lift the access suspension…", permissions=["lift_suspension"])
    def lift_suspension(self, request, queryset):
        """Serve the customers' metered calls again: a lift of each unpaid invoice that suspends them today (the
        invoices stay due, and an invoice that becomes late later suspends them again)."""
        users = list(queryset)
        invoices = list(
            suspending_invoices(today=clock.today()).filter(user__in=users).select_related("user")
            .order_by("user_id", "due_date", "id")
        )
        if not invoices:
            self.message_user(request, "No customer selected is suspended: there is nothing to lift.", messages.WARNING)
            return back_to_object(self, request, users)
        form = LiftSuspensionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            run_for_each(
                self, request, invoices,
                lambda invoice: access_suspension_lift(
                    invoice=invoice, actor=request.user, reason=form.cleaned_data["reason"]
                ),
                done="Suspension lifted",
            )
            return back_to_object(self, request, users)
        numbers = ", ".join(f"{invoice.number} ({invoice.user})" for invoice in invoices)
        return action_page(
            self, request, users, action="lift_suspension", title="Lift the access suspension", form=form,
            submit_label="Lift the suspension",
            intro=f"Their metered calls are served again although these invoices stay unpaid: {numbers}.",
        )
