"""Who collects the money, as PAYMENT_PROVIDER says: `manual` (bank transfer to the seller's account, finance
records what arrives) or `stripe` (a card saved with Stripe, charged later). The pages ask `payment_provider()`
what to show; the writes that reach a provider are in `services`.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass

from django.conf import settings

from billing.models import card_brand_name


@dataclass(frozen=True)
class CardOnFile:
    """What a customer is shown of their saved card: never its number."""

    brand: str  # the provider's code: "visa", "mastercard"…
    last4: str
    exp_month: int | None
    exp_year: int | None

    @property
    def brand_name(self) -> str:
        return card_brand_name(self.brand)


class PaymentProvider(ABC):
    name: str
    # False: customers pay by bank transfer and the payment-method page says where to; True: they save a card.
    collects_cards: bool

    @abstractmethod
    def default_payment_method(self, *, user) -> CardOnFile | None:
        """The card the customer's invoices are charged to, as last saved here (no call to the provider)."""


def payment_provider() -> PaymentProvider:
    """The provider the settings name, built from the settings of the moment (tests change them)."""
    if settings.PAYMENT_PROVIDER == "stripe":
        from billing.payments.providers.stripe import StripeProvider

        return StripeProvider.from_settings()
    from billing.payments.providers.manual import ManualProvider

    return ManualProvider()
