"""The Factur-X of each kind of document we issue passes the official EN 16931 rules (run by Saxon), not only the XSD.

October 2026 on Pro (19.00, 5,000,000 tokens included, 2.00 per million), 6,500,000 tokens used: fee 19.00 and
1,500,000 tokens of overage = 3.00, subtotal 22.00.
"""
import datetime
from decimal import Decimal

import pytest
from lxml import etree

from accounts.tests.factories import make_customer
from billing.models import CreditType, Invoice
from billing.services import credit_grant, invoice_cancel, invoice_run
from billing.tests.einvoice import document_xml, en16931_failures
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory
from libraries.tests.factories import UsageLogFactory

NOVEMBER_1 = datetime.date(2026, 11, 1)
RUN_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=PARIS)


def october_invoice(**profile) -> Invoice:
    user = make_customer(**profile)
    SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                        current_period_end=NOVEMBER_1)
    UsageLogFactory(user=user, tokens=6_500_000, created_at=datetime.datetime(2026, 10, 12, 15, tzinfo=PARIS))
    invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
    return Invoice.objects.get(user=user)


@pytest.mark.django_db
class TestEveryTaxCasePassesTheRules:
    @pytest.mark.parametrize(
        ("profile", "total"),
        [
            ({"company_name": "Atelier Durand", "vat_number": "FR40303265045"}, Decimal("26.40")),  # 20 % VAT
            ({"company_name": ""}, Decimal("26.40")),  # a French consumer
            ({"company_name": "Acme GmbH", "country": "DE", "vat_number": "DE136695976"}, Decimal("22.00")),
            ({"company_name": "Acme Inc.", "country": "US", "vat_number": ""}, Decimal("22.00")),
        ],
        ids=["fr-business", "fr-consumer", "eu-reverse-charge", "outside-eu"],
    )
    def test_the_period_invoice(self, profile, total):
        invoice = october_invoice(**profile)

        assert invoice.total == total
        assert en16931_failures(document_xml(invoice)) == []

    def test_an_invoice_partly_paid_by_credit(self):
        user = make_customer(company_name="Atelier Durand", vat_number="FR40303265045")
        credit_grant(user=user, amount=Decimal("10.00"), type=CreditType.PROMOTIONAL, reason="Welcome",
                     now=datetime.datetime(2026, 10, 2, tzinfo=PARIS))
        SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                            current_period_end=NOVEMBER_1)
        invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
        invoice = Invoice.objects.get(user=user)

        assert (invoice.total, invoice.credit_applied, invoice.amount_due) == (
            Decimal("22.80"), Decimal("10.00"), Decimal("12.80")
        )
        assert en16931_failures(document_xml(invoice)) == []

    def test_the_credit_note_cancelling_an_invoice(self):
        invoice = october_invoice(company_name="Atelier Durand", vat_number="FR40303265045")

        invoice_cancel(invoice=invoice, reason="Billed twice", now=RUN_AT + datetime.timedelta(days=1))

        assert en16931_failures(document_xml(invoice.credit_note)) == []


@pytest.mark.django_db
def test_the_rules_catch_a_document_whose_totals_do_not_add_up():
    invoice = october_invoice(company_name="Atelier Durand", vat_number="FR40303265045")
    root = etree.fromstring(document_xml(invoice))
    [grand_total] = root.xpath("//ram:GrandTotalAmount", namespaces={"ram": root.nsmap["ram"]})
    grand_total.text = "26.41"

    failures = en16931_failures(etree.tostring(root))

    assert any("BR-CO-15" in failure for failure in failures), failures
