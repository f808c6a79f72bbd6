"""The `stripe` provider, on the official SDK: a Stripe customer per user, cards saved through a SetupIntent that
Stripe.js confirms in the browser (the card number goes from the browser to Stripe, never through this server).

Every figure comes from Stripe's answer to this server's own secret-key request, never from the browser: the
page only hands back a SetupIntent id. STRIPE_API_BASE points the SDK at a Stripe-compatible server
(localstripe in tests and development).
"""
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import stripe
from django.conf import settings
from django.utils.translation import gettext as _

from billing.exceptions import BillingError
from billing.models import PaymentProviderCustomer, PaymentProviderName
from billing.payments.providers import CardOnFile, PaymentProvider

logger = logging.getLogger(__name__)

STRIPE_JS_ORIGIN = "https://js.stripe.com"
STRIPE_API_ORIGIN = "https://api.stripe.com"


class PaymentProviderUnavailable(BillingError):
    """Stripe did not answer, or answered an error this server did not cause knowingly: try again later."""


@dataclass(frozen=True)
class CardSetup:
    """A SetupIntent waiting for the browser: Stripe.js confirms it with the client secret."""

    setup_intent_id: str
    client_secret: str


@dataclass(frozen=True)
class SavedCard:
    payment_method_id: str
    card: CardOnFile


@dataclass(frozen=True)
class ChargeAnswer:
    """What Stripe answered a charge at once: `status` is the PaymentIntent's ("succeeded", "processing",
    "requires_payment_method" when the card was declined…), `failure_reason` Stripe's decline message."""

    payment_intent_id: str
    status: str
    failure_reason: str = ""


@dataclass(frozen=True)
class RefundAnswer:
    """What Stripe answered a refund at once: `status` is the Refund's ("succeeded", "pending", "failed"…)."""

    refund_id: str
    status: str
    amount_cents: int


class RefundRefused(BillingError):
    """Stripe refused the refund (more than is left on the charge, a charge it cannot refund…): its own words."""


