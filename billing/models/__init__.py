"""Billing's models, one module per aggregate, all importable from `billing.models`."""
from billing.models.charges import PENDING_CHARGE, OneOffCharge
from billing.models.coupons import Coupon, CouponDuration, CouponRedemption
from billing.models.credits import Credit, CreditApplication, CreditType
from billing.models.fields import MONEY, UNIT_PRICE
from billing.models.invoices import (
    ISSUED_INVOICE_STATUSES,
    BuyerSnapshot,
    CreditNote,
    CreditNoteKind,
    CreditNoteLine,
    CreditNoteReason,
    DocumentKind,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    NumberSequence,
    TaxCase,
    credit_note_reason_text,
)
from billing.models.notifications import AlertType, BillingAlert, EmailKind, EmailNotification, EmailStatus
from billing.models.payments import Payment, PaymentMethod, PaymentStatus
from billing.models.plans import Interval, Plan, PlanVersionMove, UsagePricing, UsageTier, usage_pricing_checked
from billing.models.providers import PaymentProviderCustomer, PaymentProviderName, card_brand_name
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
    "BuyerSnapshot",
    "Coupon",
    "CouponDuration",
    "CouponRedemption",
    "Credit",
    "CreditApplication",
    "CreditNote",
    "CreditNoteKind",
    "CreditNoteLine",
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
    "OneOffCharge",
    "PENDING_CHARGE",
    "Payment",
    "PaymentMethod",
    "PaymentProviderCustomer",
    "PaymentProviderName",
    "PaymentStatus",
    "Plan",
    "PlanVersionMove",
    "Subscription",
    "SubscriptionPause",
    "SubscriptionPlanChange",
    "SubscriptionStatus",
    "TaxCase",
    "UNIT_PRICE",
    "UsagePricing",
    "UsageTier",
    "WebhookEvent",
    "WebhookEventStatus",
    "card_brand_name",
    "credit_note_reason_text",
    "usage_pricing_checked",
]
