"""The PDF of an invoice or a credit note, from an `InvoiceDocument`: bytes out, no database; its texts through
gettext in the buyer's language.

PDF/A-3 prerequisites are built in: every font is a TrueType font embedded as a subset (reportlab's own
Bitstream Vera, so no system font is needed; no base-14 font anywhere), and the catalog carries an sRGB
output intent. Given a `PdfA3` (`billing.documents.facturx` makes it), the same file is the PDF/A-3: its XMP
metadata, the information dictionary that states the same, and the Factur-X XML as an associated file, written
by reportlab in one pass (reading the page back with pypdf to add them took a quarter of the rendering time).

The page's blocks draw their texts, bands and rules straight on the canvas, where reportlab's tables and paragraphs
put them (building and laying out tables was half of a page's time); platypus places the blocks and breaks the
pages. Each document's font subsets start with the same characters, so that the subsets' files and the texts'
codes are made once per process.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import hashlib
import io
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from django.core.signals import setting_changed
from django.utils import translation
from django.utils.translation import gettext, pgettext
from PIL import Image as PILImage
from PIL import ImageCms
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFCatalog,
    PDFDictionary,
    PDFImageXObject,
    PDFInfo,
    PDFName,
    PDFObject,
    PDFStream,
    PDFString,
    PDFText,
    PDFZCompress,
)
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    HRFlowable,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.paragraph import split as _para_split
from reportlab.platypus.paragraph import strip as _para_strip
from stdnum import iban

from accounts.countries import country_name
from billing.documents.data import BANK_CARD, SEPA_DIRECT_DEBIT, DocumentParty, InvoiceDocument
from billing.money import format_line_quantity, format_line_unit_price, format_number
from billing.periods import format_long_date

DEFAULT_LOGO = Path(__file__).resolve().parents[2] / "static" / "img" / "logo.png"  # the project's static/
CREATOR = "TwinMCP Billing"  # the application that made the document (Info /Creator, xmp:CreatorTool)
PRODUCER = PDFInfo.producer  # the library that wrote the file: reportlab (Info /Producer, pdf:Producer)

# Binary streams: ASCII85 only makes the compressed streams a quarter larger, and without reportlab's
# optional C accelerator encoding them took a third of the rendering time.
rl_config.useA85 = 0

# --- Fonts: registered once per process --------------------------------------------------------------
# Every document's subset of a font starts with these characters, in this order (then those it uses besides, in the
# order it uses them): most documents embed the same subset, which the process made, compressed and measured once.
# Making the subset, compressing it and writing its widths was a fifth of a page's time; the subset is larger than
# the characters a page uses (about 10 KB more a file).
PRESEED = "".join(map(chr, range(32, 127))) + "ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸàâäçéèêëîïôöùûüÿŒœÆæ€–—’«»°·×"


class _Raw(PDFObject):
    """A direct object already written out."""

    def __init__(self, data: bytes):
        self.data = data

    def format(self, document):
        return self.data


class _EmbeddedFont(TTFont):
    """A TrueType font embedded as subsets, each subset's font file, widths and character map made once per
    process (each document writes the same bytes for the same subset)."""

    def __init__(self, name: str, path: Path):
        super().__init__(name, str(path), asciiReadable=False)
        self._font_file = functools.lru_cache(maxsize=32)(self._make_font_file)
        self._compressed = functools.lru_cache(maxsize=64)(self._compress)
        self._widths = functools.lru_cache(maxsize=32)(self._format_widths)
        make_subset = self.face.makeSubset
        self._make_subset = make_subset
        self.face.makeSubset = lambda subset: self._font_file(tuple(subset))

    def _make_font_file(self, subset: tuple[int, ...]) -> bytes:
        return self._make_subset(list(subset))

    @staticmethod
    def _compress(content: bytes | str) -> bytes:
        return PDFZCompress.encode(content)

    def _format_widths(self, subset: tuple[int, ...]) -> bytes:
        return PDFArray(list(map(self.face.getCharWidth, subset))).format(None)

    def preseed(self, doc) -> None:
        """Starts `doc`'s subset of this font with PRESEED."""
        self.splitString(PRESEED, doc)

    def addObjects(self, doc):
        subsets = [tuple(subset) for subset in self.state[doc].subsets]
        names = [self.getSubsetInternalName(n, doc)[1:] for n in range(len(subsets))]
        super().addObjects(doc)  # makes the objects (the font file from the cache), then forgets the subsets
        if not doc.compression:
            return
        fonts = doc.idToObject["BasicFonts"].dict
        for name, subset in zip(names, subsets, strict=True):
            pdf_font = fonts[name]
            pdf_font.Widths = _Raw(self._widths(subset))
            for key in (f"fontFile:{self.face.filename}({pdf_font.BaseFont})", f"toUnicodeCMap:{pdf_font.BaseFont}"):
                stream = doc.idToObject[key]
                stream.content = self._compressed(stream.content)
                stream.dictionary["Filter"] = PDFName("FlateDecode")  # written as is, not compressed again


FONT, FONT_BOLD = "Vera", "VeraBd"
_FONT_DIR = Path(reportlab.__file__).parent / "fonts"
pdfmetrics.registerFont(_EmbeddedFont(FONT, _FONT_DIR / "Vera.ttf"))
pdfmetrics.registerFont(_EmbeddedFont(FONT_BOLD, _FONT_DIR / "VeraBd.ttf"))
pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)
_GLYPHS = frozenset(map(chr, pdfmetrics.getFont(FONT).face.charToGlyph)) & frozenset(
    map(chr, pdfmetrics.getFont(FONT_BOLD).face.charToGlyph)
)

# --- Colours and styles -------------------------------------------------------------------------------
INK = colors.HexColor("#1F2937")
MUTED_HEX = "#6B7280"
MUTED = colors.HexColor(MUTED_HEX)
ACCENT = colors.HexColor("#4338CA")
BAND = colors.HexColor("#EEF0FB")
RULE = colors.HexColor("#D9DCE3")

BODY = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12.5, textColor=INK)
NOTE = ParagraphStyle("note", fontName=FONT, fontSize=7.5, leading=10.5, textColor=INK, spaceAfter=2.5)
NOTE_STRONG = ParagraphStyle("note_strong", parent=NOTE, fontName=FONT_BOLD)
CELL = ParagraphStyle("cell", fontName=FONT, fontSize=8.5, leading=11, textColor=INK)
CELL_NUMBER = ParagraphStyle("cell_number", parent=CELL, alignment=TA_RIGHT)

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 18 * mm, 18 * mm, 22 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X


