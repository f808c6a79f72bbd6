"""Coupons: a customer redeems a code (or finance grants a coupon) on their live subscription; invoicing applies it.

A redemption discounts the PERIOD invoices issued after it (`billing.pricing.invoice_draft` adds the DISCOUNT
line, an interim or one-off invoice never gets one) and counts each one as it is issued (`coupon_periods_count`,
called by the one issue path): `once` ends after one period invoice, `forever` never, and `repeating` after
`duration_months` months of billed periods, where a monthly period counts one month and a yearly one twelve. A
yearly period is discounted whole as long as any month is left: a 3-month coupon on a yearly plan takes its
percentage off the whole first year's invoice, an 18-month one off the first two.

Locks, always in this order: the subscription, then the coupon (then, at issue, the redemptions, by pk). The
limit on redemptions is checked on the locked coupon and backed by the database (`times_redeemed` never passes
`max_redemptions`); one redemption of a coupon per customer and one running per subscription are unique
constraints.
"""
import copy
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from accounts.services import audit_entry, audit_log_record, audit_log_record_many
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.exceptions import BillingError
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    Coupon,
    CouponDuration,
    CouponRedemption,
    Invoice,
    InvoiceKind,
    LineKind,
    Plan,
    Subscription,
)
from billing.money import ZERO
from billing.pricing import coupon_discount, interval_months, running_coupon
from billing.selectors import UpcomingInvoice, history_prefill, load_subscriptions, upcoming_priced
from core.db import rows_update


class CouponRefused(BillingError):
    """A code the customer entered (or a coupon finance granted) cannot be redeemed: the message says why."""


def coupon_code_normalize(code: str) -> str:
    """A code as stored: entered in any case, with spaces around it or not."""
    return (code or "").strip().upper()


def _coupon_checked(*, code: str, subscription: Subscription, now: datetime.datetime, lock: bool) -> Coupon:
    """The coupon of `code` if the customer of `subscription` may redeem it on it now; locked when `lock`."""
    coupons = Coupon.objects.select_for_update() if lock else Coupon.objects
    coupon = coupons.filter(code=coupon_code_normalize(code)).first()
    if coupon is None:
        raise CouponRefused(_("%(code)s is not a valid coupon code.") % {"code": coupon_code_normalize(code)})
    if not coupon.is_active:
        raise CouponRefused(_("The coupon %(code)s is no longer offered.") % {"code": coupon.code})
    if coupon.expires_at is not None and coupon.expires_at < now:
        raise CouponRefused(_("The coupon %(code)s has expired.") % {"code": coupon.code})
    if coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        raise CouponRefused(_("The coupon %(code)s has been used as many times as it can be.") % {"code": coupon.code})
    if CouponRedemption.objects.filter(coupon=coupon, user_id=subscription.user_id).exists():
        raise CouponRefused(_("You have already used the coupon %(code)s.") % {"code": coupon.code})
    if coupon.amount_off is not None and coupon.currency != subscription.plan.currency:
        raise CouponRefused(
            _("The coupon %(code)s is in %(currency)s; your plan is billed in %(plan_currency)s.")
            % {"code": coupon.code, "currency": coupon.currency, "plan_currency": subscription.plan.currency}
        )
    running = running_coupon(subscription)
    if running is not None:
        raise CouponRefused(
            _("Your subscription already has the coupon %(code)s; a coupon can be added once it has ended.")
            % {"code": running.coupon.code}
        )
    return coupon


def _live_subscription(user, *, lock: bool) -> Subscription:
    subscriptions = Subscription.objects.select_for_update(of=("self",)) if lock else Subscription.objects
    subscription = (
        subscriptions.filter(user=user, status__in=LIVE_SUBSCRIPTION_STATUSES).select_related("plan")
        .order_by("pk").first()
    )
    if subscription is None:
        raise CouponRefused(_("A coupon applies to a subscription: subscribe to a plan first."))
    return subscription


