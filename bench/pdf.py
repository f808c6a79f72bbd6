"""Invoice PDFs rendered per second: Factur-X PDF/A-3 documents built in memory, no database.

The documents are what the monthly run renders: 2 to 4 lines (the plan, prorated when it changed during
the month, and the usage above the quota), in French and English, with French VAT, EU reverse charge or
export outside the EU.
"""
import argparse
import dataclasses
import datetime
import random
import time
from decimal import Decimal

from bench import django_setup, progress, rate
from billing.documents.data import INVOICE, RECOVERY_INDEMNITY, DocumentLine, DocumentParty, InvoiceDocument
from billing.documents.facturx import render_invoice_document
from billing.money import ZERO, round_money

VAT_RATE = Decimal("0.2000")
REVERSE_CHARGE_MENTION = "Autoliquidation — article 196 of Directive 2006/112/EC"
OUTSIDE_EU_MENTION = "TVA non applicable – art. 259-1 du CGI (place of supply outside the EU)"

SELLER = DocumentParty(
    name="TwinMCP SAS", address_line1="12 rue de la Paix", postal_code="75002", city="Paris", country="FR",
    vat_number="FR40303265045", siren="303265045", email="billing@twinmcp.dev",
)
BUYERS = (  # (buyer, language, VAT rate, reverse charge, mention)
    (DocumentParty(name="Camille Martin", company_name="Atelier Numérique SARL", address_line1="10 rue de Rivoli",
                   postal_code="75001", city="Paris", country="FR", vat_number="FR44732829320", siren="732829320",
                   email="compta@atelier.example"), "fr", VAT_RATE, False, ""),
    (DocumentParty(name="Léa Dubois", address_line1="3 place Bellecour", postal_code="69002", city="Lyon",
                   country="FR", email="lea@example.fr"), "fr", VAT_RATE, False, ""),
    (DocumentParty(name="Jonas Weber", company_name="Weber Software GmbH", address_line1="Torstraße 1",
                   postal_code="10119", city="Berlin", country="DE", vat_number="DE136695976"), "en",
     Decimal("0"), True, REVERSE_CHARGE_MENTION),
    (DocumentParty(name="Ada Byron", company_name="Analytical Engines Inc.", address_line1="1 Market Street",
                   postal_code="94105", city="San Francisco", country="US"), "en", Decimal("0"), False,
     OUTSIDE_EU_MENTION),
)
PLANS = (("Pro", Decimal("19.00"), Decimal("2.00")), ("Team", Decimal("99.00"), Decimal("1.50")))
PERIOD_START, PERIOD_END = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)
ISSUE_DATE, DUE_DATE = datetime.date(2026, 11, 1), datetime.date(2026, 12, 1)
ONE = Decimal("1.000000")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=2000, help="documents to render (default 2000)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the generated documents")


def _lines(rng: random.Random) -> tuple[DocumentLine, ...]:
    """The plan (cut in prorations when it changed during the month), then the usage above the quota."""
    changes = rng.choice((0, 0, 0, 1, 1, 2))
    plans = [rng.choice(PLANS) for _ in range(changes + 1)]
    cuts = sorted(rng.sample(range(2, 30), changes)) if changes else []
    bounds = [1, *cuts, 32]
    lines = []
    for (name, price, _), first, after in zip(plans, bounds[:-1], bounds[1:], strict=True):
        days = after - first
        if days == 31:
            lines.append(DocumentLine(f"{name} plan, October 2026", ONE, price, price))
        else:
            amount = round_money(price * days / 31)
            lines.append(DocumentLine(f"{name} plan, {days}/31 days of October 2026", ONE, amount, amount))
    name, _, per_million = plans[-1]
    included = 5_000_000 if name == "Pro" else 50_000_000
    overage = rng.randint(1, 40_000_000)
    lines.append(DocumentLine(f"Usage above the {included:,} included tokens", Decimal(overage), per_million,
                              round_money(overage * per_million / 1_000_000), price_base_quantity=1_000_000))
    return tuple(lines)


def document(rng: random.Random, sequence: int) -> InvoiceDocument:
    """One invoice as the monthly run would issue it, figures consistent with its lines."""
    buyer, language, tax_rate, reverse_charge, mention = rng.choice(BUYERS)
    lines = _lines(rng)
    subtotal = sum((line.amount for line in lines), ZERO)
    tax = round_money(subtotal * tax_rate)
    total = subtotal + tax
    credit = min(total, Decimal(rng.choice((0, 0, 0, 10, 25))))
    days = (DUE_DATE - ISSUE_DATE).days
    terms = (f"Paiement à {days} jours à compter de la date d'émission, au plus tard le {DUE_DATE.isoformat()}."
             if language == "fr" else f"Payable within {days} days of the issue date, by {DUE_DATE.isoformat()} "
             "at the latest.")
    return InvoiceDocument(
        kind=INVOICE, number=f"TMCP-2026-{sequence:06d}", issue_date=ISSUE_DATE, due_date=DUE_DATE,
        period_start=PERIOD_START, period_end=PERIOD_END, currency="EUR", seller=SELLER, buyer=buyer, lines=lines,
        subtotal=subtotal, tax_rate=tax_rate, tax_amount=tax, total=total, credit_applied=credit,
        amount_paid=ZERO, amount_due=total - credit, reverse_charge=reverse_charge, tax_mention=mention,
        language=language, late_payment_rate=Decimal("12.15"), recovery_indemnity=RECOVERY_INDEMNITY,
        payment_terms=terms,
    )


def run(args: argparse.Namespace) -> dict:
    django_setup()  # no database, but the documents' texts come from the translation catalogue
    rng = random.Random(args.seed)
    documents = [document(rng, n) for n in range(1, args.count + 1)]
    progress(f"built {len(documents)} documents; warming up (fonts, logo, XML schema)")
    render_invoice_document(dataclasses.replace(documents[0], number="TMCP-2026-999999"))
    step = max(1, args.count // 10)
    total_bytes = 0
    started = time.perf_counter()
    for done, each in enumerate(documents, start=1):
        total_bytes += len(render_invoice_document(each))
        if done % step == 0 or done == args.count:
            elapsed = time.perf_counter() - started
            progress(f"{done}/{args.count} rendered in {elapsed:.1f}s ({rate(done, elapsed)}/s)")
    seconds = time.perf_counter() - started
    return {
        "count": args.count,
        "seconds": round(seconds, 2),
        "pdfs_per_second": rate(args.count, seconds),
        "mean_kb": round(total_bytes / args.count / 1024, 1) if args.count else 0,
    }
