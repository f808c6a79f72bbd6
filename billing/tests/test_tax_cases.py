"""Every tax case end to end: the monthly run invoices a buyer, and the invoice carries the VAT, the mention and the
e-invoices that case calls for (every validator clean).

October 2026 on Pro (19.00, 5,000,000 tokens included, 2.00 per million), 6,500,000 tokens used: fee 19.00 and
1,500,000 tokens of overage = 3.00, subtotal 22.00, issued on 1 November 2026.
"""
import datetime
from decimal import Decimal

import pytest
from lxml import etree

from accounts.tests.factories import make_customer
from billing.documents.data import invoice_document
from billing.models import CreditNote, Invoice
from billing.selectors import invoice_upcoming
from billing.services import invoice_cancel, invoice_finalize, invoice_generate, invoice_run
from billing.tax import (
    OUTSIDE_EU_CONSUMER_MENTION,
    OUTSIDE_EU_MENTION,
    REVERSE_CHARGE_MENTION,
    tax_treatment,
    vat_country,
)
from billing.tests.einvoice import cii_rule_sets, document_failures, document_xml, en16931_failures
from billing.tests.factories import PARIS, PlanFactory, SubscriptionFactory, period_invoice_of, pro_customer
from billing.vat_rates import STANDARD_RATE_ROWS, VatRateUnknown, standard_rate

NOVEMBER_1 = datetime.date(2026, 11, 1)
RUN_AT = datetime.datetime(2026, 11, 1, 2, 0, tzinfo=PARIS)
RAM = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}

FRENCH_BUSINESS = {"company_name": "Atelier Durand", "vat_number": "FR40303265045"}
FRENCH_CONSUMER = {"company_name": ""}
GERMAN_BUSINESS = {"company_name": "Acme GmbH", "country": "DE", "vat_number": "DE136695976"}
GERMAN_CONSUMER = {"company_name": "", "country": "DE"}
FINNISH_CONSUMER = {"company_name": "", "country": "FI"}
AMERICAN_BUSINESS = {"company_name": "Acme Inc.", "country": "US"}
AMERICAN_CONSUMER = {"company_name": "", "country": "US"}


def period_invoice(*, period_start=datetime.date(2026, 10, 1), period_end=NOVEMBER_1, run_at=RUN_AT, **profile):
    """The invoice of a month on Pro with 6,500,000 tokens used (subtotal 22.00), issued by the run at `run_at`."""
    user = pro_customer(period_start=period_start, period_end=period_end, **profile)
    return period_invoice_of(user, period_end=period_end, now=run_at)


def xml_tax(invoice: Invoice | CreditNote) -> dict:
    """What the Factur-X says of the VAT: category, rate, amount, and the exemption reason when there is one."""
    root = etree.fromstring(document_xml(invoice))
    [tax] = root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=RAM)
    return {
        "category": tax.findtext("ram:CategoryCode", namespaces=RAM),
        "rate": tax.findtext("ram:RateApplicablePercent", namespaces=RAM),
        "amount": tax.findtext("ram:CalculatedAmount", namespaces=RAM),
        "exemption": tax.findtext("ram:ExemptionReason", namespaces=RAM),
        "notes": [note.text for note in root.xpath("//ram:IncludedNote/ram:Content", namespaces=RAM)],
    }


