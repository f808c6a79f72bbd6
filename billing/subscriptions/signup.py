"""The free subscription of a customer who just confirmed their sign-up.

accounts calls it through `SIGNUP_CONFIRMED_HANDLERS` (accounts never imports billing), inside the
transaction that confirms the account.
"""
import datetime
import logging

from django.conf import settings
from django.db import transaction

from accounts.models import User
from billing.models import Plan, Subscription
from billing.subscriptions.lifecycle import subscription_create

logger = logging.getLogger(__name__)


@transaction.atomic
def signup_subscription_create(*, user, now: datetime.datetime | None = None) -> Subscription | None:
    """Subscribe a newly confirmed customer to the active plan coded `SIGNUP_PLAN`.

    Idempotent: a customer who has any subscription already (a second confirmation, a retried call) gets none
    more. Without such a plan the account stays confirmed with no subscription: the customer chooses a plan,
    and the log says why none was given.
    """
    # Locked so that two calls for one customer queue, and the second sees the first one's subscription.
    User.objects.select_for_update().get(pk=user.pk)
    existing = Subscription.objects.filter(user=user).order_by("-started_at", "-pk").first()
    if existing is not None:
        return existing
    plan = Plan.objects.filter(code=settings.SIGNUP_PLAN, is_active=True).first()
    if plan is None:
        logger.warning(
            "No active plan %r (SIGNUP_PLAN): user %s confirmed their sign-up without a subscription",
            settings.SIGNUP_PLAN, user.pk,
        )
        return None
    return subscription_create(user=user, plan=plan, now=now)