# --- Texts: gettext in the document's language (the buyer's, whatever the request's) ----------------------
def in_document_language(document: InvoiceDocument):
    """Every text and number of a document is written in its buyer's language, never in the request's."""
    return translation.override(document.language)


def document_title(document: InvoiceDocument) -> str:
    if document.is_credit_note:
        return pgettext("document", "Credit note")
    return pgettext("document", "Invoice")


def reason_text(document: InvoiceDocument) -> str:
    """'Reason: Billing error — wrong VAT rate', or nothing when the credit note states none."""
    return gettext("Reason: %(reason)s") % {"reason": document.reason} if document.reason else ""


# --- Formatting ---------------------------------------------------------------------------------------
def fit_text(text: str) -> str:
    """`text` with each character the embedded font lacks replaced by its base letter (ź → z), or '?'."""
    if _GLYPHS.issuperset(text):
        return text
    out = []
    for ch in text:
        if ch in _GLYPHS or ch in "\n\t":
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if c in _GLYPHS and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


def format_percent(value: Decimal) -> str:
    """A percentage without trailing zeros: 20, 5.5, 12.15."""
    return format_number(value, places=0, max_places=4)


def _per_language(function):
    """`function` with its results kept per active language and arguments (the same dates, amounts and mentions
    come back on every document; Django's formatting is slow), forgotten when a setting changes, as Django forgets
    its own formats."""
    cached = functools.lru_cache(maxsize=2048)(lambda language, *args: function(*args))
    setting_changed.connect(lambda **kwargs: cached.cache_clear(), weak=False)

    @functools.wraps(function)
    def in_active_language(*args):
        return cached(translation.get_language(), *args)

    return in_active_language


@_per_language
def format_date(value: datetime.date) -> str:
    """'6 December 2026', '1er décembre 2026'."""
    return format_long_date(value)


_money = _per_language(lambda amount, currency: format_number(amount, currency=currency))
_line_quantity = _per_language(format_line_quantity)
_line_unit_price = _per_language(format_line_unit_price)


def vat_percent(document: InvoiceDocument) -> Decimal:
    """The document's VAT rate as a percentage (its `tax_rate` is a fraction)."""
    return Decimal(document.tax_rate) * 100


def legal_mentions(document: InvoiceDocument) -> dict[str, str]:
    """The mentions of a French B2B invoice, in the active language (printed, and noted in Factur-X).

    The 2026 reform adds the category of the operation and, when the seller opted to pay VAT on debits and the
    document charges VAT, that option ("vat_on_debits", empty otherwise); the buyer's SIREN is in its block.
    """
    return dict(_legal_mentions(
        bool(document.seller.vat_on_debits and document.tax_rate > 0), document.payment_terms,
        document.late_payment_rate, document.recovery_indemnity,
    ))


@_per_language
def _legal_mentions(vat_on_debits: bool, payment_terms: str, late_payment_rate: Decimal,
                    recovery_indemnity: Decimal) -> dict[str, str]:
    return {
        "operation": gettext("Operation category: Services."),
        "vat_on_debits": gettext("Option for the payment of VAT on debits.") if vat_on_debits else "",
        "payment_terms": gettext("Payment terms: %(terms)s") % {"terms": payment_terms},
        "no_discount": gettext("No discount for early payment."),
        "late_payment": gettext(
            "Late-payment penalty rate: %(rate)s per year (ECB refinancing rate + 10 points), due from the day after "
            "the due date without a reminder (article L441-10 of the French Commercial Code)."
        ) % {"rate": f"{format_percent(late_payment_rate)}\u00a0%"},
        "recovery_indemnity": gettext(
            "A fixed recovery indemnity of %(indemnity)s is due for any late payment (article D441-5 of the French "
            "Commercial Code)."
        ) % {"indemnity": format_number(recovery_indemnity, places=0, max_places=2, currency="EUR")},
    }


class _Paragraph(Paragraph):
    """A paragraph that breaks its lines once per width: a table wraps each cell to size its row, then again to
    draw it, and breaking lines is most of a paragraph's cost (its lines depend on the width alone). A split that
    finds no room for two lines drops them: they are broken again where the paragraph goes."""

    _wrapped: tuple[float, tuple[float, float]] | None = None

    def wrap(self, availWidth, availHeight):
        if self._wrapped is None or self._wrapped[0] != availWidth or not hasattr(self, "blPara"):
            self._wrapped = availWidth, super().wrap(availWidth, availHeight)
        return self._wrapped[1]


# --- Page furniture: footer, running header, page numbers, output intent ---------------------------------
@functools.cache
def srgb_icc_profile() -> bytes:
    """An sRGB ICC profile (built by LittleCMS through Pillow), for the PDF/A output intent."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@functools.lru_cache(maxsize=4)
def _logo_image(path: str, mtime: float) -> PDFImageXObject:
    """The logo flattened on white (no transparency to declare), sized for print, and compressed as a PDF image
    once per process: drawing it from the file took a tenth of a page's rendering time."""
    with PILImage.open(path) as source:
        source = source.convert("RGBA")
        flat = PILImage.new("RGB", source.size, "white")
        flat.paste(source, mask=source.getchannel("A"))
    flat.thumbnail((128, 128), PILImage.LANCZOS)  # 15 mm at about 220 dpi
    return PDFImageXObject("Logo", ImageReader(flat))


