"""Every kind of document we issue passes the official rules as a receiving platform runs them (Saxon): the EN 16931
rules, the Factur-X EN 16931 profile's and the French CTC "Flux 2" rules (billing framework BT-23, quantities with
at most 4 decimals, …), through `document_failures`, which also runs every other e-invoice format of the record.

October 2026 on Pro (19.00, 5,000,000 tokens included, 2.00 per million), 6,500,000 tokens used: fee 19.00 and
1,500,000 tokens of overage = 3.00, subtotal 22.00; a French customer pays 20 % VAT: 26.40.
"""
import dataclasses
import datetime
from decimal import Decimal

import pytest
from lxml import etree

from accounts.tests.factories import make_customer
from billing.documents.data import invoice_document
from billing.documents.facturx import facturx_xml
from billing.models import Coupon, CreditType, Invoice, InvoiceKind, LineKind
from billing.selectors import credit_note_of
from billing.services import (
    charge_add,
    coupon_redeem,
    credit_grant,
    interim_invoice_issue,
    invoice_cancel,
    invoice_run,
    subscription_change_plan,
)
from billing.tests.einvoice import document_failures, document_xml, en16931_failures
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory, paris, period_invoice_of, pro_customer
from billing.tests.test_progressive_billing import spike_plan, subscribe
from libraries.tests.factories import UsageLogFactory

NOVEMBER_1 = datetime.date(2026, 11, 1)
RUN_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=PARIS)
FRENCH_BUSINESS = {"company_name": "Atelier Durand", "vat_number": "FR40303265045"}
CII = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
BILLING_FRAMEWORK = "//rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"


def october_subscription(user):
    """`user` on Pro since 14 September, in its October period."""
    return SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                               current_period_end=NOVEMBER_1, started_at=paris(2026, 9, 14, 9, 30))


def october_run(user) -> Invoice:
    """The monthly run of October for `user` alone: their October invoice."""
    invoice_run(period_end=NOVEMBER_1, customer=user, now=RUN_AT)
    return Invoice.objects.get(user=user, kind=InvoiceKind.PERIOD)


def october_invoice(tokens: int = 6_500_000, **profile) -> Invoice:
    return period_invoice_of(pro_customer(tokens=tokens, **profile), now=RUN_AT)


def xml_lines(xml: bytes) -> list[tuple[str, str, str, str]]:
    """Each line of the Factur-X as (BT-129 quantity, BT-146 net price, BT-149 base quantity, BT-131 amount)."""
    root = etree.fromstring(xml)
    return [
        (
            line.findtext("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", namespaces=CII),
            line.findtext("ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount",
                          namespaces=CII),
            line.findtext("ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:BasisQuantity",
                          namespaces=CII) or "1",
            line.findtext("ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/"
                          "ram:LineTotalAmount", namespaces=CII),
        )
        for line in root.iterfind(".//ram:IncludedSupplyChainTradeLineItem", CII)
    ]


