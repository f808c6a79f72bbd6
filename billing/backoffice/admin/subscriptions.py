"""Plans (new versions, never edits of a plan in use) and subscriptions (change, pause, resume, cancel)."""
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from accounts.admin_mixins import (
    FormChangesAuditMixin,
    ObjectAction,
    ObjectActionsMixin,
    ReadOnlyAdminMixin,
    action_page,
    back_to_object,
)
from billing import clock
from billing.backoffice.admin.common import badge, money_column, run_for_each, single
from billing.backoffice.forms import ChangePlanForm, PlanAdminForm, PlanVersionForm, VersionMoveForm
from billing.exceptions import BillingError
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    Invoice,
    Plan,
    PlanVersionMove,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    SubscriptionStatus,
    UsagePricing,
)
from billing.money import TOKENS_PER_MILLION
from billing.pricing import plan_period_cost
from billing.selectors import scheduled_plan_change
from billing.services import (
    plan_new_version,
    plan_version_move,
    subscription_cancel,
    subscription_change_plan,
    subscription_pause,
    subscription_resume,
    subscription_scheduled_change_apply,
)
from billing.subscriptions.lifecycle import subscription_change_preview
from billing.subscriptions.plan_moves import plan_version_move_preview
from billing.subscriptions.plans import PLAN_TERMS_FIELDS, plan_is_used


class InTrialFilter(admin.SimpleListFilter):
    """Subscriptions in a free trial today (live, before their trial's end), or not."""

    title = "in trial"
    parameter_name = "in_trial"

    def lookups(self, request, model_admin):
        return (("yes", "In trial"), ("no", "Not in trial"))

    def queryset(self, request, queryset):
        in_trial = Q(status__in=LIVE_SUBSCRIPTION_STATUSES, trial_end__gt=clock.today())
        if self.value() == "yes":
            return queryset.filter(in_trial)
        if self.value() == "no":
            return queryset.exclude(in_trial)
        return queryset


@admin.register(Plan)
class PlanAdmin(FormChangesAuditMixin, ObjectActionsMixin, admin.ModelAdmin):
    list_display = (
        "code", "name", "price_with_currency", "interval", "quota", "overage", "requests_per_minute", "is_active",
        "live_subscriptions",
    )
    list_filter = ("is_active", "interval", "currency")
    search_fields = ("code", "name")
    ordering = ("price", "code")
    form = PlanAdminForm
    actions = ("new_version", "move_subscribers")
    object_actions = (
        ObjectAction("new_version", "Copy as a new plan version"),
        ObjectAction("move_subscribers", "Move subscribers to a newer version"),
    )

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
        if obj.usage_pricing != UsagePricing.PER_UNIT:
            return obj.get_usage_pricing_display().lower()
        return "hard cap" if obj.has_hard_cap else f"{obj.overage_price_per_million.normalize():f} {obj.currency}"

    @admin.display(description="What a period costs")
    def price_preview(self, obj):
        """The fee and usage lines of a whole period at 1, 10 and 100 M tokens, before tax, priced by the
        invoices' own code: what the plan's figures mean before anyone subscribes."""
        if obj is None or obj.pk is None:
            return "Saved plans show what 1, 10 and 100 M tokens in a period cost."
        return format_html_join(
            mark_safe("<br>"), "{} M tokens: {} {}",
            ((millions, plan_period_cost(plan=obj, tokens_used=millions * TOKENS_PER_MILLION), obj.currency)
             for millions in (1, 10, 100)),
        ) + mark_safe("<br>(fee and usage, before tax)")

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
            return ("created_at", "price_preview", *PLAN_TERMS_FIELDS)
        return ("created_at", "price_preview")

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

    def has_move_subscribers_permission(self, request):
        return request.user.has_perm("billing.add_planversionmove")

    def object_action_applies(self, action, plan):
        if action == "move_subscribers":
            return plan.next_versions.exists()
        return True

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


    @admin.action(description="Move subscribers to a newer version…", permissions=["move_subscribers"])
    def move_subscribers(self, request, queryset):
        """Choose the newer version, see each subscriber's figures and the revenue change, then confirm: each live
        subscriber moves at its next period and is emailed now."""
        plan = single(self, request, list(queryset), what="plan")
        if plan is None:
            return None
        submitted = "preview" in request.POST or "apply" in request.POST
        form = VersionMoveForm(request.POST if submitted else None, plan=plan)
        preview = None
        if form.is_bound and form.is_valid():
            to_plan = form.cleaned_data["to_plan"]
            try:
                # Applied only as previewed: a version chosen after the preview is previewed first.
                if "apply" in request.POST and request.POST.get("previewed_plan") == str(to_plan.pk):
                    done = plan_version_move(from_plan=plan, to_plan=to_plan, by=request.user)
                    self.message_user(
                        request,
                        f"{len(done.moving)} subscriber(s) of {plan.code} move to {to_plan.code} at their next period "
                        f"and are emailed; {len(done.skipped)} skipped (another plan change scheduled, moving "
                        "already, or ending).",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:billing_plan_change", args=[plan.pk]))
                preview = plan_version_move_preview(from_plan=plan, to_plan=to_plan, now=clock.now())
            except BillingError as error:
                self.message_user(request, f"{plan.code}: {error}", messages.ERROR)
        return action_page(
            self, request, [plan], action="move_subscribers", title=f"Move the subscribers of {plan.name}",
            form=form, submit_label="Move the subscribers", template="admin/billing/plan/version_move.html",
            preview=preview, can_apply=preview is not None and bool(preview.moving),
            intro="Each live subscriber moves to the newer version as its next period starts: the current period "
                  "is billed at the old price. Each customer is emailed now, in their language.",
        )


@admin.register(PlanVersionMove)
class PlanVersionMoveAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("from_plan", "to_plan", "scheduled_count", "skipped_count", "created_by", "created_at")
    list_select_related = ("from_plan", "to_plan", "created_by")
    list_filter = ("from_plan", "to_plan")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")


class SubscriptionPlanChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SubscriptionPlanChange
    fields = ("from_plan", "to_plan", "effective_date", "changed_at", "version_move")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(
            "from_plan", "to_plan", "version_move__from_plan", "version_move__to_plan"
        )


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
        "cancel_at_period_end", "trial_end", "started_at",
    )
    list_select_related = ("user__profile", "plan")
    list_filter = ("status", "plan", "cancel_at_period_end", InTrialFilter)
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
