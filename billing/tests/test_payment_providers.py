"""The payment provider: `manual` (bank transfer to the seller's account) and `stripe` (a card saved with a
SetupIntent), the latter against a real localstripe process (billing/tests/localstripe.py) through the official
SDK. What the browser does with Stripe.js is done here by `card_confirm`, the very request localstripe's shim
sends; the page in a real browser is tests/test_browser_payment_method.py.
"""
import pytest
from django.urls import reverse

from accounts.models import AuditLog
from accounts.tests.factories import make_customer
from billing.exceptions import BillingError
from billing.models import PaymentProviderCustomer
from billing.payments.providers import CardOnFile, payment_provider
from billing.payments.providers.services import (
    payment_customer_ensure,
    payment_method_save,
    payment_method_setup_start,
)
from billing.tests.localstripe import card_confirm, stripe_client
from tests.helpers import clean_environment, run_manage

pytestmark = pytest.mark.django_db

PAGE = "/billing/payment-method/"
NOT_YOURS = "No card setup of yours has this reference: please add the card again."


def card_saved(user, localstripe_url: str, **card) -> PaymentProviderCustomer:
    """The whole flow of the page: a SetupIntent, the card confirmed in the 'browser', the id posted back."""
    setup = payment_method_setup_start(user=user)
    assert card_confirm(localstripe_url, client_secret=setup.client_secret, **card).status_code == 200
    return payment_method_save(user=user, setup_intent_id=setup.setup_intent_id)


def saves_recorded(user) -> int:
    return AuditLog.objects.filter(action="payment_method.save", object_id__in=[
        str(pk) for pk in PaymentProviderCustomer.objects.filter(user=user).values_list("pk", flat=True)
    ]).count()


class TestStripeCustomer:
    def test_the_first_call_creates_the_customer_at_stripe_and_later_ones_find_it(self, customer, stripe_settings):
        first = payment_customer_ensure(user=customer)
        again = payment_customer_ensure(user=customer)

        assert again.pk == first.pk
        assert PaymentProviderCustomer.objects.filter(user=customer).count() == 1
        at_stripe = stripe_client(stripe_settings).v1.customers.retrieve(first.provider_customer_id)
        assert at_stripe.email == customer.email
        assert at_stripe.metadata["user_id"] == str(customer.pk)
        assert AuditLog.objects.filter(action="payment_customer.create", object_id=str(first.pk)).count() == 1

    def test_each_setup_intent_belongs_to_the_customer_and_is_saved_off_session(self, customer, stripe_settings):
        setup = payment_method_setup_start(user=customer)
        setup_again = payment_method_setup_start(user=customer)

        stripe_customer = PaymentProviderCustomer.objects.get(user=customer).provider_customer_id
        intent = stripe_client(stripe_settings).v1.setup_intents.retrieve(setup.setup_intent_id)
        assert intent.customer == stripe_customer
        assert intent.usage == "off_session"  # charged later, with nobody at the page
        assert intent.client_secret == setup.client_secret
        assert setup_again.setup_intent_id != setup.setup_intent_id
        assert PaymentProviderCustomer.objects.filter(user=customer).count() == 1


class TestCardSave:
    def test_the_confirmed_card_becomes_the_default_at_stripe_and_is_shown(self, customer, stripe_settings):
        saved = card_saved(customer, stripe_settings, number="4242424242424242", exp_month=12, exp_year=2034)

        at_stripe = stripe_client(stripe_settings).v1.customers.retrieve(saved.provider_customer_id)
        assert at_stripe.invoice_settings.default_payment_method == saved.default_payment_method_id
        method = stripe_client(stripe_settings).v1.payment_methods.retrieve(saved.default_payment_method_id)
        assert method.customer == saved.provider_customer_id
        assert payment_provider().default_payment_method(user=customer) == CardOnFile(
            brand="visa", last4="4242", exp_month=12, exp_year=2034
        )
        entry = AuditLog.objects.get(action="payment_method.save", object_id=str(saved.pk))
        assert entry.changes["last4"] == "4242" and entry.changes["replaced"] == ""

    def test_a_new_card_replaces_the_one_on_file(self, customer, stripe_settings):
        first = card_saved(customer, stripe_settings, number="4242424242424242")
        second = card_saved(customer, stripe_settings, number="5555555555554444", exp_month=3, exp_year=2031)

        assert second.default_payment_method_id != first.default_payment_method_id
        at_stripe = stripe_client(stripe_settings).v1.customers.retrieve(second.provider_customer_id)
        assert at_stripe.invoice_settings.default_payment_method == second.default_payment_method_id
        assert payment_provider().default_payment_method(user=customer).last4 == "4444"
        entry = AuditLog.objects.filter(action="payment_method.save").order_by("-pk").first()
        assert entry.changes["replaced"] == first.default_payment_method_id

    def test_another_customers_setup_intent_is_refused_and_changes_nothing(self, customer, stripe_settings):
        other = make_customer(user__email="mallory@example.com")
        others_setup = payment_method_setup_start(user=other)
        assert card_confirm(stripe_settings, client_secret=others_setup.client_secret).status_code == 200
        payment_customer_ensure(user=customer)

        with pytest.raises(BillingError, match=NOT_YOURS):
            payment_method_save(user=customer, setup_intent_id=others_setup.setup_intent_id)

        assert payment_provider().default_payment_method(user=customer) is None
        assert payment_provider().default_payment_method(user=other) is None  # nor saved for its owner
        mine = stripe_client(stripe_settings).v1.customers.retrieve(
            PaymentProviderCustomer.objects.get(user=customer).provider_customer_id
        )
        assert mine.invoice_settings.default_payment_method is None
        assert saves_recorded(customer) == 0

    @pytest.mark.parametrize("setup_intent_id", ["seti_doesnotexist", "../customers", "", "seti_" + "x" * 300])
    def test_an_unknown_or_malformed_id_is_refused_clearly_and_nothing_is_written(
        self, customer, stripe_settings, setup_intent_id
    ):
        payment_customer_ensure(user=customer)

        with pytest.raises(BillingError, match=NOT_YOURS):
            payment_method_save(user=customer, setup_intent_id=setup_intent_id)

        row = PaymentProviderCustomer.objects.get(user=customer)
        assert (row.default_payment_method_id, row.card_last4) == ("", "")
        assert saves_recorded(customer) == 0

    def test_a_setup_intent_the_browser_never_confirmed_is_refused(self, customer, stripe_settings):
        setup = payment_method_setup_start(user=customer)

        with pytest.raises(BillingError, match="The card was not confirmed"):
            payment_method_save(user=customer, setup_intent_id=setup.setup_intent_id)
        assert payment_provider().default_payment_method(user=customer) is None

    def test_a_declined_card_is_not_saved(self, customer, stripe_settings):
        setup = payment_method_setup_start(user=customer)
        declined = card_confirm(stripe_settings, client_secret=setup.client_secret, number="4000000000000002")
        assert declined.status_code == 402  # what Stripe.js shows the customer

        with pytest.raises(BillingError, match="The card was not confirmed"):
            payment_method_save(user=customer, setup_intent_id=setup.setup_intent_id)
        assert payment_provider().default_payment_method(user=customer) is None

    def test_stripe_out_of_reach_is_a_clear_error(self, customer, stripe_settings, settings):
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # the discard port: nothing answers

        with pytest.raises(BillingError, match="Stripe could not complete the request"):
            payment_method_setup_start(user=customer)
        assert not PaymentProviderCustomer.objects.filter(user=customer).exists()