@pytest.mark.django_db
class TestEveryTaxCasePassesTheRules:
    @pytest.mark.parametrize(
        ("profile", "total"),
        [
            (FRENCH_BUSINESS, Decimal("26.40")),  # 20 % VAT
            ({"company_name": ""}, Decimal("26.40")),  # a French consumer
            ({"company_name": "Acme GmbH", "country": "DE", "vat_number": "DE136695976"}, Decimal("22.00")),
            ({"company_name": "Acme Inc.", "country": "US", "vat_number": ""}, Decimal("22.00")),
        ],
        ids=["fr-business", "fr-consumer", "eu-reverse-charge", "outside-eu"],
    )
    def test_the_period_invoice(self, profile, total):
        invoice = october_invoice(**profile)

        assert invoice.total == total
        assert document_failures(invoice) == []

    @pytest.mark.parametrize(
        ("credit_type", "total", "credit_applied"),
        [
            # Money the customer paid (a refund kept as credit) is prepaid after tax: 22.80 − 10.00 due.
            (CreditType.REFUND, Decimal("22.80"), Decimal("10.00")),
            # A promotional credit is a price reduction before tax (an allowance): 12.80 in all, VAT included.
            (CreditType.PROMOTIONAL, Decimal("12.80"), Decimal("0.00")),
        ],
        ids=["prepaid", "allowance"],
    )
    def test_an_invoice_partly_paid_by_credit(self, credit_type, total, credit_applied):
        user = make_customer(**FRENCH_BUSINESS)
        credit_grant(user=user, amount=Decimal("10.00"), type=credit_type, reason="Welcome",
                     now=datetime.datetime(2026, 10, 2, tzinfo=PARIS))
        october_subscription(user)
        invoice = october_run(user)

        assert (invoice.total, invoice.credit_applied, invoice.amount_due) == (total, credit_applied, Decimal("12.80"))
        assert document_failures(invoice) == []

    def test_the_credit_note_cancelling_an_invoice(self):
        invoice = october_invoice(**FRENCH_BUSINESS)

        invoice_cancel(invoice=invoice, reason="Billed twice", now=RUN_AT + datetime.timedelta(days=1))
        credit_note = credit_note_of(invoice)

        assert document_failures(credit_note) == []
        assert etree.fromstring(document_xml(credit_note)).xpath(f"string({BILLING_FRAMEWORK})", namespaces=CII) == "S1"


@pytest.mark.django_db
class TestEveryKindOfInvoicePassesTheRules:
    def test_a_plan_change_mid_month_prorates_the_fee(self):
        # Pro 1 → 10 October: 19 × 10 / 31 = 6.13 (PRORATION); Team 11 → 31 October: 99 × 21 / 31 = 67.06.
        user = make_customer(**FRENCH_BUSINESS)
        subscription = october_subscription(user)
        team = PlanFactory(code="team", name="Team", price=Decimal("99.00"), included_tokens=50_000_000,
                           overage_price_per_million=Decimal("1.50"))
        subscription_change_plan(subscription=subscription, plan=team, now=paris(2026, 10, 11, 15))
        invoice = october_run(user)

        assert [line.kind for line in invoice.lines.order_by("position")] == [LineKind.PRORATION, LineKind.SUBSCRIPTION]
        assert invoice.total == Decimal("87.83")
        # Each fee is one unit at its amount: quantity × price = amount exactly.
        assert xml_lines(document_xml(invoice)) == [("1", "6.13", "1", "6.13"), ("1", "67.06", "1", "67.06")]
        assert document_failures(invoice) == []

    def test_an_odd_number_of_tokens_over_the_quota(self):
        # 1,759,808 tokens over: 1,759,808 × 2.00 / 1,000,000 = 3.519616 → 3.52.
        invoice = october_invoice(tokens=6_759_808, **FRENCH_BUSINESS)

        assert (invoice.subtotal, invoice.total) == (Decimal("22.52"), Decimal("27.02"))
        assert xml_lines(document_xml(invoice))[1] == ("1759808", "2", "1000000", "3.52")
        assert document_failures(invoice) == []

    def test_a_usage_quantity_stored_in_millions_is_stated_in_whole_tokens(self):
        # The quantity field keeps 6 decimals: 1.759808 million tokens at 2.00 per one is the same 3.52 as
        # 1,759,808 tokens at 2.00 per 1,000,000, the only way to say it with at most 4 decimals (BR-FR-DEC-02).
        invoice = october_invoice(tokens=6_759_808, **FRENCH_BUSINESS)
        document = invoice_document(invoice)
        fee, usage = document.lines
        in_millions = dataclasses.replace(usage, quantity=Decimal("1.759808"), price_base_quantity=1)

        xml = facturx_xml(dataclasses.replace(document, lines=(fee, in_millions)))

        assert xml_lines(xml)[1] == ("1759808", "2", "1000000", "3.52")
        assert en16931_failures(xml) == []

    def test_a_coupon_discount(self):
        # 20 % off 22.00 = 4.40, a document-level allowance: 17.60 + 20 % VAT = 21.12.
        user = make_customer(**FRENCH_BUSINESS)
        october_subscription(user)
        UsageLogFactory(user=user, tokens=6_500_000, created_at=paris(2026, 10, 12, 15))
        Coupon.objects.create(code="WELCOME20", name="Welcome", percent_off=Decimal("20"))
        coupon_redeem(user=user, code="WELCOME20", now=paris(2026, 10, 10, 9))
        invoice = october_run(user)

        assert (invoice.subtotal, invoice.total) == (Decimal("17.60"), Decimal("21.12"))
        allowance = etree.fromstring(document_xml(invoice)).xpath(
            "string(//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount)",
            namespaces=CII,
        )
        assert allowance == "4.40"
        assert document_failures(invoice) == []

    def test_a_one_off_charge_invoiced_at_once(self):
        user = make_customer(**FRENCH_BUSINESS)

        charge = charge_add(user=user, description="Onboarding workshop", amount=Decimal("250.00"), invoice_now=True,
                            now=paris(2026, 10, 20, 16))

        invoice = charge.invoice
        assert (invoice.kind, invoice.total) == (InvoiceKind.ONE_OFF, Decimal("300.00"))
        assert document_failures(invoice) == []

    def test_an_interim_invoice_and_the_final_invoice_that_deducts_it(self):
        # Spike: 1,000,000 tokens included, 2.00 per million, threshold 10.00. 6,000,000 tokens by 10 November:
        # 5,000,000 over = 10.00 billed at once; the final invoice takes it off again (quantity −1 at 10.00).
        subscription = subscribe(spike_plan(), **FRENCH_BUSINESS)
        UsageLogFactory(user=subscription.user, tokens=6_000_000, created_at=paris(2026, 11, 10, 9))

        interim = interim_invoice_issue(subscription_id=subscription.pk, now=paris(2026, 11, 10, 9, 5))
        invoice_run(period_end=datetime.date(2026, 12, 1), customer=subscription.user, now=paris(2026, 12, 1, 7))
        final = Invoice.objects.get(user=subscription.user, kind=InvoiceKind.PERIOD)

        assert (interim.kind, interim.total) == (InvoiceKind.INTERIM, Decimal("12.00"))
        assert final.subtotal == Decimal("19.00")
        assert xml_lines(document_xml(final))[-1] == ("-1", "10", "1", "-10.00")
        assert document_failures(interim) == []
        assert document_failures(final) == []


