"""CSV downloads that spreadsheets open safely: UTF-8 with a byte-order mark, no cell evaluated as a formula."""
import csv
from collections.abc import Iterable

from django.http import HttpResponse

# A cell starting with one of these is a formula to a spreadsheet: customer-typed text must never run as one.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(row: tuple) -> tuple:
    """The row with text cells that a spreadsheet would evaluate quoted by a leading apostrophe."""
    return tuple(
        f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value for value in row
    )


def csv_attachment(rows: Iterable[tuple], *, filename: str) -> HttpResponse:
    """A download of `rows` (the header first) named `filename`."""
    response = HttpResponse("\ufeff", content_type="text/csv; charset=utf-8")  # the byte-order mark: read as UTF-8
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    csv.writer(response).writerows(spreadsheet_safe(row) for row in rows)
    return response
