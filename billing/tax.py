"""Which VAT an invoice carries, from the buyer's country, VAT number and company, and the invoice's tax point.

One function decides every case (`tax_treatment`: the buyer's `tax_case`, kept with each buyer snapshot, then
its `case_treatment` on the day); the README's tax table lists them. The mentions are stored on the invoice when
it is priced and printed as they are: the French legal wording first (the French tax
administration reads it), then a short English gloss for the foreign buyer.
"""
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from stdnum.eu import vat as eu_vat

from billing.models import TaxCase
from billing.vat_rates import MEMBER_STATES, standard_rate

# VAT numbers carry the country's VAT prefix, which differs from ISO 3166 for Greece.
VAT_PREFIX_COUNTRY = {"EL": "GR"}
# Monaco is inside the French VAT territory.
FRENCH_VAT_TERRITORY = frozenset({"FR", "MC"})
NO_VAT = Decimal("0")

REVERSE_CHARGE_MENTION = "Autoliquidation — article 196 of Directive 2006/112/EC"
OUTSIDE_EU_MENTION = "TVA non applicable – art. 259-1 du CGI (place of supply outside the EU)"
# Electronically supplied services to a non-taxable person established outside the EU (CGI art. 259 B, 12°;
# art. 59 of Directive 2006/112/EC) are supplied where that person is, not in France.
OUTSIDE_EU_CONSUMER_MENTION = (
    "TVA non applicable – art. 259 B du CGI (electronically supplied services to a consumer outside the EU)"
)
# Electronically supplied services to an EU consumer are supplied in the consumer's member state (art. 58 of
# Directive 2006/112/EC): its VAT is charged and declared in France through the One-Stop Shop (OSS, Union scheme).
OSS_MENTION = (
    "TVA de l'État membre du client ({country}) déclarée via le guichet unique OSS – art. 58 de la directive "
    "2006/112/CE ({country} VAT, One-Stop Shop)"
)


@dataclass(frozen=True)
class TaxTreatment:
    rate: Decimal
    reverse_charge: bool
    mention: str


def buyer_country(country: str) -> str:
    """A profile without a country counts as France."""
    return (country or "FR").upper()


def vat_number_matches_country(vat_number: str, country: str) -> bool:
    """True when `vat_number` is a valid EU VAT number (checksum, offline) issued by `country`."""
    if not vat_number:
        return False
    compact = eu_vat.compact(vat_number)
    prefix = compact[:2].upper()
    return eu_vat.is_valid(compact) and VAT_PREFIX_COUNTRY.get(prefix, prefix) == country


def tax_case(*, country: str, vat_number: str, company_name: str) -> TaxCase:
    """The buyer's case from their country, VAT number and company name (the profile's part of `tax_treatment`)."""
    country = buyer_country(country)
    if country in FRENCH_VAT_TERRITORY:
        return TaxCase.FRENCH
    if country in MEMBER_STATES:
        # A business without a valid VAT number of its country is treated as a consumer.
        return TaxCase.EU_BUSINESS if vat_number_matches_country(vat_number, country) else TaxCase.EU_CONSUMER
    # Outside the EU nothing proves a buyer's status like a VAT number does inside: a company name or a VAT / tax
    # number on the profile makes a business (B2B, art. 259-1), neither a consumer (art. 259 B).
    return TaxCase.OUTSIDE_EU_BUSINESS if company_name or vat_number else TaxCase.OUTSIDE_EU_CONSUMER


def case_treatment(case: str, *, country: str, tax_point: datetime.date) -> TaxTreatment:
    """The VAT of an invoice to a buyer of `case` in `country` whose tax point (its issue date) is `tax_point`."""
    country = buyer_country(country)
    if case == TaxCase.EU_BUSINESS:
        return TaxTreatment(NO_VAT, True, REVERSE_CHARGE_MENTION)
    if case == TaxCase.EU_CONSUMER and settings.OSS_REGISTERED:
        return TaxTreatment(standard_rate(country, tax_point), False, OSS_MENTION.format(country=country))
    if case in (TaxCase.FRENCH, TaxCase.EU_CONSUMER):
        return TaxTreatment(settings.INVOICE_TAX_RATE, False, "")
    if case == TaxCase.OUTSIDE_EU_BUSINESS:
        return TaxTreatment(NO_VAT, False, OUTSIDE_EU_MENTION)
    return TaxTreatment(NO_VAT, False, OUTSIDE_EU_CONSUMER_MENTION)


def tax_treatment(*, country: str, vat_number: str, company_name: str, tax_point: datetime.date) -> TaxTreatment:
    """The VAT of an invoice to this buyer whose tax point (its issue date) is `tax_point`."""
    case = tax_case(country=country, vat_number=vat_number, company_name=company_name)
    return case_treatment(case, country=country, tax_point=tax_point)


def vat_country(*, buyer_country: str, tax_rate: Decimal, tax_mention: str) -> str:
    """The member state whose VAT an issued invoice charges, "" when it charges none, read back from what the invoice
    stores (reports group by it): French VAT never carries a mention and OSS VAT always does, so a taxed invoice
    with a mention charges its buyer's country's VAT, any other taxed invoice French VAT."""
    if tax_rate <= 0:
        return ""
    return buyer_country if tax_mention else "FR"
