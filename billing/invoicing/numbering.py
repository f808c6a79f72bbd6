"""Gapless document numbers: a counter row per kind and year, locked until the transaction commits.

A rolled-back transaction rolls its counter back with it, so no number is ever burnt.
"""
from django.db import transaction

from billing.models import DocumentKind, NumberSequence

PREFIXES = {DocumentKind.INVOICE: "TMCP", DocumentKind.CREDIT_NOTE: "AV"}


def format_number(*, kind: str, year: int, sequence: int) -> str:
    return f"{PREFIXES[kind]}-{year}-{sequence:06d}"


def numbers_reserve(*, kind: str, year: int, count: int) -> list[str]:
    """The next `count` numbers of `kind` for `year`, in order. Must run inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Numbers must be reserved inside the transaction that uses them.")
    # Create the year's counter if it is the first document of the year; a concurrent creator is fine.
    NumberSequence.objects.bulk_create([NumberSequence(kind=kind, year=year)], ignore_conflicts=True)
    sequence = NumberSequence.objects.select_for_update().get(kind=kind, year=year)
    first = sequence.last_number + 1
    sequence.last_number += count
    sequence.save(update_fields=["last_number"])
    return [format_number(kind=kind, year=year, sequence=n) for n in range(first, first + count)]