def _logo(path: Path | str | None) -> PDFImageXObject | None:
    """The logo at `path`, or None without one (a missing file included)."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        return None
    return _logo_image(str(path), path.stat().st_mtime)


@dataclass(frozen=True)
class PdfA3:
    """What makes the PDF a PDF/A-3: its XMP metadata packet, the information dictionary entries that packet states
    (Title, Author, Subject, Keywords, Creator, Producer, CreationDate, ModDate), and its one associated file."""

    xmp: bytes
    info: dict[str, str]
    filename: str
    data: bytes
    mime_type: str
    description: str
    relationship: str  # the file's AFRelationship, e.g. "Data": the document's data in structured form


class _Info(PDFInfo):
    """An information dictionary of exactly the given entries (reportlab's would add Trapped, which the XMP
    does not state)."""

    def __init__(self, entries: dict[str, str]):
        super().__init__()
        self.entries = entries

    def format(self, document):
        return PDFDictionary({key: PDFString(value) for key, value in self.entries.items()}).format(document)


class _DocumentCanvas(Canvas):
    """Defers pages until the end, so each can say 'Page N / M', then adds the sRGB output intent and, given a
    `PdfA3`, what makes the file a PDF/A-3."""

    def __init__(self, *args, footer: str = "", running_title: str = "", page_label: str = "",
                 pdfa: PdfA3 | None = None, **kwargs):
        kwargs["initialFontName"] = FONT  # the page preamble would otherwise select Helvetica
        super().__init__(*args, **kwargs)
        self._footer, self._running_title, self._page_label = footer, running_title, page_label
        self._pdfa = pdfa
        self._pages: list[dict] = []
        for name in (FONT, FONT_BOLD):
            font = pdfmetrics.getFont(name)
            if isinstance(font, _EmbeddedFont):  # not if the face was registered before, under another name
                font.preseed(self._doc)

    def draw_image_xobject(self, image: PDFImageXObject, width: float, height: float) -> None:
        """`drawImage` of an image already compressed: a copy of it is registered in this document (reportlab marks
        the object it registers, so one object cannot serve two documents)."""
        self._currentPageHasImages = 1
        self._doc.addForm(image.name, copy.copy(image))
        self.saveState()
        self.scale(width, height)
        self.doForm(image.name)
        self.restoreState()

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        count = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._draw_furniture(count)
            super().showPage()
        self._add_output_intent()
        if self._pdfa is not None:
            self._add_pdfa3(self._pdfa)
        super().save()

    def _draw_furniture(self, count: int) -> None:
        page = self.getPageNumber()
        self.saveState()
        self.setStrokeColor(RULE)
        self.setLineWidth(0.5)
        self.line(MARGIN_X, 14 * mm, PAGE_WIDTH - MARGIN_X, 14 * mm)
        self.setFillColor(MUTED)
        self.setFont(FONT, 7)
        self.drawString(MARGIN_X, 10 * mm, self._footer)
        self.drawRightString(PAGE_WIDTH - MARGIN_X, 10 * mm, self._page_label % {"page": page, "pages": count})
        if page > 1:
            self.drawRightString(PAGE_WIDTH - MARGIN_X, PAGE_HEIGHT - 11 * mm, self._running_title)
        self.restoreState()

    def _add_output_intent(self) -> None:
        # reportlab has no API for /OutputIntents: the catalog writes only the keys it lists, so this one
        # catalog lists one more.
        doc = self._doc
        profile = PDFStream(PDFDictionary({"N": 3}), content=srgb_icc_profile())
        intent = PDFDictionary(
            {
                "Type": PDFName("OutputIntent"),
                "S": PDFName("GTS_PDFA1"),
                "OutputConditionIdentifier": PDFString("sRGB IEC61966-2.1"),
                "RegistryName": PDFString("http://www.color.org"),
                "Info": PDFString("sRGB IEC61966-2.1"),
                "DestOutputProfile": doc.Reference(profile),
            }
        )
        doc.Catalog.OutputIntents = PDFArray([intent])
        doc.Catalog.__NoDefault__ = [*PDFCatalog.__NoDefault__, "OutputIntents"]

    def _add_pdfa3(self, pdfa: PdfA3) -> None:
        """The XMP metadata (uncompressed, as every PDF/A part accepts), the information dictionary, and the file
        embedded (compressed, with its size, date and MD5) and associated with the document (/AF)."""
        doc = self._doc
        doc._pdfVersion = (1, 6)
        doc.info = _Info(pdfa.info)
        params = PDFDictionary({
            "CheckSum": PDFText(hashlib.md5(pdfa.data, usedforsecurity=False).digest()),
            "ModDate": PDFString(pdfa.info["ModDate"]),
            "Size": len(pdfa.data),
        })
        subtype = "/" + PDFName(pdfa.mime_type)[1:].replace("/", "#2F")  # reportlab leaves a / in a name unescaped
        embedded = doc.Reference(PDFStream(
            PDFDictionary({"Type": PDFName("EmbeddedFile"), "Subtype": subtype, "Params": params}),
            content=pdfa.data, filters=[PDFZCompress],
        ))
        filespec = doc.Reference(PDFDictionary({
            "Type": PDFName("Filespec"),
            "F": PDFString(pdfa.filename),
            "UF": PDFString(pdfa.filename),
            "Desc": PDFString(pdfa.description),
            "AFRelationship": PDFName(pdfa.relationship),
            "EF": PDFDictionary({"F": embedded, "UF": embedded}),
        }))
        catalog = doc.Catalog
        catalog.Metadata = PDFStream(PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")}),
                                     content=pdfa.xmp)
        catalog.Names = PDFDictionary({"EmbeddedFiles": PDFDictionary({
            "Names": PDFArray([PDFString(pdfa.filename), filespec]),
        })})
        catalog.AF = PDFArray([filespec])
        catalog.PageMode = PDFName("UseAttachments")  # readers open on the attached XML
        catalog.__NoDefault__ = [*catalog.__NoDefault__, "AF"]


# --- Blocks -------------------------------------------------------------------------------------------
def _address_lines(party: DocumentParty) -> list[str]:
    lines = [party.address_line1, party.address_line2, " ".join(filter(None, [party.postal_code, party.city]))]
    lines.append(country_name(party.country))
    return [line for line in lines if line]


def _siren(party: DocumentParty) -> str:
    return gettext("SIREN %(siren)s") % {"siren": party.siren}


def _vat_number(party: DocumentParty) -> str:
    return gettext("VAT number %(vat_number)s") % {"vat_number": party.vat_number}


def _markup(text: str) -> str:
    return escape(fit_text(text))


def _label_markup(text: str) -> str:
    """A small grey caption above a value, inside a paragraph of BODY style."""
    return f'<font size="7" color="{MUTED_HEX}">{_markup(text.upper())}</font>'


def party_lines(party: DocumentParty) -> list[str]:
    """A seller's or buyer's block as it prints, one text a line: its legal name first."""
    lines = [party.display_name]
    if party.company_name and party.name and party.name != party.company_name:
        lines.append(party.name)
    lines += _address_lines(party)
    if party.siren:
        lines.append(_siren(party))
    if party.vat_number:
        lines.append(_vat_number(party))
    if party.email:
        lines.append(party.email)
    return lines


def _party_block(party: DocumentParty, heading: str) -> Paragraph:
    name, *rest = party_lines(party)
    lines = [_label_markup(heading), f"<b>{_markup(name)}</b>", *map(_markup, rest)]
    return _Paragraph("<br/>".join(lines), BODY)


# --- Blocks drawn on the canvas -----------------------------------------------------------------------
# The fixed parts of the page are drawn straight on the canvas, where reportlab's Table put them (the same
# sizes, paddings and alignments: a string cell's lines `leading` apart, placed by its vertical alignment as
# Table places them). Building and laying out a Table with its TableStyle was about half of a page's time.
@dataclass(frozen=True)
class _CellStyle:
    """How a cell of plain text prints: what a TableStyle resolves for it."""

    font: str = FONT
    size: float = 8.5
    leading: float = 10.2
    color: colors.Color = INK
    align: str = "LEFT"  # or "RIGHT"
    valign: str = "MIDDLE"  # or "TOP", "BOTTOM"
    left: float = 6
    right: float = 6
    top: float = 3
    bottom: float = 3

    def height(self, text: str) -> float:
        """The height of a row holding `text` in this style, as Table sizes it."""
        return self.leading * (text.count("\n") + 1) + self.top + self.bottom


@functools.lru_cache(maxsize=64)
def _fill_op(rgb: tuple[float, float, float]) -> str:
    return f"{fp_str(rgb)} rg"


def _pen(canv: Canvas, font: str, size: float, leading: float, color: colors.Color) -> None:
    """Sets the font and fill colour when they change (each setting is written to the page). An opaque RGB colour
    is written as setFillColor writes it, once per colour and process."""
    if canv._fontname != font or canv._fontsize != size or canv._leading != leading:
        canv.setFont(font, size, leading)
    if canv._fillColorObj != color:
        if type(color) is colors.Color and color.alpha == 1 and not canv._enforceColorSpace:
            canv._code.append(_fill_op((color.red, color.green, color.blue)))
            canv._fillColorObj = color
        else:
            canv.setFillColor(color)


_fp = functools.lru_cache(maxsize=4096)(fp_str)  # a number as the PDF writes it (positions repeat)


@functools.lru_cache(maxsize=64)
def _font_size_ops(size: float, leading: float) -> str:
    return f"{fp_str(size)} Tf {fp_str(leading)} TL"


_PRESEEDED = frozenset(PRESEED + "\xa0")  # a no-break space is shown as a space
_shown: dict[tuple[str, str], list[tuple[int, str]]] = {}


def _encoded(font: TTFont, text: str, canv: Canvas) -> list[tuple[int, str]]:
    """`text` as (subset, escaped codes) chunks in the canvas's subsets of `font`. Where each subset starts with
    PRESEED (the product's fonts on a document canvas), a text of PRESEED characters has the same codes in every
    document: it is encoded once per process."""
    preseeded = isinstance(canv, _DocumentCanvas) and isinstance(font, _EmbeddedFont)
    key = font.fontName, text
    chunks = _shown.get(key) if preseeded else None
    if chunks is None:
        chunks = [(subset, escapePDF(codes)) for subset, codes in font.splitString(text, canv._doc)]
        if preseeded and _PRESEEDED.issuperset(text):
            if len(_shown) >= 4096:
                _shown.clear()
            _shown[key] = chunks
    return chunks


def _show(canv: Canvas, x: float, y: float, text: str) -> None:
    """What `canv.drawString(x, y, text)` writes (a text object showing `text` at (x, y) in the canvas's font), without
    making the text object nor measuring the text, as drawString does for nothing: most of a string's cost."""
    font, doc = pdfmetrics.getFont(canv._fontname), canv._doc
    size = _font_size_ops(canv._fontsize, canv._leading)
    shown, current = [], -1
    for subset, codes in _encoded(font, text, canv):
        if subset != current:
            shown.append(f"{font.getSubsetInternalName(subset, doc)} {size}")
            current = subset
        shown.append(f"({codes}) Tj")
    canv._code.append(f"BT 1 0 0 1 {_fp(x)} {_fp(y)} Tm {' '.join(shown)} T* ET")


@functools.lru_cache(maxsize=1024)
def _string_width(text: str, font: str, size: float) -> float:
    """A text's width (labels and the seller's texts come back on every document)."""
    return pdfmetrics.stringWidth(text, font, size)


def _show_right(canv: Canvas, x: float, y: float, text: str) -> None:
    """What `canv.drawRightString(x, y, text)` writes."""
    _show(canv, x - _string_width(text, canv._fontname, canv._fontsize), y, text)


def _draw_cell(canv: Canvas, text: str, style: _CellStyle, x: float, y: float, width: float, height: float) -> None:
    """`text` in the cell at (x, y) of `width` × `height`, where Table draws a string cell."""
    if not text:
        return
    lines = text.split("\n")
    if style.valign == "BOTTOM":
        baseline = y + style.bottom + len(lines) * style.leading - style.size
    elif style.valign == "TOP":
        baseline = y + height - style.top - style.size
    else:
        baseline = y + (style.bottom + height - style.top + len(lines) * style.leading) / 2 - style.size
    _pen(canv, style.font, style.size, style.leading, style.color)
    if style.align == "RIGHT":
        draw, x = _show_right, x + width - style.right
    else:
        draw, x = _show, x + style.left
    for line in lines:
        draw(canv, x, baseline, line)
        baseline -= style.leading


@functools.lru_cache(maxsize=16)
def _rule_ops(rgb: tuple[float, float, float], width: float) -> tuple[str, str]:
    return f"{fp_str(rgb)} RG", f"{fp_str(width)} w"


def _rule(canv: Canvas, x0: float, y0: float, x1: float, y1: float, width: float, color: colors.Color) -> None:
    """A table's rule, round capped and joined: what setStrokeColor, setLineWidth, setLineCap, setLineJoin and line
    write, the settings written once per colour and width in a process."""
    stroke, line_width = _rule_ops((color.red, color.green, color.blue), width)
    canv._code += (stroke, line_width, "1 J", "1 j", f"n {_fp(x0)} {_fp(y0)} m {_fp(x1)} {_fp(y1)} l S")
    canv._strokeColorObj, canv._lineWidth, canv._lineCap, canv._lineJoin = color, width, 1, 1


_Lines = list[tuple[str, float]]  # a paragraph's lines, each with the width it leaves over


@functools.lru_cache(maxsize=4096)
def _word_width(word: str, font: str, size: float) -> float:
    """A word's width (the same words come back on every document: labels, the legal mentions)."""
    return pdfmetrics.stringWidth(word, font, size)


def _wrap_words(text: str, font: str, size: float, width: float) -> _Lines | None:
    """`text` broken into lines of at most `width` as a one-style Paragraph breaks it (words taken greedily, runs of
    spaces made one, a no-break space kept, one more word on a line if narrowing its spaces by up to
    `spaceShrinkage` makes it fit), each line with the width left over (negative for a narrowed line); or None
    where a Paragraph would split a word wider than the line or hyphenate one."""
    space = _word_width(" ", font, size)
    shrink = BODY.spaceShrinkage * space
    lines, line, used = [], [], -space
    for word in _para_split(_para_strip(text)):
        if "\xad" in word:  # a soft hyphen: Paragraph may hyphenate there
            return None
        word_width = _word_width(word, font, size)
        if word_width > width:
            return None
        if used + space + word_width <= width + shrink * len(line):
            line.append(word)
            used += space + word_width
        else:
            lines.append((" ".join(line), width - used))
            line, used = [word], word_width
    if line:
        lines.append((" ".join(line), width - used))
    return lines


def _draw_line(canv: Canvas, text: str, extra: float, x: float, baseline: float, *, right_to: float | None = None):
    """One line of a broken paragraph at `x` (or ending at `right_to`), its spaces narrowed when `extra` < 0, as a
    Paragraph draws it."""
    if extra > -1e-8:
        if right_to is None:
            _show(canv, x, baseline, text)
        else:
            _show_right(canv, right_to, baseline, text)
        return
    line = canv.beginText(x, baseline)
    line.setWordSpace(extra / (text.count(" ") + text.count("\xa0")))
    line.textOut(text)
    line.setWordSpace(0)
    canv.drawText(line)


class _Header(Flowable):
    """The logo (15 mm, centred on both rows), then the seller's name over its email on the left; the title over the
    number on the right. Two rows of 9 and 6 mm."""

    SELLER = _CellStyle(font=FONT_BOLD, size=13, leading=15.6, valign="BOTTOM", left=0, right=0, top=0, bottom=0)
    EMAIL = _CellStyle(size=7.5, leading=9, color=MUTED, valign="TOP", left=0, right=0, top=1.5, bottom=0)
    TITLE = _CellStyle(font=FONT_BOLD, size=20, leading=24, color=ACCENT, align="RIGHT", valign="BOTTOM", left=0,
                       right=0, top=0, bottom=0)
    NUMBER = _CellStyle(size=10, leading=12, align="RIGHT", valign="TOP", left=0, right=0, top=1.5, bottom=0)
    ROWS = (9 * mm, 6 * mm)
    LOGO_COLUMN = 19 * mm

    def __init__(self, *, seller: str, email: str, title: str, number: str, logo: PDFImageXObject | None):
        super().__init__()
        self.seller, self.email, self.title, self.number, self.logo = seller, email, title, number, logo
        self.width, self.height = CONTENT_WIDTH, sum(self.ROWS)

    def draw(self):
        canv, (top, bottom) = self.canv, self.ROWS
        left = 0.0
        if self.logo is not None:
            canv.draw_image_xobject(self.logo, 15 * mm, 15 * mm)
            left = self.LOGO_COLUMN
        half = CONTENT_WIDTH * 0.5
        _draw_cell(canv, self.seller, self.SELLER, left, bottom, half - left, top)
        _draw_cell(canv, self.title, self.TITLE, half, bottom, half, top)
        _draw_cell(canv, self.email, self.EMAIL, left, 0, half - left, bottom)
        _draw_cell(canv, self.number, self.NUMBER, half, 0, half, bottom)


class _Facts(Flowable):
    """Captions over values, in columns on a band, white rules between the columns."""

    CAPTION = _CellStyle(size=7, leading=8.4, color=MUTED, valign="BOTTOM", left=8, top=7, bottom=1)
    VALUE = _CellStyle(font=FONT_BOLD, size=9, leading=10.8, valign="BOTTOM", left=8, top=1, bottom=8)

    def __init__(self, widths: list[float], captions: list[str], values: list[str]):
        super().__init__()
        self.widths, self.captions, self.values = widths, captions, values
        self.caption_height = max(self.CAPTION.height(text) for text in captions)
        self.value_height = max(self.VALUE.height(text) for text in values)
        self.width, self.height = CONTENT_WIDTH, self.caption_height + self.value_height

    def draw(self):
        canv = self.canv
        canv.setFillColor(BAND)
        canv.rect(0, 0, self.width, self.height, stroke=0, fill=1)
        x = 0.0
        for width, caption in zip(self.widths, self.captions, strict=True):
            _draw_cell(canv, caption, self.CAPTION, x, self.value_height, width, self.caption_height)
            x += width
        x = 0.0
        for width, value in zip(self.widths, self.values, strict=True):
            _draw_cell(canv, value, self.VALUE, x, 0, width, self.value_height)
            x += width
        x = 0.0
        for width in self.widths[:-1]:
            x += width
            _rule(canv, x, self.height, x, 0, 1.5, colors.white)


class _Parties(Flowable):
    """The seller's and the buyer's blocks side by side: a caption, the name in bold, one text a line (each line
    where the paragraph of `_party_block` prints it)."""

    LEADING, PADDING = BODY.leading, 3  # the paragraph's leading, the table's top and bottom padding
    COLUMNS = ((0.0, CONTENT_WIDTH / 2), (CONTENT_WIDTH / 2 + 8, CONTENT_WIDTH / 2 - 8))  # (x, width)

    def __init__(self, blocks: list[list[tuple[str, str, float, colors.Color]]]):
        super().__init__()
        self.blocks = blocks
        self.width = CONTENT_WIDTH
        self.height = max(len(block) for block in blocks) * self.LEADING + 2 * self.PADDING

    @classmethod
    def of(cls, blocks: list[tuple[str, list[str]]]) -> _Parties | None:
        """The blocks of (heading, lines), or None when a text would not print on one line of its half."""
        drawn = []
        for (heading, (name, *rest)), (_, width) in zip(blocks, cls.COLUMNS, strict=True):
            lines = [(fit_text(heading), FONT, 7, MUTED), (fit_text(name), FONT_BOLD, BODY.fontSize, INK)]
            lines += [(fit_text(text), FONT, BODY.fontSize, INK) for text in rest]
            for text, font, size, _ in lines:
                if not text or text != text.strip() or "  " in text or any(ch in text for ch in "\t\n\r\xad"):
                    return None  # the paragraph would make one space of a run of them, or break the line
                if pdfmetrics.stringWidth(text, font, size) > width:
                    return None
            drawn.append(lines)
        return cls(drawn)

    def draw(self):
        canv = self.canv
        for (x, _), lines in zip(self.COLUMNS, self.blocks, strict=True):
            baseline = self.height - self.PADDING - lines[0][2]
            for text, font, size, color in lines:
                _pen(canv, font, size, self.LEADING, color)
                _show(canv, x, baseline, text)
                baseline -= self.LEADING


class _LinesTable(Flowable):
    """The lines table: a heading row on a band, repeated on every page it runs to, then a row per line (its
    description, quantity and unit price broken into lines as paragraphs break them, its amount on one), each
    ruled below. It splits between rows, as a Table with a repeated heading row does."""

    HEADING = (_CellStyle(font=FONT_BOLD, size=8, leading=9.6, color=ACCENT, top=5, bottom=5),
               *[_CellStyle(font=FONT_BOLD, size=8, leading=9.6, color=ACCENT, align="RIGHT", top=5, bottom=5)] * 3)
    AMOUNT = _CellStyle(align="RIGHT", top=5, bottom=5)
    PADDING = 5  # top and bottom of every cell

    def __init__(self, heading: list[str], rows: list[tuple[list[_Lines], str, float]], *, continued=False):
        super().__init__()
        self.heading, self.rows = heading, rows  # rows: (the three wrapped cells, the amount, the row's height)
        self.continued = continued  # on a following page, the heading is ruled below too (as Table's split did)
        self.heading_height = max(style.height(text) for style, text in zip(self.HEADING, heading, strict=True))
        self.width = CONTENT_WIDTH
        self.height = self.heading_height + sum(height for *_, height in rows)

    @classmethod
    def of(cls, heading: list[str], cells: list[list[str]]) -> _LinesTable | None:
        """The table of these cells, or None when a paragraph would break one of them otherwise than by words."""
        rows = []
        for description, quantity, unit_price, amount in cells:
            wrapped = [
                _wrap_words(text, CELL.fontName, CELL.fontSize, width - 12)
                for text, width in zip((description, quantity, unit_price), LINE_WIDTHS, strict=False)
            ]
            if None in wrapped:
                return None
            height = max(*(len(lines) * CELL.leading + 2 * cls.PADDING for lines in wrapped), cls.AMOUNT.height(amount))
            rows.append((wrapped, amount, height))
        return cls(heading, rows)

    def split(self, availWidth, availHeight):
        used, fit = self.heading_height, 0
        for *_, height in self.rows:
            if used + height > availHeight:
                break
            used, fit = used + height, fit + 1
        if fit == 0:
            return []  # not even one line under the heading: the whole table goes to the next page
        if fit == len(self.rows):
            return [self]
        return [
            _LinesTable(self.heading, self.rows[:fit], continued=self.continued),
            _LinesTable(self.heading, self.rows[fit:], continued=True),
        ]

    def draw(self):
        canv = self.canv
        y = self.height - self.heading_height
        canv.setFillColor(BAND)
        canv.rect(0, y, self.width, self.heading_height, stroke=0, fill=1)
        x = 0.0
        for text, style, width in zip(self.heading, self.HEADING, LINE_WIDTHS, strict=True):
            _draw_cell(canv, text, style, x, y, width, self.heading_height)
            x += width
        rules = [y] if self.continued else []
        for wrapped, amount, height in self.rows:
            y -= height
            x = 0.0
            for column, (lines, width) in enumerate(zip(wrapped, LINE_WIDTHS, strict=False)):
                # A paragraph in the middle of its cell, its first baseline a font size below its top.
                baseline = y + (height + len(lines) * CELL.leading) / 2 - CELL.fontSize
                _pen(canv, FONT, CELL.fontSize, CELL.leading, INK)
                for line, extra in lines:
                    _draw_line(canv, line, extra, x + 6, baseline, right_to=x + width - 6 if column else None)
                    baseline -= CELL.leading
                x += width
            _draw_cell(canv, amount, self.AMOUNT, x, y, LINE_WIDTHS[-1], height)
            rules.append(y)
        for y in rules:
            _rule(canv, 0, y, self.width, y, 0.5, RULE)


class _Summary(Flowable):
    """The VAT breakdown (caption, heading, one row per rate) on the left, the totals on the right: the last is
    what the customer pays (or is credited), bold on the accent colour."""

    WIDTHS = (30 * mm, 16 * mm, 28 * mm, CONTENT_WIDTH - (30 + 16 + 28 + 52 + 38) * mm, 52 * mm, 38 * mm)
    CELL = _CellStyle(left=4, right=4, top=3.5, bottom=3.5)
    CAPTION = _CellStyle(size=7, leading=8.4, color=MUTED, left=0, right=4, top=3.5, bottom=3.5)
    VAT_HEADING = _CellStyle(size=8, leading=9.6, color=MUTED, align="RIGHT", left=4, right=4, top=3.5, bottom=3.5)
    VAT = _CellStyle(size=8, leading=9.6, align="RIGHT", left=4, right=4, top=3.5, bottom=3.5)
    LABEL = _CellStyle(left=8, right=4, top=3.5, bottom=3.5)
    AMOUNT = _CellStyle(align="RIGHT", left=4, right=6, top=3.5, bottom=3.5)
    BOLD_LABEL = dataclasses.replace(LABEL, font=FONT_BOLD)
    BOLD_AMOUNT = dataclasses.replace(AMOUNT, font=FONT_BOLD)
    LAST = {"font": FONT_BOLD, "size": 10, "leading": 12, "color": colors.white, "top": 6, "bottom": 7}

    def __init__(self, vat: list[list[str]], totals: list[list[str]], *, bold_total: bool):
        super().__init__()
        count = max(len(vat), len(totals))
        last = len(totals) - 1
        vat_styles = [(self.CAPTION, None, None), (self.VAT_HEADING,) * 3] + [(self.VAT,) * 3] * (len(vat) - 2)
        self.rows = []  # per row: its height and its cells as (column, text, style)
        for n in range(count):
            cells = []
            if n < len(vat):
                cells += [(m, text, style) for m, (text, style) in enumerate(zip(vat[n], vat_styles[n], strict=True))
                          if style is not None]
            else:
                cells += [(m, "", self.CELL) for m in range(3)]
            cells.append((3, "", self.CELL))
            label, amount = totals[n] if n < len(totals) else ("", "")
            label_style, amount_style = (
                (self.BOLD_LABEL, self.BOLD_AMOUNT) if bold_total and n == 2 else (self.LABEL, self.AMOUNT)
            )
            if n == last:
                label_style = dataclasses.replace(label_style, **self.LAST)
                amount_style = dataclasses.replace(amount_style, **self.LAST)
            cells += [(4, label, label_style), (5, amount, amount_style)]
            if n == last:  # the last row's paddings are the whole row's
                cells = [(m, text, dataclasses.replace(style, top=6, bottom=7)) for m, text, style in cells]
            self.rows.append((max(style.height(text) for _, text, style in cells), cells))
        self.last, self.bold_total, self.vat_rows = last, bold_total, len(vat)
        self.width, self.height = CONTENT_WIDTH, sum(height for height, _ in self.rows)

    def draw(self):
        canv = self.canv
        columns = [0.0]
        for width in self.WIDTHS:
            columns.append(columns[-1] + width)
        tops = [self.height]
        for height, _ in self.rows:
            tops.append(tops[-1] - height)
        total_height = self.rows[self.last][0]
        canv.setFillColor(ACCENT)
        canv.rect(columns[4], tops[self.last + 1], columns[6] - columns[4], total_height, stroke=0, fill=1)
        for (height, cells), y in zip(self.rows, tops[1:], strict=True):
            for column, text, style in cells:
                _draw_cell(canv, text, style, columns[column], y, self.WIDTHS[column], height)
        _rule(canv, 0, tops[2], columns[3], tops[2], 0.5, RULE)  # under the breakdown's heading
        if self.bold_total:
            _rule(canv, columns[4], tops[2], columns[6], tops[2], 0.5, RULE)  # above the total with VAT


def _header(document: InvoiceDocument, logo_path) -> Flowable:
    """Logo and seller on the left, title and number on the right: two rows of plain strings."""
    return _Header(
        seller=fit_text(document.seller.display_name), email=fit_text(document.seller.email),
        title=fit_text(document_title(document)),
        number=fit_text(gettext("No. %(number)s") % {"number": document.number}),
        logo=_logo(logo_path),
    )


def document_facts(document: InvoiceDocument) -> list[tuple[str, str]]:
    """Issue date, due date (or the cancelled invoice) and service period (its date when it is one day, as a one-off
    charge's), as (caption, value) pairs."""
    facts = [(gettext("Issue date"), format_date(document.issue_date))]
    if document.is_credit_note:
        facts.append((gettext("Cancelled invoice"), document.original_invoice_number))
    elif document.due_date is not None:
        facts.append((gettext("Due date"), format_date(document.due_date)))
    if document.period_start == document.period_last_day:
        facts.append((gettext("Service date"), format_date(document.period_start)))
    else:
        period = f"{format_date(document.period_start)} – {format_date(document.period_last_day)}"
        facts.append((gettext("Service period"), period))
    return facts


def _facts(document: InvoiceDocument) -> Flowable:
    """The document's facts: captions over values, on a band."""
    facts = document_facts(document)
    widths = [CONTENT_WIDTH * share for share in (0.28, 0.28, 0.44)[-len(facts):]]
    widths[0] += CONTENT_WIDTH - sum(widths)
    return _Facts(widths, [fit_text(label.upper()) for label, _ in facts], [fit_text(value) for _, value in facts])


PARTIES_STYLE = TableStyle([
    ("FONTNAME", (0, 0), (-1, -1), FONT),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), 0),
    ("LEFTPADDING", (1, 0), (1, 0), 8),
    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
])


