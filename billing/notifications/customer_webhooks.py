"""Billing's events sent to the customers' webhook endpoints (the `webhooks` app delivers them): the data of each
event, built only for customers with an endpoint wanting it, published inside the caller's transaction."""
import datetime
from collections.abc import Iterable

from django.conf import settings
from django.urls import reverse

from billing import clock
from billing.models import Invoice, InvoiceStatus, Payment, Subscription
from billing.money import round_money
from billing.selectors import QuotaUsage, scheduled_plan_change
from webhooks.models import WebhookEventType as Event
from webhooks.selectors import subscribed_users
from webhooks.services import WebhookEvent, webhook_events_publish


def _money(amount) -> str:
    return str(round_money(amount))


def _date(value: datetime.date | None) -> str | None:
    return value.isoformat() if value else None


def _period(start: datetime.date, end: datetime.date) -> dict:
    """A half-open period: `end` is the first day after it."""
    return {"start": start.isoformat(), "end": end.isoformat()}


def _invoice_reference(invoice: Invoice) -> dict:
    return {
        "id": invoice.pk, "number": invoice.number,
        "url": settings.SITE_URL + reverse("billing:invoice_detail", args=[invoice.pk]),
    }


def invoice_data(invoice: Invoice) -> dict:
    return {
        **_invoice_reference(invoice), "kind": invoice.kind, "status": invoice.status, "currency": invoice.currency,
        "subtotal": _money(invoice.subtotal), "tax_amount": _money(invoice.tax_amount), "total": _money(invoice.total),
        "amount_paid": _money(invoice.amount_paid), "amount_due": _money(invoice.amount_due),
        "period": _period(invoice.period_start, invoice.period_end),
        "issue_date": _date(invoice.issue_date), "due_date": _date(invoice.due_date),
    }


def _publish(events: list[WebhookEvent], *, now: datetime.datetime | None) -> None:
    if events:
        webhook_events_publish(events=events, now=now or clock.now())


def invoices_issued_publish(invoices: Iterable[Invoice], *, now: datetime.datetime) -> None:
    """invoice.finalized for each issued invoice, and invoice.paid for those credits paid at once. The monthly
    run's whole chunk costs one cache read when nobody has an endpoint."""
    invoices = list(invoices)
    wanted = subscribed_users(user_ids=(invoice.user_id for invoice in invoices),
                              types=(Event.INVOICE_FINALIZED, Event.INVOICE_PAID))
    events = []
    for invoice in invoices:
        if invoice.user_id in wanted:
            data = invoice_data(invoice)
            events.append(WebhookEvent(invoice.user_id, Event.INVOICE_FINALIZED, data))
            if invoice.status == InvoiceStatus.PAID:
                events.append(WebhookEvent(invoice.user_id, Event.INVOICE_PAID, data))
    _publish(events, now=now)


def _invoice_event_publish(invoice: Invoice, *, type: str, now: datetime.datetime) -> None:
    if subscribed_users(user_ids=[invoice.user_id], types=[type]):
        _publish([WebhookEvent(invoice.user_id, type, invoice_data(invoice))], now=now)


def invoice_paid_publish(invoice: Invoice, *, now: datetime.datetime) -> None:
    _invoice_event_publish(invoice, type=Event.INVOICE_PAID, now=now)


def invoice_overdue_publish(invoice: Invoice, *, now: datetime.datetime) -> None:
    _invoice_event_publish(invoice, type=Event.INVOICE_OVERDUE, now=now)


def payment_failed_publish(payment: Payment, invoice: Invoice, *, now: datetime.datetime) -> None:
    if subscribed_users(user_ids=[payment.user_id], types=[Event.PAYMENT_FAILED]):
        data = {
            "id": payment.pk, "invoice": _invoice_reference(invoice), "amount": _money(payment.amount),
            "currency": payment.currency, "method": payment.method, "failure_reason": payment.failure_reason,
        }
        _publish([WebhookEvent(payment.user_id, Event.PAYMENT_FAILED, data)], now=now)


def usage_thresholds_publish(
    reached: Iterable[tuple[Subscription, QuotaUsage, int]], *, now: datetime.datetime
) -> None:
    """usage.threshold_reached once per threshold and occasion, as the USAGE_THRESHOLD alert it goes with."""
    reached = list(reached)
    wanted = subscribed_users(user_ids=(sub.user_id for sub, _, _ in reached), types=[Event.USAGE_THRESHOLD_REACHED])
    _publish([
        WebhookEvent(
            sub.user_id, Event.USAGE_THRESHOLD_REACHED,
            {
                "subscription": sub.pk, "plan": quota.segment.plan.code,
                "period": _period(quota.segment.period.start, quota.segment.period.end),
                "threshold_percent": threshold, "tokens_used": quota.tokens_used,
                "included_tokens": quota.included_tokens,
            },
            occasion=f"usage:{quota.occasion}:{threshold}",
        )
        for sub, quota, threshold in reached if sub.user_id in wanted
    ], now=now)


def subscription_data(subscription: Subscription) -> dict:
    change = scheduled_plan_change(subscription)
    return {
        "id": subscription.pk, "plan": subscription.plan.code, "status": subscription.status,
        "current_period": _period(subscription.current_period_start, subscription.current_period_end),
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "scheduled_change": change and {"plan": change.to_plan.code, "effective_date": _date(change.effective_date)},
        "trial_end": _date(subscription.trial_end),
    }


def subscriptions_updated_publish(
    subscriptions: Iterable[Subscription], *, now: datetime.datetime | None = None
) -> None:
    """subscription.updated: a plan changed or scheduled, a pause, a resume, a cancellation, an end."""
    subscriptions = list(subscriptions)
    wanted = subscribed_users(user_ids=(sub.user_id for sub in subscriptions), types=[Event.SUBSCRIPTION_UPDATED])
    _publish([
        WebhookEvent(sub.user_id, Event.SUBSCRIPTION_UPDATED, subscription_data(sub))
        for sub in subscriptions if sub.user_id in wanted
    ], now=now)

