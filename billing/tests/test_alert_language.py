"""An alert's text is written once, when it is raised, in its customer's language (their profile's), whoever raises
it: the sweeps, the docs API's spend cap, a failed payment, an overdue invoice."""
import datetime
from decimal import Decimal

import pytest
import time_machine

from accounts.tests.factories import UserProfileFactory
from billing.models import AlertType, BillingAlert, PaymentStatus
from billing.services import (
    expiring_subscription_alerts_raise,
    invoice_finalize,
    invoices_mark_overdue_due,
    payment_fail,
    payment_record,
    usage_threshold_alerts_raise,
)
from billing.tests.factories import InvoiceFactory, SubscriptionFactory, paris
from billing.tests.test_throttles import DOCS, key_client
from libraries.tests.factories import UsageLogFactory

pytestmark = pytest.mark.django_db


def customer_in_october(language: str, **profile):
    user = UserProfileFactory(country="FR", language=language, **profile).user
    subscription = SubscriptionFactory(user=user, current_period_start=datetime.date(2026, 10, 1),
                                       current_period_end=datetime.date(2026, 11, 1))
    return user, subscription


def message(user, type) -> str:
    return BillingAlert.objects.get(user=user, type=type).message


class TestUsageThreshold:
    @pytest.mark.parametrize("language, expected", [
        ("fr", "Vous avez utilisé 4\u202f000\u202f000 des 5\u202f000\u202f000 jetons inclus dans votre forfait Pro "
               "pour cette période (80\u00a0%)."),
        ("en", "You have used 4,000,000 of the 5,000,000 tokens included in your Pro plan this period (80 %)."),
    ])
    def test_in_the_customers_language(self, language, expected):
        user, _ = customer_in_october(language)
        UsageLogFactory(user=user, tokens=4_000_000, created_at=paris(2026, 10, 10))

        usage_threshold_alerts_raise(now=paris(2026, 10, 11))

        assert message(user, AlertType.USAGE_THRESHOLD) == expected


class TestSpendCap:
    def test_a_french_customer_reads_it_in_french(self, library_version):
        user, _ = customer_in_october("fr", monthly_spend_cap=Decimal("10.00"))
        UsageLogFactory(user=user, tokens=5_000_000 + 5_000_000, created_at=paris(2026, 10, 10))  # 10.00 over

        with time_machine.travel(paris(2026, 10, 12), tick=False):
            assert key_client(user).get(DOCS).status_code == 402

        assert message(user, AlertType.USAGE_THRESHOLD) == (
            "Votre dépassement de cette période a atteint votre plafond mensuel de 10,00\u00a0EUR\u00a0: les appels "
            "facturés au volume sont refusés jusqu’au 1er novembre 2026, ou jusqu’à ce que vous releviez le plafond "
            "sur la page de votre compte."
        )


class TestExpiry:
    @pytest.mark.parametrize("language, expected", [
        ("fr", "Votre abonnement Pro se termine le 31 octobre 2026."),
        ("en", "Your Pro subscription ends on 31 October 2026."),
    ])
    def test_names_the_periods_last_day_in_the_customers_language(self, language, expected):
        user, subscription = customer_in_october(language)
        subscription.cancel_at_period_end = True
        subscription.save()

        expiring_subscription_alerts_raise(now=paris(2026, 10, 27))

        assert message(user, AlertType.SUBSCRIPTION_EXPIRING) == expected


def sent_invoice(language: str):
    user = UserProfileFactory(country="FR", language=language).user
    return invoice_finalize(invoice=InvoiceFactory(subscription__user=user), now=paris(2026, 11, 1, 9))


class TestInvoiceAndPayment:
    @pytest.mark.parametrize("language, expected", [
        ("fr", "La facture {number} de 22,80\u00a0EUR était à régler le 1er décembre 2026."),
        ("en", "Invoice {number} of 22.80\u00a0EUR was due on 1 December 2026."),
    ])
    def test_an_overdue_invoice(self, language, expected):
        invoice = sent_invoice(language)

        invoices_mark_overdue_due(now=paris(2026, 12, 2, 9))

        assert message(invoice.user, AlertType.INVOICE_OVERDUE) == expected.format(number=invoice.number)

    @pytest.mark.parametrize("language, reason, expected", [
        ("fr", "refused by the payment provider",
         "Votre paiement de 22,80\u00a0EUR pour la facture {number} a échoué\u00a0: refusé par le prestataire de "
         "paiement"),
        ("fr", "", "Votre paiement de 22,80\u00a0EUR pour la facture {number} a échoué."),
        ("en", "Insufficient funds", "Your payment of 22.80\u00a0EUR for invoice {number} failed: Insufficient funds"),
    ])
    def test_a_failed_payment(self, language, reason, expected):
        invoice = sent_invoice(language)
        payment = payment_record(invoice=invoice, amount=Decimal("22.80"), idempotency_key="sepa-1",
                                 status=PaymentStatus.PENDING, now=paris(2026, 11, 5, 9))

        payment_fail(payment=payment, reason=reason, now=paris(2026, 11, 6, 9))

        assert message(invoice.user, AlertType.PAYMENT_FAILED) == expected.format(number=invoice.number)