def _parties(document: InvoiceDocument) -> Flowable:
    """Seller and buyer side by side, each a heading, its name in bold, then one text a line."""
    blocks = [
        (pgettext("seller", "From").upper(), party_lines(document.seller)),
        (gettext("Bill to").upper(), party_lines(document.buyer)),
    ]
    drawn = _Parties.of(blocks)
    if drawn is not None:
        return drawn
    # A text too wide for its half of the page (or spaced unusually): paragraphs break it into lines.
    table = Table(
        [[_party_block(document.seller, pgettext("seller", "From")), _party_block(document.buyer, gettext("Bill to"))]],
        colWidths=[CONTENT_WIDTH / 2] * 2,
    )
    table.setStyle(PARTIES_STYLE)
    return table


def line_columns() -> list[str]:
    """The lines table's column headings."""
    return [
        pgettext("invoice line", "Description"), pgettext("invoice line", "Quantity"),
        pgettext("invoice line", "Unit price"), pgettext("invoice line", "Amount"),
    ]


def line_cells(document: InvoiceDocument) -> list[tuple[str, str, str, str]]:
    """Each line's description, quantity, unit price and amount as the lines table prints them."""
    currency = document.currency
    return [
        (line.description, _line_quantity(line), _line_unit_price(line, currency), _money(line.amount, currency))
        for line in document.lines
    ]


