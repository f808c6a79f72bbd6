"""An invoice with nothing left to pay is PAID: the one rule for payments and credit notes alike."""
import datetime

from billing.models import Invoice, InvoiceStatus
from billing.notifications.customer_webhooks import invoice_paid_publish
from billing.transitions import transition_check


def paid_when_settled(invoice: Invoice, *, now: datetime.datetime) -> list[str]:
    """Mark the locked `invoice` PAID (and tell the customer's webhooks) when its amount due reached 0; the fields
    it changed, for the caller's save."""
    if invoice.amount_due != 0 or invoice.status == InvoiceStatus.PAID:
        return []
    transition_check(invoice, to=InvoiceStatus.PAID)
    invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
    invoice_paid_publish(invoice, now=now)
    return ["status", "paid_at"]
