import datetime
import functools
from collections.abc import Callable

from django.db import transaction
from django.utils import translation
from django.utils.functional import Promise, lazy

from accounts.selectors import customer_language, saved_profile
from billing import clock
from billing.cache import customer_cache_invalidate
from billing.models import BillingAlert


def alert_text(build: Callable[..., str], *args) -> Promise:
    """The text of an alert to raise: `build(*args)`, written with gettext and called only when the alert is
    written, in its customer's language (see `alert_message`)."""
    return lazy(build, str)(*args)


def alert_message(*, user, message: str | Promise) -> str:
    """An alert's text is written once, when it is raised, in the customer's language: a lazy `message` (see
    `alert_text`) is rendered under that language; a plain string is kept as it is."""
    with translation.override(customer_language(saved_profile(user))):
        return str(message)


@transaction.atomic
def alert_raise(
    *, user, type: str, occasion: str, message: str | Promise, now: datetime.datetime | None = None
) -> tuple[BillingAlert, bool]:
    """Raise an alert once per user, type and occasion; the unique constraint settles races. Its text is
    rendered in the customer's language (`alert_message`), only when the alert is new.

    Returns the alert and whether this call created it.
    """
    alert, created = BillingAlert.objects.get_or_create(
        user=user, type=type, occasion=occasion,
        # get_or_create calls a default that is callable, and only to create the row.
        defaults={"message": functools.partial(alert_message, user=user, message=message),
                  "created_at": now or clock.now()},
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
