"""The writes that reach the card provider: the customer it knows, and the card saved there."""
import datetime
import re

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.services import audit_log_record
from billing import clock
from billing.exceptions import BillingError
from billing.models import PaymentProviderCustomer
from billing.payments.providers import payment_provider
from billing.payments.providers.stripe import CardSetup, StripeProvider, setup_not_yours

# Stripe's ids are short and URL-safe; anything else the page posts back is refused before any request.
SETUP_INTENT_ID = re.compile(r"seti_[A-Za-z0-9_]{1,250}")


def _card_provider() -> StripeProvider:
    provider = payment_provider()
    if not provider.collects_cards:
        raise BillingError(_("Invoices are paid by bank transfer: there is no card to save."))
    return provider


@transaction.atomic
def payment_customer_ensure(*, user, now: datetime.datetime | None = None) -> PaymentProviderCustomer:
    """The user's customer at the card provider: created there on the first call, found here afterwards."""
    provider = _card_provider()
    now = now or clock.now()
    # The user's row stays locked until commit: two first visits at once create one customer, not two. Should
    # the commit fail after Stripe created one, that customer is left with no card: nothing is ever charged to it.
    get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)
    customer = PaymentProviderCustomer.objects.filter(user=user, provider=provider.name).first()
    if customer is not None:
        return customer
    customer = PaymentProviderCustomer.objects.create(
        user=user, provider=provider.name, provider_customer_id=provider.customer_create(user=user),
        created_at=now, updated_at=now,
    )
    audit_log_record(
        action="payment_customer.create", obj=customer,
        changes={"provider": provider.name, "provider_customer_id": customer.provider_customer_id},
    )
    return customer


def payment_method_setup_start(*, user) -> CardSetup:
    """A SetupIntent for the card page, for the user's customer (created on the first visit); Stripe.js confirms
    it in the browser, then `payment_method_save` reads what it saved."""
    customer = payment_customer_ensure(user=user)
    return _card_provider().setup_intent_create(customer_id=customer.provider_customer_id)


@transaction.atomic
def payment_method_save(
    *, user, setup_intent_id: str, now: datetime.datetime | None = None
) -> PaymentProviderCustomer:
    """Make the card a confirmed SetupIntent saved the customer's default, for the invoices charged from now on.

    The browser only names the SetupIntent: Stripe says whose it is, whether it succeeded and which card it holds.
    """
    provider = _card_provider()
    now = now or clock.now()
    if not isinstance(setup_intent_id, str) or not SETUP_INTENT_ID.fullmatch(setup_intent_id):
        raise setup_not_yours()
    # Locked until commit: two saves at once set Stripe's default and this row in the same order.
    customer = PaymentProviderCustomer.objects.select_for_update().filter(user=user, provider=provider.name).first()
    if customer is None:
        raise setup_not_yours()  # no customer at Stripe yet, so no SetupIntent of theirs either
    saved = provider.setup_intent_card(customer_id=customer.provider_customer_id, setup_intent_id=setup_intent_id)
    replaced = customer.default_payment_method_id
    card = saved.card
    customer.default_payment_method_id = saved.payment_method_id
    customer.card_brand, customer.card_last4 = card.brand, card.last4
    customer.card_exp_month, customer.card_exp_year = card.exp_month, card.exp_year
    customer.updated_at = now
    customer.save(update_fields=[
        "default_payment_method_id", "card_brand", "card_last4", "card_exp_month", "card_exp_year", "updated_at",
    ])
    audit_log_record(
        action="payment_method.save", obj=customer,
        changes={
            "payment_method": saved.payment_method_id, "replaced": replaced, "brand": card.brand,
            "last4": card.last4, "setup_intent": setup_intent_id,
        },
    )
    return customer
