import datetime

from django.db import transaction

from billing import clock
from billing.models import BillingAlert


@transaction.atomic
def alert_raise(
    *, user, type: str, occasion: str, message: str, now: datetime.datetime | None = None
) -> tuple[BillingAlert, bool]:
    """Raise an alert once per user, type and occasion; the unique constraint settles races.

    Returns the alert and whether this call created it.
    """
    return BillingAlert.objects.get_or_create(
        user=user, type=type, occasion=occasion, defaults={"message": message, "created_at": now or clock.now()}
    )