class TestManualProvider:
    def test_there_is_no_card_to_save(self, customer):
        with pytest.raises(BillingError, match="paid by bank transfer"):
            payment_method_save(user=customer, setup_intent_id="seti_anything")
        assert payment_provider().default_payment_method(user=customer) is None

    def test_the_page_gives_the_account_to_pay_by_transfer(self, logged_in, settings):
        settings.SELLER = {**settings.SELLER, "iban": "FR7630006000011234567890189", "bic": "AGRIFRPPXXX"}

        response = logged_in.get(PAGE)

        page = response.content.decode()
        assert response.status_code == 200
        assert "Invoices are paid by bank transfer to this account" in page
        assert "FR76 3000 6000 0112 3456 7890 189" in page
        assert "AGRIFRPPXXX" in page
        assert "card-form" not in page and "js.stripe.com" not in page

    def test_the_dashboard_links_to_it(self, logged_in):
        assert f'href="{PAGE}"' in logged_in.get(reverse("billing:dashboard")).content.decode()


class TestStripePage:
    def test_with_no_card_the_page_offers_the_form_for_stripe_js(self, logged_in, customer, stripe_settings):
        response = logged_in.get(PAGE)

        page = response.content.decode()
        assert "No card on file yet." in page
        client_secret = page.split('data-client-secret="')[1].split('"')[0]
        intent = stripe_client(stripe_settings).v1.setup_intents.retrieve(client_secret.split("_secret_")[0])
        assert intent.customer == PaymentProviderCustomer.objects.get(user=customer).provider_customer_id
        assert f'<script src="{stripe_settings}/js.stripe.com/v3/">' in page
        assert "Saving a card needs JavaScript" in page  # until the script shows the form
        # The site's CSP lets this page, and this page only, load Stripe.js and reach Stripe.
        policy = dict(
            directive.strip().split(" ", 1) for directive in response["Content-Security-Policy"].split(";")
        )
        assert stripe_settings in policy["script-src"] and stripe_settings in policy["connect-src"]
        assert stripe_settings not in logged_in.get(reverse("billing:payments"))["Content-Security-Policy"]

    def test_posting_the_confirmed_setup_intent_shows_the_card_on_file(self, logged_in, customer, stripe_settings):
        setup = payment_method_setup_start(user=customer)
        card_confirm(stripe_settings, client_secret=setup.client_secret, exp_month=7, exp_year=2033)

        response = logged_in.post(PAGE, {"setup_intent": setup.setup_intent_id}, follow=True)

        page = response.content.decode()
        assert "Your card is saved: Visa ending 4242." in page
        assert 'data-testid="card-on-file">Visa ending 4242<' in page
        assert "Expires 07/2033" in page
        assert "Replace the card" in page

    def test_an_unknown_setup_intent_says_so_and_saves_nothing(self, logged_in, customer, stripe_settings):
        response = logged_in.post(PAGE, {"setup_intent": "seti_forged"}, follow=True)

        assert NOT_YOURS in response.content.decode()
        assert payment_provider().default_payment_method(user=customer) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        ({"PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "sk_test_x"},
         "PAYMENT_PROVIDER is 'stripe': set STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET."),
        ({"PAYMENT_PROVIDER": "paypal"}, "PAYMENT_PROVIDER is 'paypal': use 'manual' or 'stripe'."),
        ({"PAYMENT_RETRY_DAYS": "3,1"}, "PAYMENT_RETRY_DAYS is (3, 1)"),
    ],
)
def test_the_site_refuses_to_start_with_payment_settings_it_cannot_use(variables, refusal):
    result = run_manage("check", env=clean_environment(DJANGO_SETTINGS_MODULE="twinmcp.settings.local", **variables))

    assert result.returncode != 0
    assert refusal in result.stderr
