import datetime

from django.db import transaction

from billing import clock
from billing.cache import customer_cache_invalidate
from billing.models import BillingAlert


@transaction.atomic
def alert_raise(
    *, user, type: str, occasion: str, message: str, now: datetime.datetime | None = None
) -> tuple[BillingAlert, bool]:
    """Raise an alert once per user, type and occasion; the unique constraint settles races.

    Returns the alert and whether this call created it.
    """
    alert, created = BillingAlert.objects.get_or_create(
        user=user, type=type, occasion=occasion, defaults={"message": message, "created_at": now or clock.now()}
    )
    if created:
        customer_cache_invalidate(alert.user_id)
    return alert, created


@transaction.atomic
def alert_mark_read(*, alert: BillingAlert, now: datetime.datetime | None = None) -> BillingAlert:
    """The customer has seen the alert: `read_at` is set once, and kept when they read it again."""
    alert = BillingAlert.objects.select_for_update().get(pk=alert.pk)
    if alert.read_at is None:
        alert.read_at = now or clock.now()
        alert.save(update_fields=["read_at"])
        customer_cache_invalidate(alert.user_id)
    return alert
