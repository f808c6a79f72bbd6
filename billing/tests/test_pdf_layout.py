"""Where the invoice PDF prints its texts. The page is drawn on the canvas where reportlab's tables and paragraphs
put each text; the places below were measured on the reference invoice when tables and paragraphs still laid it out
(points from the page's bottom-left corner, as pypdf reads them)."""
import dataclasses
import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.documents.data import DocumentLine
from billing.documents.pdf import render_invoice_pdf
from billing.tests.test_pdf import FRENCH_BUYER, LINES, credit_note, long_document, make_document, page_texts


def placed(pdf: bytes) -> list[tuple[int, float, float, str]]:
    """Each text shown, as (page index, x, y, text), in the order the page draws them."""
    texts = []
    for number, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        def visit(text, cm, tm, font, size, number=number):
            if text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                texts.append((number, round(x, 2), round(y, 2), text.strip()))
        page.extract_text(visitor_text=visit)
    return texts


REFERENCE_PLACES = [
    (0, 104.88, 767.95, "TwinMCP SAS"),  # beside the logo
    (0, 463.52, 769.35, "Invoice"),
    (0, 425.71, 753.85, "No. TMCP-2026-000042"),
    (0, 59.02, 711.67, "ISSUE DATE"),
    (0, 59.02, 699.27, "2 November 2026"),
    (0, 51.02, 659.63, "FROM"),
    (0, 51.02, 647.13, "TwinMCP SAS"),
    (0, 51.02, 572.13, "billing@twinmcp.dev"),
    (0, 57.02, 515.45, "Description"),
    (0, 283.62, 515.45, "Quantity"),
    (0, 57.02, 495.35, "Pro plan, 2026-10"),
    (0, 317.41, 495.35, "1"),
    (0, 408.68, 495.35, "19.00 EUR"),
    (0, 493.72, 494.95, "19.00 EUR"),  # an amount sits 0.4 pt below the paragraphs of its row, as in a Table
    (0, 57.02, 474.35, "Usage above the 5,000,000 included"),
    (0, 57.02, 463.35, "tokens"),
    (0, 499.13, 468.45, "3.00 EUR"),
    (0, 51.02, 430.28, "VAT BREAKDOWN"),
    (0, 493.72, 429.68, "22.00 EUR"),
    (0, 297.13, 339.68, "Amount due"),
    (0, 480.49, 339.68, "21.40 EUR"),
    (0, 51.02, 296.16, "Payment: bank transfer to IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPPXXX, reference"),
    (0, 51.02, 272.66, "Operation category: Services. Payment terms: Payable within 30 days of the issue date, by "
                       "2026-12-02 at the latest. No discount"),
    (0, 51.02, 28.35, "TwinMCP SAS · 12 rue de la Paix, 75002 Paris · SIREN 303265045 · VAT number FR40303265045"),
    (0, 509.05, 28.35, "Page 1 / 1"),
]


def line(description: str) -> DocumentLine:
    return DocumentLine(description, Decimal("1"), Decimal("19.0000"), Decimal("19.00"))