@pytest.mark.django_db
class TestEveryBuyerGetsItsTax:
    @pytest.mark.parametrize(
        ("oss", "profile", "tax_rate", "tax_amount", "total", "category", "mention"),
        [
            (False, FRENCH_BUSINESS, "0.2000", "4.40", "26.40", "S", ""),
            (False, FRENCH_CONSUMER, "0.2000", "4.40", "26.40", "S", ""),
            (True, FRENCH_CONSUMER, "0.2000", "4.40", "26.40", "S", ""),  # OSS is for other member states only
            (True, GERMAN_BUSINESS, "0.0000", "0.00", "22.00", "AE", REVERSE_CHARGE_MENTION),
            (False, GERMAN_CONSUMER, "0.2000", "4.40", "26.40", "S", ""),  # French VAT below the OSS threshold
            (False, AMERICAN_BUSINESS, "0.0000", "0.00", "22.00", "G", OUTSIDE_EU_MENTION),
            (True, AMERICAN_CONSUMER, "0.0000", "0.00", "22.00", "G", OUTSIDE_EU_CONSUMER_MENTION),
        ],
        ids=[
            "fr-business", "fr-consumer", "fr-consumer-oss", "eu-business-reverse-charge", "eu-consumer-oss-off",
            "non-eu-business", "non-eu-consumer",
        ],
    )
    def test_the_period_invoice(self, settings, oss, profile, tax_rate, tax_amount, total, category, mention):
        settings.OSS_REGISTERED = oss

        invoice = period_invoice(**profile)

        assert (invoice.subtotal, invoice.tax_rate, invoice.tax_amount, invoice.total) == (
            Decimal("22.00"), Decimal(tax_rate), Decimal(tax_amount), Decimal(total)
        )
        assert invoice.tax_mention == mention
        assert xml_tax(invoice)["category"] == category
        assert document_failures(invoice) == []

    @pytest.mark.parametrize(
        ("profile", "tax_rate", "xml_rate", "tax_amount", "total"),
        [
            (GERMAN_CONSUMER, "0.1900", "19", "4.18", "26.18"),
            (FINNISH_CONSUMER, "0.2550", "25.5", "5.61", "27.61"),
            # A company without a valid VAT number of its own country is charged as a consumer.
            ({"company_name": "Oy Yritys Ab", "country": "FI", "vat_number": "DE136695976"}, "0.2550", "25.5",
             "5.61", "27.61"),
        ],
        ids=["germany", "finland", "company-without-valid-vat-number"],
    )
    def test_an_eu_consumer_under_oss_pays_the_vat_of_their_country(
        self, settings, profile, tax_rate, xml_rate, tax_amount, total
    ):
        settings.OSS_REGISTERED = True
        country = profile["country"]

        invoice = period_invoice(**profile)

        assert (invoice.tax_rate, invoice.tax_amount, invoice.total, invoice.reverse_charge) == (
            Decimal(tax_rate), Decimal(tax_amount), Decimal(total), False
        )
        assert invoice.tax_mention == (
            f"TVA de l'État membre du client ({country}) déclarée via le guichet unique OSS – art. 58 de la "
            f"directive 2006/112/CE ({country} VAT, One-Stop Shop)"
        )
        tax = xml_tax(invoice)
        assert (tax["category"], tax["rate"], tax["amount"]) == ("S", xml_rate, tax_amount)
        assert invoice.tax_mention in tax["notes"]
        assert document_failures(invoice) == []

    def test_an_oss_factur_x_is_checked_by_en_16931_and_factur_x_not_by_the_french_ctc_rules(self, settings):
        """The French CTC rules check the French e-invoicing exchange (Flux 2), between taxable persons established in
        France; a sale at another member state's VAT is to a consumer there, e-reported instead, and those rules,
        which accept French VAT rates only (BR-FR-16), would refuse its rate."""
        settings.OSS_REGISTERED = True
        invoice = period_invoice(**GERMAN_CONSUMER)
        xml = document_xml(invoice)

        assert cii_rule_sets(invoice_document(invoice)) == ["EN 16931 CII", "Factur-X EN 16931"]
        assert en16931_failures(xml, rule_sets=["EN 16931 CII", "Factur-X EN 16931"]) == []
        french_findings = en16931_failures(xml, rule_sets=["FR CTC"])
        assert french_findings and all(
            finding.startswith("[FR CTC] BR-FR-16_") and 'Taux fourni : "19"' in finding for finding in french_findings
        ), french_findings
        assert document_failures(invoice) == []
        # French VAT to the same consumer (OSS off) is in the exchange's scope: all three rule sets.
        settings.OSS_REGISTERED = False
        assert cii_rule_sets(invoice_document(period_invoice(**GERMAN_CONSUMER))) == [
            "EN 16931 CII", "Factur-X EN 16931", "FR CTC",
        ]

    def test_the_credit_note_cancelling_it_credits_the_same_rate_after_the_rate_changed(self, settings):
        settings.OSS_REGISTERED = True
        invoice = period_invoice(
            company_name="", country="EE", period_start=datetime.date(2025, 5, 1),
            period_end=datetime.date(2025, 6, 1), run_at=datetime.datetime(2025, 6, 30, 9, tzinfo=PARIS),
        )

        invoice_cancel(invoice=invoice, reason="Billed twice", now=datetime.datetime(2025, 7, 2, 9, tzinfo=PARIS))

        credit_note = CreditNote.objects.get(invoice=invoice)
        assert (credit_note.tax_rate, credit_note.subtotal, credit_note.tax_amount, credit_note.amount) == (
            Decimal("0.2200"), Decimal("22.00"), Decimal("4.84"), Decimal("26.84")
        )
        assert document_failures(credit_note) == []

    def test_a_non_eu_buyer_with_a_tax_number_and_no_company_name_is_a_business(self):
        invoice = period_invoice(company_name="", country="CH", vat_number="CHE-116.281.710")

        assert (invoice.total, invoice.tax_mention) == (Decimal("22.00"), OUTSIDE_EU_MENTION)
        assert xml_tax(invoice)["exemption"] == OUTSIDE_EU_MENTION

    def test_the_non_eu_consumer_mention_is_the_xml_exemption_reason(self):
        invoice = period_invoice(**AMERICAN_CONSUMER)

        assert xml_tax(invoice)["exemption"] == OUTSIDE_EU_CONSUMER_MENTION
        assert "259-1" not in invoice.tax_mention


