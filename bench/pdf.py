"""Invoice documents rendered per second (Factur-X PDF/A-3 and UBL XML) against a bare reportlab page of each.

The documents are what the monthly run renders: 2 to 4 lines (the plan, prorated when it changed during
the month, and the usage above the quota), in French and English, with French VAT, EU reverse charge or
export outside the EU. The floor draws the same texts and table with the same fonts on the same page size,
straight on a reportlab canvas: no PDF/A, no XML, no embedded file. Floor and product alternate in rounds.
"""
import argparse
import cProfile
import dataclasses
import datetime
import io
import random
import time
from decimal import Decimal

from django.utils.translation import gettext, pgettext
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from bench import django_setup, progress, rate
from bench.invoice_run import _print_profile
from billing.documents import pdf
from billing.documents.data import INVOICE, RECOVERY_INDEMNITY, DocumentLine, DocumentParty, InvoiceDocument
from billing.documents.facturx import render_invoice_document
from billing.documents.pdf import (
    ACCENT,
    BAND,
    CONTENT_WIDTH,
    INK,
    MARGIN_TOP,
    MARGIN_X,
    MUTED,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    RULE,
)
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
# The floor's fonts: the product's Vera and Vera Bold files as reportlab embeds any TrueType font (a subset of the
# characters each page uses, made for each page), not the product's fonts, whose subsets are kept per process.
# registerFont would answer these names with the product's fonts (it keeps one font per TrueType face), so they
# go into reportlab's table of fonts directly.
FONT, FONT_BOLD = "BareVera", "BareVeraBd"
for _name, _file in ((FONT, pdf.FONT), (FONT_BOLD, pdf.FONT_BOLD)):
    pdfmetrics._fonts[_name] = TTFont(_name, pdfmetrics.getFont(_file).face.filename, asciiReadable=False)
assert type(pdfmetrics.getFont(FONT)) is TTFont and type(pdfmetrics.getFont(FONT_BOLD)) is TTFont


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=2000, help="documents to render (default 2000)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the generated documents")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of floor then product (default 10)")
    parser.add_argument("--profile", metavar="FILE", help="run the product's renders under cProfile, save the stats "
                        "to FILE and print the top functions")


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


@dataclasses.dataclass(frozen=True)
class BarePage:
    """The texts of one invoice's page, as the product prints them, for the floor to draw."""

    seller: str
    seller_email: str
    title: str
    number: str
    facts: list[tuple[str, str]]
    parties: list[list[str]]
    columns: list[str]
    lines: list[tuple[str, str, str, str]]
    vat: list[list[str]]
    totals: list[list[str]]
    notes: list[str]
    footer: str
    page_label: str


def bare_page(document: InvoiceDocument) -> BarePage:
    """The page's texts, made with the product's own helpers in the buyer's language (before the clock)."""
    with pdf.in_document_language(document):
        vat, totals = pdf.summary_rows(document)
        notes = [pdf.payment_instructions(document), document.tax_mention, *pdf.legal_paragraphs(document)]
        return BarePage(
            seller=document.seller.display_name, seller_email=document.seller.email,
            title=pdf.document_title(document), number=gettext("No. %(number)s") % {"number": document.number},
            facts=[(label.upper(), value) for label, value in pdf.document_facts(document)],
            parties=[[pgettext("seller", "From").upper(), *pdf.party_lines(document.seller)],
                     [gettext("Bill to").upper(), *pdf.party_lines(document.buyer)]],
            columns=pdf.line_columns(), lines=pdf.line_cells(document), vat=vat, totals=totals,
            notes=[pdf.fit_text(note) for note in notes if note], footer=pdf.footer_text(document),
            page_label=gettext("Page %(page)s / %(pages)s") % {"page": 1, "pages": 1},
        )