LINE_WIDTHS = (CONTENT_WIDTH - 110 * mm, 34 * mm, 46 * mm, 30 * mm)
LINES_STYLE = TableStyle([
    ("FONTNAME", (0, 0), (-1, -1), FONT),
    ("FONTSIZE", (0, 0), (-1, -1), 8.5),
    ("LEADING", (0, 0), (-1, -1), 10.2),
    ("TEXTCOLOR", (0, 0), (-1, -1), INK),
    ("FONTNAME", (0, 0), (-1, 0), FONT_BOLD),
    ("FONTSIZE", (0, 0), (-1, 0), 8),
    ("LEADING", (0, 0), (-1, 0), 9.6),
    ("TEXTCOLOR", (0, 0), (-1, 0), ACCENT),
    ("BACKGROUND", (0, 0), (-1, 0), BAND),
    ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ("TOPPADDING", (0, 0), (-1, -1), 5),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ("LEFTPADDING", (0, 0), (-1, -1), 6),
    ("RIGHTPADDING", (0, 0), (-1, -1), 6),
    ("LINEBELOW", (0, 1), (-1, -1), 0.5, RULE),
])


def _lines_table(document: InvoiceDocument) -> Flowable:
    cells = [
        [fit_text(description), fit_text(quantity), fit_text(unit_price), fit_text(amount)]
        for description, quantity, unit_price, amount in line_cells(document)
    ]
    drawn = _LinesTable.of([fit_text(column) for column in line_columns()], cells)
    if drawn is not None:
        return drawn
    # A word wider than its column (or a line that only fits by narrowing its spaces): paragraphs break it.
    rows = [line_columns()]
    for description, quantity, unit_price, amount in cells:
        rows.append([_Paragraph(escape(description), CELL), _Paragraph(escape(quantity), CELL_NUMBER),
                     _Paragraph(escape(unit_price), CELL_NUMBER), amount])
    # A usage line's quantity and price name their unit ('35,161,291 tokens', '2,00 EUR / million de jetons'):
    # wide enough for them on one line up to a billion tokens; a longer price wraps, an amount never does.
    table = Table(rows, colWidths=list(LINE_WIDTHS), repeatRows=1)  # the header row is repeated on every page
    table.setStyle(LINES_STYLE)
    return table


