"""The billing part of a customer's GDPR export, named in settings.PERSONAL_DATA_PROVIDERS."""
from accounts.personal_data import PersonalData
from billing.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    BillingAlert,
    BuyerSnapshot,
    Credit,
    CreditNote,
    EmailNotification,
    Invoice,
    OneOffCharge,
    Payment,
    PaymentProviderCustomer,
    Subscription,
)
from billing.selectors import CREDIT_NOTES, invoice_credit_notes, usage_by_month
from billing.services import subscription_cancel


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value) -> str | None:
    return str(value) if value is not None else None


def _subscription(subscription: Subscription) -> dict:
    return {
        "id": subscription.pk,
        "plan": subscription.plan.code,
        "status": subscription.status,
        "current_period_start": _iso(subscription.current_period_start),
        "current_period_end": _iso(subscription.current_period_end),
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "started_at": _iso(subscription.started_at),
        "paused_at": _iso(subscription.paused_at),
        "cancelled_at": _iso(subscription.cancelled_at),
        "ended_at": _iso(subscription.ended_at),
        "plan_changes": [
            {"from": change.from_plan.code, "to": change.to_plan.code, "effective_date": _iso(change.effective_date)}
            for change in subscription.plan_changes.all()
        ],
        "pauses": [{"start_date": _iso(p.start_date), "end_date": _iso(p.end_date)} for p in subscription.pauses.all()],
    }


def _invoice(invoice: Invoice) -> dict:
    return {
        "id": invoice.pk,
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "period_start": _iso(invoice.period_start),
        "period_end": _iso(invoice.period_end),
        "issue_date": _iso(invoice.issue_date),
        "due_date": _iso(invoice.due_date),
        "subtotal": _money(invoice.subtotal),
        "tax_rate": _money(invoice.tax_rate),
        "tax_amount": _money(invoice.tax_amount),
        "total": _money(invoice.total),
        "credit_applied": _money(invoice.credit_applied),
        "amount_paid": _money(invoice.amount_paid),
        "amount_due": _money(invoice.amount_due),
        "credited": _money(invoice.credited),
        "reverse_charge": invoice.reverse_charge,
        "billing_details": invoice.billing_details,
        "lines": [
            {
                "kind": line.kind,
                "description": line.description,
                "quantity": _money(line.quantity),
                "unit_price": _money(line.unit_price),
                "price_base_quantity": line.price_base_quantity,
                "amount": _money(line.amount),
            }
            for line in invoice.lines.all()
        ],
        "credit_notes": [
            {
                "number": credit_note.number,
                "kind": credit_note.kind,
                "subtotal": _money(credit_note.subtotal),
                "tax_amount": _money(credit_note.tax_amount),
                "amount": _money(credit_note.amount),
                "reason_code": credit_note.reason_code,
                "reason": credit_note.reason,
                "issue_date": _iso(credit_note.issue_date),
                "lines": [
                    {"kind": line.kind, "description": line.description, "amount": _money(line.amount)}
                    for line in credit_note.lines.all()
                ],
            }
            for credit_note in invoice_credit_notes(invoice)
        ],
        "sent_at": _iso(invoice.sent_at),
        "paid_at": _iso(invoice.paid_at),
        "cancelled_at": _iso(invoice.cancelled_at),
    }


