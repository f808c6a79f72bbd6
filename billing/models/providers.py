"""A customer as the payment provider knows them, and the card on file there (for display: never its number)."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Stripe's brand codes as people write them; an unknown code is shown as it comes, capitalised.
CARD_BRAND_NAMES = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}


def card_brand_name(brand: str) -> str:
    """A card brand as people write it, from the provider's code ("visa" → "Visa")."""
    return CARD_BRAND_NAMES.get(brand, brand.replace("_", " ").title())


class PaymentProviderName(models.TextChoices):
    # The values are PAYMENT_PROVIDER's: `manual` keeps no customer at a provider, so it has no rows here.
    STRIPE = "stripe", _("Stripe")


class PaymentProviderCustomer(models.Model):
    """The link between a user and their customer at a payment provider: created once, on the first card.

    The provider keeps the card; this row keeps its id, to charge it, and what the customer is shown of it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_customers")
    provider = models.CharField(max_length=20, choices=PaymentProviderName.choices)
    provider_customer_id = models.CharField(max_length=255, unique=True)
    default_payment_method_id = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=30, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user_id", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["user", "provider"], name="payment_provider_customer_once_per_user"),
            # The last four digits only: a longer figure here would be (part of) a card number.
            models.CheckConstraint(
                condition=Q(card_last4="") | Q(card_last4__regex=r"^[0-9]{4}$"),
                name="payment_provider_customer_last4_digits",
            ),
            models.CheckConstraint(
                condition=Q(card_exp_month__isnull=True) | Q(card_exp_month__gte=1, card_exp_month__lte=12),
                name="payment_provider_customer_exp_month",
            ),
        ]

    def __str__(self):
        return f"{self.get_provider_display()} customer {self.provider_customer_id} of {self.user}"