def summary_rows(document: InvoiceDocument) -> tuple[list[list[str]], list[list[str]]]:
    """The VAT breakdown (caption, header, one row per rate) and the totals (label, amount), as they print."""

    def money(amount):
        return fit_text(_money(amount, document.currency))

    rate = f"{format_percent(vat_percent(document))} %"
    vat = [
        [fit_text(gettext("VAT breakdown").upper()), "", ""],
        [gettext("Taxable base"), gettext("Rate"), pgettext("tax amount", "VAT")],
        [money(document.subtotal), rate, money(document.tax_amount)],
    ]
    totals = [
        [gettext("Subtotal (excl. VAT)"), money(document.subtotal)],
        [gettext("VAT %(rate)s") % {"rate": rate}, money(document.tax_amount)],
    ]
    if document.is_credit_note:
        totals.append([gettext("Total credited"), money(document.amount_due)])
    else:
        totals += [
            [gettext("Total (incl. VAT)"), money(document.total)],
            [pgettext("invoice total", "Credits applied"), money(document.credit_applied)],
            [gettext("Amount paid"), money(document.amount_paid)],
            [pgettext("invoice total", "Amount due"), money(document.amount_due)],
        ]
    return vat, totals


def _summary(document: InvoiceDocument) -> Flowable:
    """One block: the VAT breakdown on the left (base, rate, VAT), the totals on the right."""
    vat, totals = summary_rows(document)
    return _Summary(vat, totals, bold_total=not document.is_credit_note)