def periods_left(redemption: CouponRedemption, *, plan: Plan) -> int | None:
    """The period invoices of `plan` a running redemption still discounts; None for a `forever` coupon."""
    coupon = redemption.coupon
    if coupon.duration == CouponDuration.FOREVER:
        return None
    if coupon.duration == CouponDuration.ONCE:
        return max(0, 1 - redemption.periods_applied)
    months = max(0, coupon.duration_months - redemption.months_applied)
    return -(-months // interval_months(plan))  # a yearly period is discounted whole while any month is left


@dataclass(frozen=True)
class CouponPreview:
    """What a coupon would do, shown before the customer confirms: the plan's price and the upcoming invoice
    (usage so far) with and without it. Never stored."""

    coupon: Coupon
    plan: Plan
    plan_price: Decimal
    reduced_price: Decimal  # the plan's fee for a whole period, less the coupon
    invoice: UpcomingInvoice
    invoice_without_coupon: UpcomingInvoice


def coupon_preview(*, user, code: str, now: datetime.datetime | None = None) -> CouponPreview:
    """What redeeming `code` would do to the customer's bill; refuses what `coupon_redeem` would refuse, with the
    same messages. Writes nothing."""
    now = now or clock.now()
    subscription = _live_subscription(user, lock=False)
    coupon = _coupon_checked(code=code, subscription=subscription, now=now, lock=False)
    [current] = load_subscriptions([subscription.pk])
    with_coupon = copy.copy(current)
    history_prefill(with_coupon, coupon_redemptions=[CouponRedemption(coupon=coupon, subscription=current, user=user)])
    price = current.plan.price
    return CouponPreview(
        coupon=coupon,
        plan=current.plan,
        plan_price=price,
        reduced_price=price - coupon_discount(coupon=coupon, base=price),
        invoice=upcoming_priced(with_coupon, now=now),
        invoice_without_coupon=upcoming_priced(current, now=now),
    )


@transaction.atomic
def coupon_redeem(
    *, user, code: str, granted_by=None, now: datetime.datetime | None = None
) -> CouponRedemption:
    """Apply the coupon of `code` to the customer's live subscription, from its next period invoice on.

    `granted_by` is the finance user granting it (None: the customer entered it). Refused with a CouponRefused
    saying why: unknown code, inactive, expired, used up, already used by the customer, in another currency,
    no live subscription, a coupon already running. Nothing is written then.
    """
    now = now or clock.now()
    subscription = _live_subscription(user, lock=True)
    coupon = _coupon_checked(code=code, subscription=subscription, now=now, lock=True)
    Coupon.objects.filter(pk=coupon.pk).update(times_redeemed=F("times_redeemed") + 1)
    redemption = CouponRedemption.objects.create(
        coupon=coupon, user=user, subscription=subscription, redeemed_at=now, granted_by=granted_by
    )
    audit_log_record(
        action="coupon.grant" if granted_by is not None else "coupon.redeem", obj=redemption, actor=granted_by,
        changes={"coupon": coupon.code, "subscription": subscription.pk},
    )
    customer_cache_invalidate(user.pk)
    return redemption


def coupon_grant(*, coupon: Coupon, user, granted_by, now: datetime.datetime | None = None) -> CouponRedemption:
    """Finance gives `coupon` to a customer: the same checks and effect as the customer entering its code."""
    return coupon_redeem(user=user, code=coupon.code, granted_by=granted_by, now=now)


def _months(invoice: Invoice) -> int:
    """The calendar months of an invoice's period: 1 for a month (a partial one too), 12 for a year."""
    start, end = invoice.period_start, invoice.period_end
    return max(1, (end.year - start.year) * 12 + end.month - start.month)


def _used_up(redemption: CouponRedemption) -> bool:
    coupon = redemption.coupon
    if coupon.duration == CouponDuration.ONCE:
        return redemption.periods_applied >= 1
    if coupon.duration == CouponDuration.REPEATING:
        return redemption.months_applied >= coupon.duration_months
    return False


def coupon_periods_count(invoices: list[Invoice], *, now: datetime.datetime) -> None:
    """Count the period invoices being issued on the coupons their DISCOUNT lines apply (redemptions locked in
    primary-key order, one UPDATE), ending those used up. A draft whose coupon ended since it was made is refused:
    its discount would be one period too many."""
    carrying = [i for i in invoices if i.coupon_redemption_id is not None and i.kind == InvoiceKind.PERIOD]
    if not carrying:
        return
    redemptions = {
        redemption.pk: redemption
        for redemption in CouponRedemption.objects.select_for_update(of=("self",))
        .filter(pk__in={invoice.coupon_redemption_id for invoice in carrying})
        .select_related("coupon")
        .order_by("pk")
    }
    ended = []
    for invoice in carrying:
        redemption = redemptions[invoice.coupon_redemption_id]
        if redemption.ended_at is not None:
            raise BillingError(
                f"Draft invoice {invoice} applies the coupon {redemption.coupon.code}, which ended since: cancel "
                "the draft and generate it again."
            )
        redemption.periods_applied += 1
        redemption.months_applied += _months(invoice)
        if _used_up(redemption):
            redemption.ended_at = now
            ended.append(redemption)
    rows_update(CouponRedemption, redemptions.values(), ["periods_applied", "months_applied", "ended_at"])
    audit_log_record_many(
        audit_entry(action="coupon.end", obj=redemption, changes={"periods_applied": redemption.periods_applied})
        for redemption in ended
    )


def coupon_discount_total(invoice: UpcomingInvoice) -> Decimal:
    """What the DISCOUNT lines of a priced invoice take off (a positive amount)."""
    return -sum((line.amount for line in invoice.lines if line.kind == LineKind.DISCOUNT), ZERO)
