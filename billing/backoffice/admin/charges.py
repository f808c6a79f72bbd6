"""One-off charges: finance adds them from the customer's page ("Add a one-off charge…"), reads them here, pending,
billed or cancelled, and cancels a pending one or invoices it at once. The rows are written by services only."""
from django.contrib import admin
from django.db.models import Q

from accounts.admin_mixins import ObjectAction, ObjectActionsMixin, ReadOnlyAdminMixin, back_to_object
from billing import clock
from billing.backoffice.admin.common import badge, money_column, run_for_each
from billing.models import PENDING_CHARGE, OneOffCharge
from billing.services import charge_cancel, charge_invoice

PENDING, BILLED, CANCELLED = "pending", "billed", "cancelled"
CHARGE_STATES = {
    PENDING: PENDING_CHARGE,
    BILLED: Q(invoice__isnull=False),
    CANCELLED: Q(cancelled_at__isnull=False),
}


def charge_state(charge: OneOffCharge) -> str:
    if charge.invoice_id is not None:
        return BILLED
    return CANCELLED if charge.cancelled_at is not None else PENDING


class ChargeStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state, state.capitalize()) for state in CHARGE_STATES]

    def queryset(self, request, queryset):
        condition = CHARGE_STATES.get(self.value())
        return queryset if condition is None else queryset.filter(condition)


@admin.register(OneOffCharge)
class OneOffChargeAdmin(ObjectActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "user", "description", "amount_with_currency", "state", "invoice", "created_by")
    list_select_related = ("user", "invoice", "created_by")
    list_filter = (ChargeStateFilter, "currency")
    search_fields = ("user__email", "description", "invoice__number")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    fields = (
        "user", "description", "amount", "currency", "state", "invoice", "created_by", "created_at", "cancelled_at",
    )
    readonly_fields = ("state",)
    actions = ("invoice_now", "cancel_charges")
    object_actions = (ObjectAction("invoice_now", "Invoice now"), ObjectAction("cancel_charges", "Cancel"))

    amount_with_currency = money_column("amount", description="Amount")

    @admin.display(description="State")
    def state(self, obj):
        state = charge_state(obj)
        return badge(state, state.capitalize())

    def has_manage_permission(self, request):
        # Change: invoicing a pending charge at once or cancelling it (Finance: change_oneoffcharge).
        return request.user.has_perm("billing.change_oneoffcharge")

    def object_action_applies(self, action, charge):
        return charge_state(charge) == PENDING

    @admin.action(description="Invoice the selected pending charges now", permissions=["manage"])
    def invoice_now(self, request, queryset):
        charges = list(queryset.select_related("user").order_by("pk"))
        now = clock.now()
        run_for_each(
            self, request, charges, lambda charge: charge_invoice(charge=charge, actor=request.user, now=now),
            done="Invoiced",
        )
        return back_to_object(self, request, charges)

    @admin.action(description="Cancel the selected pending charges", permissions=["manage"])
    def cancel_charges(self, request, queryset):
        charges = list(queryset.order_by("pk"))
        run_for_each(
            self, request, charges, lambda charge: charge_cancel(charge=charge, actor=request.user),
            done="Cancelled",
        )
        return back_to_object(self, request, charges)
