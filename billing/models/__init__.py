"""Billing's models, one module per aggregate, all importable from `billing.models`."""
from billing.models.credits import Credit, CreditApplication, CreditType
from billing.models.fields import MONEY, UNIT_PRICE
from billing.models.invoices import (
    ISSUED_INVOICE_STATUSES,
    CreditNote,
    CreditNoteReason,
    DocumentKind,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    NumberSequence,
    credit_note_reason_text,
)
from billing.models.notifications import AlertType, BillingAlert, EmailKind, EmailNotification, EmailStatus
from billing.models.payments import Payment, PaymentMethod, PaymentStatus
from billing.models.plans import Interval, Plan
from billing.models.providers import PaymentProviderCustomer, PaymentProviderName
from billing.models.subscriptions import (
    LIVE_SUBSCRIPTION_STATUSES,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanChange,
    SubscriptionStatus,
)
from billing.models.suspensions import AccessSuspensionLift
from billing.models.webhooks import WebhookEvent, WebhookEventStatus

__all__ = [
    "AccessSuspensionLift",
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
    "InvoiceKind",
    "InvoiceStatus",
    "LIVE_SUBSCRIPTION_STATUSES",
    "LineKind",
    "MONEY",
    "NumberSequence",
    "Payment",
    "PaymentMethod",
    "PaymentProviderCustomer",
    "PaymentProviderName",
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
