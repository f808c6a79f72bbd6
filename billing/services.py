"""Every write of billing, in one list: views, admin, API, tasks and commands call these functions.

Each lives in its room (invoicing, subscriptions, payments, documents, notifications); this module only names
them, so a caller never needs to know which room holds a write.
"""
from billing.documents.services import (
    credit_note_documents_issue,
    invoice_documents_issue,
    invoice_email_resend,
    invoice_pdf_store,
)
from billing.invoicing.charges import charge_add, charge_cancel, charge_invoice
from billing.invoicing.credit_notes import (
    CreditNoteRequest,
    credit_effect,
    credit_note_partial_issue,
    credit_note_partial_price,
)
from billing.invoicing.invoice_run import RunSummary, invoice_run, invoice_run_chunk
from billing.invoicing.invoices import invoice_cancel, invoice_finalize, invoice_generate, invoice_mark_overdue
from billing.invoicing.numbering import numbers_reserve
from billing.invoicing.progressive import interim_invoice_issue
from billing.invoicing.sweeps import (
    expiring_subscription_alerts_raise,
    interim_invoices_issue_due,
    invoices_mark_overdue_due,
    subscriptions_expire_due,
    usage_threshold_alerts_raise,
)
from billing.notifications.alerts import alert_mark_read, alert_raise
from billing.notifications.emails import email_deliver, email_queue
from billing.payments.charging import invoice_charge, invoice_pay_now, payment_intent_outcome_apply
from billing.payments.credits import credit_grant
from billing.payments.refunds import (
    card_payment_refund,
    credit_note_card_refund,
    recorded_payment_refund,
    refund_outcome_apply,
    refundable_card_payment,
)
from billing.payments.retries import payment_retries_due
from billing.payments.services import (
    payment_complete,
    payment_fail,
    payment_mark_processing,
    payment_record,
    payment_refund,
)
from billing.subscriptions.coupons import coupon_grant, coupon_redeem
from billing.subscriptions.lifecycle import (
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_expire,
    subscription_pause,
    subscription_resume,
    subscription_scheduled_change_apply,
    subscription_scheduled_change_cancel,
)
from billing.subscriptions.plan_moves import plan_version_move
from billing.subscriptions.plans import plan_new_version
from billing.subscriptions.trials import trial_conclude, trial_reminders_raise, trials_conclude_due, trials_sweep

__all__ = [
    "CreditNoteRequest",
    "RunSummary",
    "alert_mark_read",
    "alert_raise",
    "card_payment_refund",
    "charge_add",
    "charge_cancel",
    "charge_invoice",
    "coupon_grant",
    "coupon_redeem",
    "credit_effect",
    "credit_grant",
    "credit_note_card_refund",
    "credit_note_documents_issue",
    "credit_note_partial_issue",
    "credit_note_partial_price",
    "email_deliver",
    "email_queue",
    "expiring_subscription_alerts_raise",
    "interim_invoice_issue",
    "interim_invoices_issue_due",
    "invoice_cancel",
    "invoice_charge",
    "invoice_documents_issue",
    "invoice_email_resend",
    "invoice_finalize",
    "invoice_generate",
    "invoice_mark_overdue",
    "invoice_pay_now",
    "invoice_pdf_store",
    "invoice_run",
    "invoice_run_chunk",
    "invoices_mark_overdue_due",
    "numbers_reserve",
    "payment_complete",
    "payment_fail",
    "payment_intent_outcome_apply",
    "payment_mark_processing",
    "payment_record",
    "payment_refund",
    "payment_retries_due",
    "plan_new_version",
    "plan_version_move",
    "recorded_payment_refund",
    "refund_outcome_apply",
    "refundable_card_payment",
    "subscription_cancel",
    "subscription_change_plan",
    "subscription_create",
    "subscription_expire",
    "subscription_pause",
    "subscription_resume",
    "subscription_scheduled_change_apply",
    "subscription_scheduled_change_cancel",
    "subscriptions_expire_due",
    "trial_conclude",
    "trial_reminders_raise",
    "trials_conclude_due",
    "trials_sweep",
    "usage_threshold_alerts_raise",
]