def payment_instructions(document: InvoiceDocument) -> str:
    """How the amount due is paid, as at issue: by bank transfer (the number as the reference), charged to the
    saved card, or debited under a SEPA mandate; empty when there is nothing to pay."""
    payment = document.payment
    if payment is None:
        return ""
    if payment.means_code == BANK_CARD:
        return gettext("Payment: charged to the %(brand)s card ending in %(last4)s when the invoice is issued.") % {
            "brand": payment.card_brand, "last4": payment.card_last4,
        }
    if payment.means_code == SEPA_DIRECT_DEBIT:
        return gettext("Payment: SEPA direct debit from account %(account)s under mandate %(mandate)s.") % {
            "account": payment.debited_account, "mandate": payment.mandate_reference,
        }
    return gettext("Payment: bank transfer to IBAN %(iban)s, BIC %(bic)s, reference %(reference)s.") % {
        "iban": iban.format(payment.iban), "bic": payment.bic, "reference": document.number,
    }


class _Note(Flowable):
    """A note of one style across the page, broken into lines as its paragraph breaks them; split between lines as
    a paragraph splits (never leaving a single line at the foot of a page)."""

    def __init__(self, lines: _Lines, style: ParagraphStyle):
        super().__init__()
        self.lines, self.style = lines, style
        self.width, self.height = CONTENT_WIDTH, len(lines) * style.leading
        self.spaceBefore, self.spaceAfter = style.spaceBefore, style.spaceAfter

    def split(self, availWidth, availHeight):
        fit = int(availHeight / self.style.leading)
        if fit <= 1:
            return []
        if len(self.lines) <= fit:
            return [self]
        return [_Note(self.lines[:fit], self.style), _Note(self.lines[fit:], self.style)]

    def draw(self):
        canv, style = self.canv, self.style
        baseline = self.height - style.fontSize
        _pen(canv, style.fontName, style.fontSize, style.leading, style.textColor)
        for line, extra in self.lines:
            _draw_line(canv, line, extra, 0, baseline)
            baseline -= style.leading