class TestPlaces:
    def test_the_reference_invoice_prints_each_text_where_its_tables_put_it(self):
        texts = placed(render_invoice_pdf(make_document()))
        for place in REFERENCE_PLACES:
            assert place in texts

    def test_the_texts_are_drawn_row_by_row_as_a_reader_extracts_them(self):
        text = page_texts(render_invoice_pdf(make_document()))[0]
        assert "ISSUE DATE DUE DATE SERVICE PERIOD 2 November 2026 2 December 2026" in text
        assert "Pro plan, 2026-10 1 19.00 EUR 19.00 EUR Usage above the 5,000,000 included tokens" in text

    def test_a_description_too_long_for_its_column_wraps_within_its_row(self):
        long = "A very long description of a line that certainly wraps over two or even three lines of the table"
        texts = placed(render_invoice_pdf(make_document(lines=(line(long), *LINES))))
        assert (0, 57.02, 495.35, "A very long description of a line that") in texts
        assert (0, 57.02, 484.35, "certainly wraps over two or even three") in texts
        assert (0, 57.02, 473.35, "lines of the table") in texts
        assert (0, 493.72, 483.95, "19.00 EUR") in texts  # the amount in the middle of its three-line row
        assert (0, 57.02, 452.35, "Pro plan, 2026-10") in texts

    def test_a_line_that_fits_by_narrowing_its_spaces_stays_on_one_line(self):
        # 0.16 pt wider than the column: a paragraph narrows its spaces rather than break the line
        texts = placed(render_invoice_pdf(make_document(lines=(line("Team plan, 23/31 days of October 2026"), *LINES))))
        assert (0, 57.02, 495.35, "Team plan, 23/31 days of October 2026") in texts
        assert (0, 57.02, 474.35, "Pro plan, 2026-10") in texts

    def test_a_word_wider_than_its_column_is_split_and_printed_whole(self):
        reference = "Reference " + "X" * 70
        texts = placed(render_invoice_pdf(make_document(lines=(line(reference), *LINES))))
        assert (0, 57.02, 495.35, "Reference XXXXXXXXXXXXXXXXXXXXX") in texts
        assert (0, 57.02, 484.35, "X" * 29) in texts
        assert (0, 57.02, 473.35, "X" * 20) in texts

    def test_a_party_line_wider_than_half_the_page_wraps_and_pushes_the_lines_down(self):
        address = "Bâtiment C, escalier 4, troisième étage, 10 rue de Rivoli prolongée"
        pdf = render_invoice_pdf(make_document(buyer=dataclasses.replace(FRENCH_BUYER, address_line1=address)))
        assert "Bâtiment C, escalier 4, troisième étage, 10 rue de Rivoli prolongée" in page_texts(pdf)[0]
        assert (0, 57.02, 502.95, "Description") in placed(pdf)  # one line lower than the reference's 515.45


class TestPages:
    @pytest.mark.parametrize("count", range(36, 50))
    def test_the_totals_are_never_split_across_pages(self, count):
        pages = page_texts(render_invoice_pdf(long_document(count)))
        [page] = [text for text in pages if "VAT BREAKDOWN" in text]
        assert "Subtotal (excl. VAT)" in page and "Amount due" in page
        assert f"Page {len(pages)} / {len(pages)}" in pages[-1]

    def test_a_note_runs_on_to_the_next_page_line_by_line(self):
        # 44 lines leave room for two of the late-payment note's three lines at the foot of the second page
        texts = placed(render_invoice_pdf(long_document(44)))
        assert (1, 51.02, 81.58, "Late-payment penalty rate: 12.15 % per year (ECB refinancing rate + 10 points), due "
                                 "from the day after the due date without a") in texts
        assert (1, 51.02, 71.08, "reminder (article L441-10 of the French Commercial Code). A fixed recovery indemnity "
                                 "of 40 EUR is due for any late payment") in texts
        assert (2, 51.02, 783.37, "(article D441-5 of the French Commercial Code).") in texts

    def test_a_continued_lines_table_repeats_its_heading(self):
        texts = placed(render_invoice_pdf(long_document(60)))
        headings = [(page, y) for page, x, y, text in texts if text == "Description"]
        assert headings == [(0, 515.45), (1, 777.87), (2, 777.87)]


class TestFontSubsets:
    def test_documents_made_one_after_another_each_print_their_own_characters(self):
        spanish = dataclasses.replace(FRENCH_BUYER, company_name="Señora Muñoz S.L.")
        first = render_invoice_pdf(make_document(buyer=spanish))
        plain = render_invoice_pdf(make_document())
        again = render_invoice_pdf(make_document(buyer=spanish))
        assert "Señora Muñoz S.L." in page_texts(first)[0]
        assert "Señora" not in page_texts(plain)[0] and "Atelier Numérique SARL" in page_texts(plain)[0]
        assert page_texts(again) == page_texts(first)

    def test_a_credit_note_prints_in_the_same_fonts_after_an_invoice(self):
        render_invoice_pdf(make_document())
        text = page_texts(render_invoice_pdf(credit_note(language="fr")))[0]
        assert "Avoir" in text and "Cet avoir annule la facture TMCP-2026-000042 du 2 novembre 2026." in text
