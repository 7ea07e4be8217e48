"""CSV cells that a spreadsheet opens as text, never as a formula (OWASP, "CSV Injection").

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (a sample id
such as ``=HYPERLINK(...)`` from an imported label file, say) would be run as a formula by Excel,
LibreOffice or Google Sheets; such a cell is written with a leading apostrophe, which they all read
as "this is text". Numbers, and text that is a plain number (``-0.5``, ``+3``, ``1e-3``), are left
as they are (``-inf`` too): a negative number must stay a number. ``unsafe_cell`` undoes ``safe_cell`` for a
file read back in.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?|inf(inity)?|nan)", re.IGNORECASE)


def _starts_a_formula(text: str) -> bool:
    # Apostrophes in front are looked through, so that a value that starts with one comes back
    # from ``unsafe_cell`` as it was.
    bare = text.lstrip("'")
    return bare.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(bare)


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet will show it: text that would start a formula gets an apostrophe."""
    if isinstance(value, str) and _starts_a_formula(value):
        return "'" + value
    return value


def unsafe_cell(text: str) -> str:
    """The text ``safe_cell`` was given, from the cell it wrote."""
    if text.startswith("'") and _starts_a_formula(text):
        return text[1:]
    return text


class SafeWriter:
    """``csv.writer`` whose every text cell goes through ``safe_cell``."""

    def __init__(self, handle, **options):
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(handle, **options) -> SafeWriter:
    """A drop-in for ``csv.writer(handle, **options)`` that neutralises formula cells."""
    return SafeWriter(handle, **options)
