"""The `manual` provider: customers pay by bank transfer to the seller's account, quoting the invoice number
(as the invoice, its PDF and the emails say); finance records the payments that arrive."""
from dataclasses import dataclass

from django.conf import settings
from stdnum import iban

from billing.payments.providers import CardOnFile, PaymentProvider


@dataclass(frozen=True)
class BankTransfer:
    holder: str
    iban: str  # grouped by four, as people copy it
    bic: str


class ManualProvider(PaymentProvider):
    name = "manual"
    collects_cards = False

    def default_payment_method(self, *, user) -> CardOnFile | None:
        return None  # nothing is charged: the customer sends the money

    def bank_transfer(self) -> BankTransfer:
        seller = settings.SELLER
        return BankTransfer(holder=seller["name"], iban=iban.format(seller["iban"]), bic=seller["bic"])
