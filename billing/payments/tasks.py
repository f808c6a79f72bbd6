"""Payments on workers: an issued invoice charged to the saved card, after the issue committed, and the daily
retries of the failed charges.

Task names are explicit and stable: messages already queued name them.
"""
from celery import shared_task
from django.conf import settings

from billing import clock
from billing.models import Invoice
from billing.payments.charging import invoice_charge
from billing.payments.providers.stripe import PaymentProviderUnavailable
from billing.payments.retries import payment_retries_due
from core.tasks import RETRIED_TASK_OPTIONS, SWEEP_TASK_OPTIONS

# Stripe out of reach leaves the attempt's Payment PROCESSING: the retry charges under the same idempotency key,
# so Stripe answers with the PaymentIntent it may have created already rather than charging again.
CHARGE_TASK_OPTIONS = {
    **RETRIED_TASK_OPTIONS,
    "autoretry_for": (*RETRIED_TASK_OPTIONS["autoretry_for"], PaymentProviderUnavailable),
}


@shared_task(
    name="billing.tasks.payments.invoice_charge_task", **CHARGE_TASK_OPTIONS, **settings.TASK_TIME_LIMITS["short"]
)
def invoice_charge_task(*, invoice_id: int, attempt: int = 1) -> None:
    invoice_charge(invoice=Invoice.objects.get(pk=invoice_id), attempt=attempt, now=clock.now())


@shared_task(name="billing.tasks.payments.payment_retries_task", **SWEEP_TASK_OPTIONS)
def payment_retries_task() -> int:
    """Daily: the failed card charges whose retry day has come are charged again (PAYMENT_RETRY_DAYS)."""
    return payment_retries_due(now=clock.now())
