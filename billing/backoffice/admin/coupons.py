"""Coupons: finance creates them, sees how often each was redeemed, and grants one to a customer."""
from django.contrib import admin
from django.db.models import Count, Q

from accounts.admin_mixins import (
    FormChangesAuditMixin,
    ObjectAction,
    ObjectActionsMixin,
    ReadOnlyAdminMixin,
    action_page,
    back_to_object,
)
from billing.backoffice.admin.common import run_for_each, single
from billing.backoffice.forms import CouponAdminForm, GrantCouponForm
from billing.models import Coupon, CouponRedemption
from billing.pricing import coupon_terms
from billing.services import coupon_grant

# A coupon's terms are part of what its customers were promised: frozen once it has been redeemed.
COUPON_TERMS_FIELDS = ("percent_off", "amount_off", "currency", "duration", "duration_months")


class CouponRedemptionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CouponRedemption
    fields = ("user", "subscription", "redeemed_at", "granted_by", "periods_applied", "months_applied", "ended_at")
    ordering = ("-redeemed_at", "-id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "subscription__plan", "granted_by")


@admin.register(Coupon)
class CouponAdmin(FormChangesAuditMixin, ObjectActionsMixin, admin.ModelAdmin):
    form = CouponAdminForm
    list_display = (
        "code", "name", "terms", "duration", "duration_months", "times_redeemed", "max_redemptions", "running",
        "expires_at", "is_active",
    )
    list_filter = ("is_active", "duration")
    search_fields = ("code", "name")
    ordering = ("-created_at", "-id")
    inlines = (CouponRedemptionInline,)
    actions = ("grant",)
    object_actions = (ObjectAction("grant", "Grant to a customer"),)

    def get_queryset(self, request):
        running = Count("redemptions", filter=Q(redemptions__ended_at__isnull=True))
        return super().get_queryset(request).annotate(running_count=running)

    @admin.display(description="Off")
    def terms(self, obj):
        return coupon_terms(obj)

    @admin.display(description="Running", ordering="running_count")
    def running(self, obj):
        return obj.running_count

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.times_redeemed:
            return ("times_redeemed", "created_at", *COUPON_TERMS_FIELDS)
        return ("times_redeemed", "created_at")

    def has_delete_permission(self, request, obj=None):
        return False  # a redeemed coupon is part of invoices; one no longer offered is made inactive

    def has_grant_permission(self, request):
        return request.user.has_perm("billing.add_couponredemption")

    @admin.action(description="Grant to a customer…", permissions=["grant"])
    def grant(self, request, queryset):
        coupons = list(queryset)
        coupon = single(self, request, coupons, what="coupon")
        if coupon is None:
            return None
        form = GrantCouponForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            customer = form.cleaned_data["customer"]
            run_for_each(
                self, request, [coupon], lambda c: coupon_grant(coupon=c, user=customer, granted_by=request.user),
                done=f"Coupon granted to {customer.email}",
            )
            return back_to_object(self, request, coupons)
        return action_page(
            self, request, coupons, action="grant", title=f"Grant the coupon {coupon.code}", form=form,
            submit_label="Grant the coupon",
            intro="The coupon applies to the customer's live subscription, from their next period invoice on.",
        )


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "coupon", "user", "subscription", "redeemed_at", "granted_by", "periods_applied", "months_applied", "ended_at",
    )
    list_filter = ("coupon",)
    list_select_related = ("coupon", "user", "subscription__plan", "subscription__user", "granted_by")
    search_fields = ("coupon__code", "user__email")
    raw_id_fields = ("coupon", "user", "subscription", "granted_by")