def _note(text: str, style: ParagraphStyle) -> Flowable:
    text = fit_text(text)
    lines = _wrap_words(text, style.fontName, style.fontSize, CONTENT_WIDTH)
    return _Paragraph(escape(text), style) if lines is None else _Note(lines, style)


def _notes(document: InvoiceDocument) -> list:
    notes = []
    instructions = payment_instructions(document)
    if instructions:
        notes.append(_note(instructions, NOTE_STRONG))
    if document.is_credit_note:
        number = document.original_invoice_number
        if document.original_invoice_issue_date is None:
            reference = gettext("This credit note cancels invoice %(number)s.") % {"number": number}
        else:
            reference = gettext("This credit note cancels invoice %(number)s of %(date)s.") % {
                "number": number, "date": format_date(document.original_invoice_issue_date),
            }
        notes.append(_Paragraph(f"<b>{_markup(reference)}</b> {_markup(reason_text(document))}", NOTE))
    if document.tax_mention:
        notes.append(_note(document.tax_mention, NOTE_STRONG))
    notes += [_note(text, NOTE) for text in legal_paragraphs(document)]
    return notes


def legal_paragraphs(document: InvoiceDocument) -> list[str]:
    """The legal mentions as the notes print them: the operation and payment terms, then the late-payment ones."""
    mentions = legal_mentions(document)
    return [
        " ".join(filter(None, [
            mentions["operation"], mentions["vat_on_debits"], mentions["payment_terms"], mentions["no_discount"],
        ])),
        f"{mentions['late_payment']} {mentions['recovery_indemnity']}",
    ]


def footer_text(document: InvoiceDocument) -> str:
    """The seller's name, address and identifiers, at the foot of every page."""
    seller = document.seller
    address = ", ".join(filter(None, [seller.address_line1, " ".join(filter(None, [seller.postal_code, seller.city]))]))
    parts = [seller.display_name, address]
    if seller.siren:
        parts.append(_siren(seller))
    if seller.vat_number:
        parts.append(_vat_number(seller))
    return fit_text(" · ".join(part for part in parts if part))


# --- Entry point --------------------------------------------------------------------------------------
def render_invoice_pdf(document: InvoiceDocument, *, logo_path: Path | str | None = DEFAULT_LOGO,
                       pdfa: PdfA3 | None = None) -> bytes:
    """The PDF of an invoice or credit note, as bytes: PDF/A-3 ready, and a PDF/A-3 given `pdfa`."""
    with in_document_language(document):
        return _render(document, logo_path=logo_path, pdfa=pdfa)


def _render(document: InvoiceDocument, *, logo_path: Path | str | None, pdfa: PdfA3 | None) -> bytes:
    title = f"{document_title(document)} {document.number}"
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=fit_text(title),
        author=fit_text(document.seller.display_name),
        subject=fit_text(title),
        creator=CREATOR,
        initialFontName=FONT,
        lang="fr-FR" if document.language == "fr" else "en-GB",
    )
    frame = Frame(MARGIN_X, MARGIN_BOTTOM, CONTENT_WIDTH, PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM, 0, 0, 0, 0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    story = [
        _header(document, logo_path),
        Spacer(1, 8 * mm),
        _facts(document),
        Spacer(1, 7 * mm),
        _parties(document),
        Spacer(1, 8 * mm),
        _lines_table(document),
        Spacer(1, 5 * mm),
        _summary(document),  # never split: it moves whole to the next page
        Spacer(1, 6 * mm),
        HRFlowable(width="100%", thickness=0.5, color=RULE, spaceAfter=3 * mm),
        *_notes(document),
    ]
    doc.build(
        story,
        canvasmaker=functools.partial(
            _DocumentCanvas,
            footer=footer_text(document),
            running_title=fit_text(f"{document.seller.display_name} — {title}"),
            # The canvas numbers the pages once it knows how many there are: it gets the text to fill in.
            page_label=gettext("Page %(page)s / %(pages)s"),
            pdfa=pdfa,
        ),
    )
    return out.getvalue()