@pytest.mark.django_db
class TestTheRateInForceOnTheIssueDay:
    """Estonia's standard rate went from 22 % to 24 % on 1 July 2025: May 2025 invoiced late, on 30 June, bills
    22 %; the same month invoiced on 1 July bills 24 %."""

    @pytest.mark.parametrize(
        ("run_at", "tax_rate", "tax_amount", "total"),
        [
            (datetime.datetime(2025, 6, 30, 23, 30, tzinfo=PARIS), "0.2200", "4.84", "26.84"),
            # 00:30 in Paris on 1 July is still 30 June in UTC: the issue day is Paris's.
            (datetime.datetime(2025, 7, 1, 0, 30, tzinfo=PARIS), "0.2400", "5.28", "27.28"),
        ],
        ids=["day-before", "day-of-the-change"],
    )
    def test_estonia(self, settings, run_at, tax_rate, tax_amount, total):
        settings.OSS_REGISTERED = True

        invoice = period_invoice(
            company_name="", country="EE", period_start=datetime.date(2025, 5, 1),
            period_end=datetime.date(2025, 6, 1), run_at=run_at,
        )

        assert invoice.issue_date == run_at.date()
        assert (invoice.tax_rate, invoice.tax_amount, invoice.total) == (
            Decimal(tax_rate), Decimal(tax_amount), Decimal(total)
        )
        assert document_failures(invoice) == []

    def test_a_draft_priced_before_the_change_is_priced_again_when_issued(self, settings, time_machine):
        settings.OSS_REGISTERED = True
        time_machine.move_to(datetime.datetime(2025, 6, 30, 18, tzinfo=PARIS), tick=False)
        user = make_customer(company_name="", country="EE")
        subscription = SubscriptionFactory(
            user=user, plan=PlanFactory(), current_period_start=datetime.date(2025, 5, 1),
            current_period_end=datetime.date(2025, 6, 1),
        )
        draft = invoice_generate(subscription=subscription, period="2025-05")
        assert (draft.tax_rate, draft.total) == (Decimal("0.22"), Decimal("23.18"))

        invoice = invoice_finalize(invoice=draft, now=datetime.datetime(2025, 7, 1, 9, tzinfo=PARIS))

        assert (invoice.issue_date, invoice.tax_rate, invoice.tax_amount, invoice.total) == (
            datetime.date(2025, 7, 1), Decimal("0.24"), Decimal("4.56"), Decimal("23.56")
        )

    def test_a_period_invoiced_before_the_rates_table_is_refused_whole(self, settings):
        settings.OSS_REGISTERED = True
        user = make_customer(company_name="", country="DE")
        subscription = SubscriptionFactory(
            user=user, plan=PlanFactory(), current_period_start=datetime.date(2015, 11, 1),
            current_period_end=datetime.date(2015, 12, 1),
        )

        with pytest.raises(VatRateUnknown, match="starts on 2016-01-01"):
            invoice_run(period_end=datetime.date(2015, 12, 1), customer=user,
                        now=datetime.datetime(2015, 12, 1, 2, tzinfo=PARIS))

        subscription.refresh_from_db()
        assert not Invoice.objects.filter(user=user).exists()
        assert subscription.current_period_end == datetime.date(2015, 12, 1)  # not rolled either