def billing_personal_data(*, user) -> PersonalData:
    subscriptions = list(
        Subscription.objects.filter(user=user)
        .select_related("plan")
        .prefetch_related("plan_changes__from_plan", "plan_changes__to_plan", "pauses")
        .order_by("started_at", "id")
    )
    invoices = list(
        Invoice.objects.filter(user=user)
        .select_related("buyer_snapshot")
        .prefetch_related("lines", CREDIT_NOTES)
        .order_by("period_start", "id")
    )
    payments = list(Payment.objects.filter(user=user).select_related("invoice").order_by("created_at", "id"))
    credits = list(Credit.objects.filter(user=user).order_by("created_at", "id"))
    charges = list(OneOffCharge.objects.filter(user=user).select_related("invoice").order_by("created_at", "id"))
    provider_customers = list(PaymentProviderCustomer.objects.filter(user=user).order_by("provider", "id"))
    alerts = list(BillingAlert.objects.filter(user=user).order_by("created_at", "id"))
    emails = EmailNotification.objects.filter(user=user).order_by("created_at", "id")
    sections = {
        "subscriptions": [_subscription(subscription) for subscription in subscriptions],
        "invoices": [_invoice(invoice) for invoice in invoices],
        "payments": [
            {
                "id": payment.pk,
                "invoice": payment.invoice.number,
                "amount": _money(payment.amount),
                "refunded_amount": _money(payment.refunded_amount),
                "currency": payment.currency,
                "status": payment.status,
                "method": payment.method,
                "provider_reference": payment.provider_reference,
                "failure_reason": payment.failure_reason,
                "created_at": _iso(payment.created_at),
                "processed_at": _iso(payment.processed_at),
            }
            for payment in payments
        ],
        "credits": [
            {
                "id": credit.pk,
                "type": credit.type,
                "amount": _money(credit.amount),
                "remaining_amount": _money(credit.remaining_amount),
                "currency": credit.currency,
                "reason": credit.reason,
                "expires_at": _iso(credit.expires_at),
                "created_at": _iso(credit.created_at),
            }
            for credit in credits
        ],
        "one_off_charges": [
            {
                "id": charge.pk,
                "description": charge.description,
                "amount": _money(charge.amount),
                "currency": charge.currency,
                "invoice": charge.invoice.number if charge.invoice else None,
                "created_at": _iso(charge.created_at),
                "cancelled_at": _iso(charge.cancelled_at),
            }
            for charge in charges
        ],
        "billing_alerts": [
            {
                "type": alert.type,
                "message": alert.message,
                "created_at": _iso(alert.created_at),
                "read_at": _iso(alert.read_at),
                "emailed_at": _iso(alert.emailed_at),
            }
            for alert in alerts
        ],
        "emails": [
            {
                "kind": email.kind,
                "recipient": email.recipient,
                "subject": email.subject,
                "status": email.status,
                "created_at": _iso(email.created_at),
                "sent_at": _iso(email.sent_at),
            }
            for email in emails
        ],
        "payment_methods": [
            {
                "provider": provider_customer.provider,
                "provider_customer_id": provider_customer.provider_customer_id,
                "card_brand": provider_customer.card_brand,
                "card_last4": provider_customer.card_last4,
                "card_exp_month": provider_customer.card_exp_month,
                "card_exp_year": provider_customer.card_exp_year,
                "created_at": _iso(provider_customer.created_at),
                "updated_at": _iso(provider_customer.updated_at),
            }
            for provider_customer in provider_customers
        ],
        "usage_by_month": [
            {"month": f"{row['month']:%Y-%m}", "calls": row["calls"], "tokens": row["tokens"]}
            for row in usage_by_month(user=user)
        ],
    }
    objects = {
        Subscription._meta.label: [s.pk for s in subscriptions],
        Invoice._meta.label: [i.pk for i in invoices],
        Payment._meta.label: [p.pk for p in payments],
        Credit._meta.label: [c.pk for c in credits],
        OneOffCharge._meta.label: [c.pk for c in charges],
        CreditNote._meta.label: [c.pk for i in invoices for c in invoice_credit_notes(i)],
        PaymentProviderCustomer._meta.label: [c.pk for c in provider_customers],
    }
    return PersonalData(sections=sections, objects=objects)


def billing_personal_data_erase(*, user, now) -> None:
    """Stop billing an erased customer, forget where their emails went and the card they had on file.

    A live subscription is cancelled today (its last days are still invoiced by the next run); invoices,
    credit notes and payments stay as issued, their snapshot encrypted at rest, for the legal retention. The
    link to their customer at the payment provider goes: nothing of theirs is charged again. Buyer snapshots no
    invoice took go: only the issued documents justify keeping one.
    """
    for subscription in Subscription.objects.filter(user=user, status__in=LIVE_SUBSCRIPTION_STATUSES).order_by("pk"):
        subscription_cancel(subscription=subscription, at_period_end=False, now=now)
    EmailNotification.objects.filter(user=user).update(recipient="", context={}, subject="")
    PaymentProviderCustomer.objects.filter(user=user).delete()
    BuyerSnapshot.objects.filter(user=user, invoices__isnull=True).delete()