@pytest.mark.django_db
class TestTheRulesCatchBrokenDocuments:
    @staticmethod
    def tampered(xml: bytes, path: str, change) -> bytes:
        root = etree.fromstring(xml)
        [node] = root.xpath(path, namespaces=CII)
        change(node)
        return etree.tostring(root)

    def test_totals_that_do_not_add_up(self):
        xml = document_xml(october_invoice(**FRENCH_BUSINESS))
        broken = self.tampered(xml, "//ram:GrandTotalAmount", lambda total: setattr(total, "text", "26.41"))

        assert any("BR-CO-15" in failure for failure in en16931_failures(broken))

    def test_no_billing_framework(self):
        xml = document_xml(october_invoice(**FRENCH_BUSINESS))
        assert etree.fromstring(xml).xpath(f"string({BILLING_FRAMEWORK})", namespaces=CII) == "S1"
        broken = self.tampered(
            xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter", lambda node: node.getparent().remove(node)
        )

        failures = en16931_failures(broken)

        assert [failure for failure in failures if failure.startswith("[FR CTC]")] == failures
        assert any("BR-FR-08" in failure for failure in failures), failures

    def test_a_quantity_with_six_decimals(self):
        xml = document_xml(october_invoice(**FRENCH_BUSINESS))
        broken = self.tampered(xml, "(//ram:BilledQuantity)[1]", lambda quantity: setattr(quantity, "text", "1.000000"))

        assert any("BR-FR-DEC-02" in failure for failure in en16931_failures(broken))
