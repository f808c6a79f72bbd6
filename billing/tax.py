"""Which VAT an invoice carries, from the buyer's country and VAT number (offline check, python-stdnum)."""
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from stdnum.eu import vat as eu_vat

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# VAT numbers carry the country's VAT prefix, which differs from ISO 3166 for Greece.
VAT_PREFIX_COUNTRY = {"EL": "GR"}
# Monaco is inside the French VAT territory.
FRENCH_VAT_TERRITORY = frozenset({"FR", "MC"})

REVERSE_CHARGE_MENTION = "Autoliquidation — article 196 of Directive 2006/112/EC"
OUTSIDE_EU_MENTION = "TVA non applicable – art. 259-1 du CGI (place of supply outside the EU)"


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


def tax_treatment(*, country: str, vat_number: str) -> TaxTreatment:
    country = buyer_country(country)
    if country in FRENCH_VAT_TERRITORY:
        return TaxTreatment(settings.INVOICE_TAX_RATE, False, "")
    if country in EU_COUNTRIES:
        if vat_number_matches_country(vat_number, country):
            return TaxTreatment(Decimal("0"), True, REVERSE_CHARGE_MENTION)
        return TaxTreatment(settings.INVOICE_TAX_RATE, False, "")  # an EU consumer pays French VAT
    return TaxTreatment(Decimal("0"), False, OUTSIDE_EU_MENTION)