@pytest.mark.django_db
def test_the_upcoming_invoice_estimates_the_oss_rate(settings):
    settings.OSS_REGISTERED = True
    user = make_customer(**FINNISH_CONSUMER)
    subscription = SubscriptionFactory(user=user, plan=PlanFactory(), current_period_start=datetime.date(2026, 10, 1),
                                       current_period_end=NOVEMBER_1)

    upcoming = invoice_upcoming(subscription=subscription, now=datetime.datetime(2026, 10, 20, tzinfo=PARIS))

    assert (upcoming.subtotal, upcoming.tax_rate, upcoming.tax_amount, upcoming.total) == (
        Decimal("19.00"), Decimal("0.255"), Decimal("4.85"), Decimal("23.85")
    )
    assert "guichet unique OSS" in upcoming.tax_mention


class TestStandardRates:
    @pytest.mark.parametrize(
        ("country", "change_day", "before", "after"),
        [
            ("EE", datetime.date(2025, 7, 1), "0.22", "0.24"),
            ("EE", datetime.date(2024, 1, 1), "0.20", "0.22"),
            ("SK", datetime.date(2025, 1, 1), "0.20", "0.23"),
            ("FI", datetime.date(2024, 9, 1), "0.24", "0.255"),
            ("RO", datetime.date(2025, 8, 1), "0.19", "0.21"),
            ("DE", datetime.date(2020, 7, 1), "0.19", "0.16"),
            ("DE", datetime.date(2021, 1, 1), "0.16", "0.19"),
            ("IE", datetime.date(2021, 3, 1), "0.21", "0.23"),
            ("LU", datetime.date(2024, 1, 1), "0.16", "0.17"),
        ],
    )
    def test_a_change_applies_from_its_day(self, country, change_day, before, after):
        assert standard_rate(country, change_day - datetime.timedelta(days=1)) == Decimal(before)
        assert standard_rate(country, change_day) == Decimal(after)

    def test_every_member_state_has_a_rate_from_the_first_day(self):
        countries = {country for country, _, _ in STANDARD_RATE_ROWS}

        assert len(countries) == 27
        assert all(Decimal("0.15") <= standard_rate(country, datetime.date(2016, 1, 1)) < 1 for country in countries)

    def test_greece_goes_by_its_iso_code(self):
        assert standard_rate("GR", datetime.date(2026, 11, 1)) == Decimal("0.24")

    @pytest.mark.parametrize(
        ("country", "day", "error"),
        [
            ("US", datetime.date(2026, 11, 1), "'US' is not an EU member state"),
            ("EL", datetime.date(2026, 11, 1), "'EL' is not an EU member state"),
            ("DE", datetime.date(2015, 12, 31), "no rate is known for DE on 2015-12-31"),
        ],
    )
    def test_an_unknown_rate_is_a_clear_error(self, country, day, error):
        with pytest.raises(VatRateUnknown, match=error):
            standard_rate(country, day)


class TestVatCountry:
    """The member state whose VAT an invoice charges, as the reports read it back from the invoice."""

    @pytest.mark.parametrize(
        ("oss", "country", "vat_number", "company_name", "expected"),
        [
            (True, "FR", "", "", "FR"),
            (True, "MC", "", "", "FR"),
            (True, "DE", "", "", "DE"),
            (False, "DE", "", "", "FR"),
            (True, "DE", "DE136695976", "Acme GmbH", ""),
            (True, "US", "", "", ""),
            (True, "US", "", "Acme Inc.", ""),
        ],
    )
    def test_of_each_treatment(self, settings, oss, country, vat_number, company_name, expected):
        settings.OSS_REGISTERED = oss
        treatment = tax_treatment(
            country=country, vat_number=vat_number, company_name=company_name, tax_point=datetime.date(2026, 11, 1)
        )

        assert vat_country(buyer_country=country, tax_rate=treatment.rate, tax_mention=treatment.mention) == expected
