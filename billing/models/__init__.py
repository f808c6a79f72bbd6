"""Billing's models, one module per aggregate, all importable from `billing.models`."""
from .credits import Credit, CreditApplication, CreditType
from .fields import MONEY, UNIT_PRICE
from .invoices import (
    ISSUED_INVOICE_STATUSES,
    CreditNote,
    CreditNoteReason,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    NumberSequence,
    credit_note_reason_text,
)
from .notifications import AlertType, BillingAlert, EmailKind, EmailNotification, EmailStatus
from .payments import Payment, PaymentMethod, PaymentStatus
from .plans import Interval, Plan
from .subscriptions import (
    LIVE_SUBSCRIPTION_STATUSES,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from .webhooks import WebhookEvent, WebhookEventStatus

__all__ = [
    "AlertType",
    "BillingAlert",
    "Credit",
    "CreditApplication",
    "CreditNote",
    "CreditNoteReason",
    "CreditType",
    "DocumentKind",
    "EmailKind",
    "EmailNotification",
    "EmailStatus",
    "ISSUED_INVOICE_STATUSES",
    "Interval",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "LIVE_SUBSCRIPTION_STATUSES",
    "LineKind",
    "MONEY",
    "NumberSequence",
    "Payment",
    "PaymentMethod",
    "PaymentStatus",
    "Plan",
    "Subscription",
    "SubscriptionPause",
    "SubscriptionPlanChange",
    "SubscriptionStatus",
    "UNIT_PRICE",
    "WebhookEvent",
    "WebhookEventStatus",
    "credit_note_reason_text",
]
