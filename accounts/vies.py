"""EU VAT numbers checked with VIES, the European Commission's VAT Information Exchange System (`VIES_URL`).

One SOAP operation, `checkVatApprox`, POSTed with urllib3: python-stdnum's `check_vies` and zeep both read the
service's WSDL from the Commission's site at run time, which neither a test nor a locked-down server may do, and
the envelope of one operation is fixed. The seller's VAT number goes as requester, so that VIES answers with a
consultation reference (`requestIdentifier`), the proof that the number was valid on that day.

Valid and invalid answers are cached by number for a day; "unavailable" (no answer within
`VIES_TIMEOUT_SECONDS`, a refused connection, a SOAP fault such as MS_UNAVAILABLE or GLOBAL_MAX_CONCURRENT_REQ)
never is, so that the next save or the re-check task asks again.
"""
import datetime
import logging
from dataclasses import dataclass
from xml.etree import ElementTree

import urllib3
from django.conf import settings
from django.core.cache import cache
from stdnum.eu import vat as eu_vat
from stdnum.util import clean

from .models import ViesStatus

logger = logging.getLogger(__name__)

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
VIES_NS = "urn:ec.europa.eu:taxud:vies:services:checkVat:types"
CACHE_TIMEOUT = 24 * 3600
# The fault VIES answers for a number it cannot even look up; every other fault (MS_UNAVAILABLE, TIMEOUT,
# SERVICE_UNAVAILABLE, GLOBAL_MAX_CONCURRENT_REQ, INVALID_REQUESTER_INFO…) is about VIES or our request, not the
# customer's number.
NUMBER_REFUSED_FAULTS = frozenset({"INVALID_INPUT"})


# Why VIES could not answer when no SOAP fault says it: no answer in time, a refused connection, a garbled reply.
UNREACHABLE = "UNREACHABLE"


@dataclass(frozen=True)
class ViesAnswer:
    status: str  # ViesStatus.VALID, INVALID or UNAVAILABLE
    checked_at: datetime.datetime
    reference: str = ""
    fault: str = ""  # UNAVAILABLE's reason: VIES's SOAP fault (MS_UNAVAILABLE…), or UNREACHABLE


def vies_applies(*, vat_number: str, country: str) -> bool:
    """Whether VIES knows numbers of `country` (ISO 3166 code): the EU member states, France included."""
    return bool(vat_number) and country.lower() in eu_vat.MEMBER_STATES


def _cache_key(vat_number: str) -> str:
    return f"vies:{vat_number}"


def vat_number_check(*, vat_number: str, now: datetime.datetime) -> ViesAnswer:
    """What VIES says of `vat_number` (compact, with its VAT prefix, e.g. DE136695976 or EL094259216), from the
    cache when it answered within the day."""
    cached = cache.get(_cache_key(vat_number))
    if cached is not None:
        return cached
    answer = _vies_ask(vat_number=vat_number, now=now)
    if answer.status != ViesStatus.UNAVAILABLE:
        cache.set(_cache_key(vat_number), answer, timeout=CACHE_TIMEOUT)
    return answer


def _envelope(*, vat_number: str, requester: str) -> bytes:
    envelope = ElementTree.Element(f"{{{SOAP_NS}}}Envelope")
    body = ElementTree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    request = ElementTree.SubElement(body, f"{{{VIES_NS}}}checkVatApprox")
    values = [("countryCode", vat_number[:2]), ("vatNumber", vat_number[2:])]
    if requester:
        values += [("requesterCountryCode", requester[:2]), ("requesterVatNumber", requester[2:])]
    for name, value in values:
        ElementTree.SubElement(request, f"{{{VIES_NS}}}{name}").text = value
    return ElementTree.tostring(envelope, encoding="utf-8", xml_declaration=True)


def _vies_ask(*, vat_number: str, now: datetime.datetime) -> ViesAnswer:
    requester = clean(settings.SELLER["vat_number"], " -./,").upper().strip()
    body = _envelope(vat_number=vat_number, requester=requester)
    try:
        response = urllib3.request(
            "POST", settings.VIES_URL, body=body, headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": ""},
            timeout=urllib3.Timeout(total=settings.VIES_TIMEOUT_SECONDS), retries=False,
        )
        root = ElementTree.fromstring(response.data)
    except (urllib3.exceptions.HTTPError, ElementTree.ParseError) as error:
        logger.warning("VIES could not be reached for %s: %s", vat_number[:2], error)
        return ViesAnswer(status=ViesStatus.UNAVAILABLE, checked_at=now, fault=UNREACHABLE)
    fault = root.findtext(f".//{{{SOAP_NS}}}Fault/faultstring", default="").strip()
    if fault in NUMBER_REFUSED_FAULTS:
        return ViesAnswer(status=ViesStatus.INVALID, checked_at=now)
    result = root.find(f".//{{{VIES_NS}}}checkVatApproxResponse")
    if result is None:
        logger.warning("VIES could not check a number of %s: %s (HTTP %s)", vat_number[:2], fault, response.status)
        return ViesAnswer(status=ViesStatus.UNAVAILABLE, checked_at=now, fault=fault or UNREACHABLE)
    if result.findtext(f"{{{VIES_NS}}}valid", default="").strip() != "true":
        return ViesAnswer(status=ViesStatus.INVALID, checked_at=now)
    reference = result.findtext(f"{{{VIES_NS}}}requestIdentifier", default="").strip()
    return ViesAnswer(status=ViesStatus.VALID, checked_at=now, reference=reference)