def render_bare(page: BarePage) -> bytes:
    """The floor: `page` drawn with reportlab's canvas alone, in the product's TrueType fonts embedded by reportlab."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), initialFontName=FONT)
    left, right = MARGIN_X, PAGE_WIDTH - MARGIN_X
    y = PAGE_HEIGHT - MARGIN_TOP
    canvas.setFillColor(INK)
    canvas.setFont(FONT_BOLD, 13)
    canvas.drawString(left, y - 13, page.seller)
    canvas.setFillColor(ACCENT)
    canvas.setFont(FONT_BOLD, 20)
    canvas.drawRightString(right, y - 20, page.title)
    canvas.setFillColor(MUTED)
    canvas.setFont(FONT, 7.5)
    canvas.drawString(left, y - 32, page.seller_email)
    canvas.setFillColor(INK)
    canvas.setFont(FONT, 10)
    canvas.drawRightString(right, y - 34, page.number)
    y -= 70
    canvas.setFillColor(BAND)
    canvas.rect(left, y - 26, CONTENT_WIDTH, 36, stroke=0, fill=1)
    column = CONTENT_WIDTH / len(page.facts)
    for n, (label, value) in enumerate(page.facts):
        canvas.setFillColor(MUTED)
        canvas.setFont(FONT, 7)
        canvas.drawString(left + 8 + n * column, y, label)
        canvas.setFillColor(INK)
        canvas.setFont(FONT_BOLD, 9)
        canvas.drawString(left + 8 + n * column, y - 12, value)
    y -= 50
    for n, (heading, name, *rest) in enumerate(page.parties):
        x, line_y = left + n * CONTENT_WIDTH / 2, y
        canvas.setFillColor(MUTED)
        canvas.setFont(FONT, 7)
        canvas.drawString(x, line_y, heading)
        canvas.setFillColor(INK)
        canvas.setFont(FONT_BOLD, 9)
        canvas.drawString(x, line_y - 12.5, name)
        canvas.setFont(FONT, 9)
        for line in rest:
            line_y -= 12.5
            canvas.drawString(x, line_y - 12.5, line)
    y -= 125
    edges = (right - 110 * mm, right - 76 * mm, right - 30 * mm, right)  # the product's column widths
    canvas.setFillColor(BAND)
    canvas.rect(left, y - 6, CONTENT_WIDTH, 20, stroke=0, fill=1)
    canvas.setFillColor(ACCENT)
    canvas.setFont(FONT_BOLD, 8)
    canvas.drawString(left + 6, y, page.columns[0])
    for edge, heading in zip(edges[1:], page.columns[1:], strict=True):
        canvas.drawRightString(edge - 6, y, heading)
    canvas.setFillColor(INK)
    canvas.setFont(FONT, 8.5)
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    for description, *figures in page.lines:
        y -= 22
        canvas.drawString(left + 6, y, description)
        for edge, figure in zip(edges[1:], figures, strict=True):
            canvas.drawRightString(edge - 6, y, figure)
        canvas.line(left, y - 8, right, y - 8)
    y -= 36
    for n in range(max(len(page.vat), len(page.totals))):
        if n < len(page.vat):
            for m, cell in enumerate(page.vat[n]):
                canvas.drawRightString(left + (30, 46, 74)[m] * mm, y, cell)
        if n < len(page.totals):
            label, amount = page.totals[n]
            canvas.drawString(right - 90 * mm, y, label)
            canvas.drawRightString(right - 6, y, amount)
        y -= 17
    canvas.line(left, y, right, y)
    canvas.setFont(FONT, 7.5)
    for note in page.notes:
        for line in simpleSplit(note, FONT, 7.5, CONTENT_WIDTH):
            y -= 10.5
            canvas.drawString(left, y, line)
    canvas.setStrokeColor(RULE)
    canvas.line(left, 14 * mm, right, 14 * mm)
    canvas.setFillColor(MUTED)
    canvas.setFont(FONT, 7)
    canvas.drawString(left, 10 * mm, page.footer)
    canvas.drawRightString(right, 10 * mm, page.page_label)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def run(args: argparse.Namespace) -> dict:
    if args.count < 1:
        raise SystemExit("--count: at least one document")
    django_setup()  # no database, but the documents' texts come from the translation catalogue
    from billing.documents.ubl import ubl_xml  # after the setup: the billing modules it imports may load models

    def product(document: InvoiceDocument) -> int:
        """What issuing stores and sends: the Factur-X PDF/A-3 and the UBL XML."""
        return len(render_invoice_document(document)) + len(ubl_xml(document))

    rng = random.Random(args.seed)
    documents = [document(rng, n) for n in range(1, args.count + 1)]
    pages = [bare_page(each) for each in documents]
    progress(f"built {len(documents)} documents and their bare pages; warming up (fonts, logo, XML schemas)")
    product(dataclasses.replace(documents[0], number="TMCP-2026-999999"))
    render_bare(pages[0])
    rounds = max(1, min(args.rounds, args.count))
    bounds = [args.count * n // rounds for n in range(rounds + 1)]
    profiler = cProfile.Profile() if args.profile else None
    bare_seconds = product_seconds = bare_cpu = product_cpu = 0.0
    bare_bytes = product_bytes = 0
    for n, (first, after) in enumerate(zip(bounds[:-1], bounds[1:], strict=True), start=1):
        started, cpu = time.perf_counter(), time.process_time()
        bare_bytes += sum(len(render_bare(page)) for page in pages[first:after])
        bare_seconds += time.perf_counter() - started
        bare_cpu += time.process_time() - cpu
        if profiler:
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        product_bytes += sum(product(each) for each in documents[first:after])
        product_seconds += time.perf_counter() - started
        product_cpu += time.process_time() - cpu
        if profiler:
            profiler.disable()
        progress(f"round {n}/{rounds}: {after}/{args.count} rendered; bare {rate(after, bare_seconds)}/s, "
                 f"product {rate(after, product_seconds)}/s")
    if profiler:
        _print_profile(profiler, args.profile)
    bare, pdfs = rate(args.count, bare_seconds), rate(args.count, product_seconds)
    return {
        "count": args.count,
        "rounds": rounds,
        "seconds": round(product_seconds, 2),
        "bare_seconds": round(bare_seconds, 2),
        "pdfs_per_second": pdfs,
        "bare_pdfs_per_second": bare,
        "ratio": round(pdfs / bare, 3),
        # The same on this process's CPU time: what other processes' load on the machine takes away is left out.
        "cpu_seconds": round(product_cpu, 2),
        "bare_cpu_seconds": round(bare_cpu, 2),
        "cpu_ratio": round(bare_cpu / product_cpu, 3),
        "mean_kb": round(product_bytes / args.count / 1024, 1),
        "bare_mean_kb": round(bare_bytes / args.count / 1024, 1),
        "profiled": bool(profiler),
    }