def setup_not_yours() -> BillingError:
    return BillingError(_("No card setup of yours has this reference: please add the card again."))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class StripeProvider(PaymentProvider):
    name = PaymentProviderName.STRIPE
    collects_cards = True

    def __init__(self, *, secret_key: str, publishable_key: str, api_base: str = "", js_url: str):
        self.publishable_key = publishable_key
        self.api_base = api_base
        self.js_url = js_url
        self.client = stripe.StripeClient(secret_key, base_addresses={"api": api_base} if api_base else None)

    @classmethod
    def from_settings(cls) -> "StripeProvider":
        return cls(
            secret_key=settings.STRIPE_SECRET_KEY, publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
            api_base=settings.STRIPE_API_BASE, js_url=settings.STRIPE_JS_URL,
        )

    def default_payment_method(self, *, user) -> CardOnFile | None:
        row = PaymentProviderCustomer.objects.filter(user=user, provider=self.name).first()
        if row is None or not row.default_payment_method_id:
            return None
        return CardOnFile(
            brand=row.card_brand, last4=row.card_last4, exp_month=row.card_exp_month, exp_year=row.card_exp_year
        )

    def page_content_security_policy(self) -> dict[str, list[str]]:
        """What the card page adds to the site's CSP: Stripe.js, its frames, and the API it calls."""
        js = _origin(self.js_url)
        api = _origin(self.api_base) if self.api_base else STRIPE_API_ORIGIN
        frames = [js]
        if js == STRIPE_JS_ORIGIN:
            # Stripe's own list (docs.stripe.com/security/guide#content-security-policy): 3-D Secure pages
            # come from hooks.stripe.com.
            frames += ["https://*.js.stripe.com", "https://hooks.stripe.com"]
        return {"script-src": [js], "frame-src": frames, "connect-src": sorted({js, api})}

    def customer_create(self, *, user) -> str:
        """A new Stripe customer for `user`; its id. The caller makes sure there is one per user."""
        customer = self._call(
            self.client.v1.customers.create,
            params={"email": user.email, "metadata": {"user_id": str(user.pk)}},
        )
        return customer.id

    def setup_intent_create(self, *, customer_id: str) -> CardSetup:
        # off_session: the card is saved to be charged later, with nobody at the page.
        intent = self._call(
            self.client.v1.setup_intents.create,
            params={"customer": customer_id, "usage": "off_session", "payment_method_types": ["card"]},
        )
        return CardSetup(setup_intent_id=intent.id, client_secret=intent.client_secret)

    def setup_intent_card(self, *, customer_id: str, setup_intent_id: str) -> SavedCard:
        """The card a succeeded SetupIntent of this customer saved, made the customer's default at Stripe.

        Another customer's SetupIntent and an unknown id get the same answer: neither is this customer's.
        """
        not_yours = setup_not_yours()
        try:
            intent = self.client.v1.setup_intents.retrieve(setup_intent_id, params={"expand": ["payment_method"]})
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                raise not_yours from None
            raise self._unavailable(error) from None
        except stripe.StripeError as error:
            raise self._unavailable(error) from None
        if intent.customer != customer_id:
            raise not_yours
        if intent.status != "succeeded" or intent.payment_method is None:
            raise BillingError(_("The card was not confirmed: please add it again."))
        method = intent.payment_method
        if method.type != "card":
            raise BillingError(_("Only a card can be saved here."))
        if method.customer is None:
            # Stripe attaches the card to the SetupIntent's customer itself; Stripe-compatible servers may not.
            method = self._call(self.client.v1.payment_methods.attach, method.id, params={"customer": customer_id})
        elif method.customer != customer_id:
            raise not_yours
        self._call(
            self.client.v1.customers.update, customer_id,
            params={"invoice_settings": {"default_payment_method": method.id}},
        )
        card = method.card
        return SavedCard(
            payment_method_id=method.id,
            card=CardOnFile(brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year),
        )

    def payment_intent_charge(
        self, *, customer_id: str, payment_method_id: str, amount_cents: int, currency: str, idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeAnswer:
        """Charge the saved card now, with nobody at the page (off-session, confirmed at once).

        `idempotency_key` is Stripe's too: the same key sent again (a retried task) gets the same PaymentIntent,
        never a second charge. A declined card is an answer, not an error; anything else raises
        PaymentProviderUnavailable, for a retry.
        """
        try:
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": amount_cents, "currency": currency.lower(), "customer": customer_id,
                    "payment_method": payment_method_id, "off_session": True, "confirm": True,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as error:
            return ChargeAnswer(
                payment_intent_id=self._declined_intent_id(error), status="requires_payment_method",
                failure_reason=error.user_message or str(error),
            )
        except stripe.StripeError as error:
            raise self._unavailable(error) from None
        failure = getattr(intent, "last_payment_error", None)
        return ChargeAnswer(
            payment_intent_id=intent.id, status=intent.status,
            failure_reason=(failure.message or "") if failure is not None else "",
        )

    def refund_create(
        self, *, payment_intent_id: str, amount_cents: int, idempotency_key: str, metadata: dict[str, str]
    ) -> RefundAnswer:
        """Refund `amount_cents` of the PaymentIntent's charge. `idempotency_key` is Stripe's too: the same key sent
        again (a retried request) gets the same Refund, never a second one. A refusal Stripe explains (a 4xx
        other than throttling) raises RefundRefused with its message; anything else PaymentProviderUnavailable."""
        try:
            refund = self.client.v1.refunds.create(
                params={"payment_intent": payment_intent_id, "amount": amount_cents, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            if error.http_status is not None and 400 <= error.http_status < 500 and error.http_status != 429:
                logger.warning("Stripe refused a refund of %s: %s", payment_intent_id, error.user_message or error)
                # Finance reads it in the admin, in English like the rest of the admin.
                raise RefundRefused(f"Stripe refused the refund: {error.user_message or error}") from None
            raise self._unavailable(error) from None
        except stripe.StripeError as error:
            raise self._unavailable(error) from None
        return RefundAnswer(refund_id=refund.id, status=refund.status or "", amount_cents=refund.amount)

    def _declined_intent_id(self, error: stripe.CardError) -> str:
        """The PaymentIntent a decline left behind: Stripe names it in the error; a Stripe-compatible server may
        name only the charge, which names it in turn. "" when neither says."""
        details = error.error
        intent = getattr(details, "payment_intent", None) if details is not None else None
        if intent is not None:
            return intent.id
        charge_id = getattr(details, "charge", None) if details is not None else None
        if not charge_id:
            return ""
        try:
            return self.client.v1.charges.retrieve(charge_id).payment_intent or ""
        except stripe.StripeError:
            return ""

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except stripe.StripeError as error:
            raise self._unavailable(error) from None

    @staticmethod
    def _unavailable(error: stripe.StripeError) -> PaymentProviderUnavailable:
        logger.warning("Stripe refused or failed a request: %s (HTTP %s)", error, error.http_status)
        return PaymentProviderUnavailable(_("Stripe could not complete the request: please try again in a moment."))
