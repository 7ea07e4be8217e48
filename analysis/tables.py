"""A table specified once and rendered twice: as a CSV file with machine names and exact values, and as
a table a person reads, with words as headers, rounded figures, estimates with their intervals in one
cell, readable p-values and rows under the headings of their groups.

A ``Table`` holds its records (dicts keyed by the machine names), the CSV columns (``columns``) and the
page columns (``cells``, each a header and a function of a record). ``csv_bytes`` writes the file,
``displayed`` the page's form of it; the same ``Table`` feeds both.

CSV cells are exact (``repr`` of a float, empty for none) so that the same report writes the same bytes,
and neutralised against formula injection (``site_machinery.csv_safety``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from analysis.report_content import INFORMATION, Note
from site_machinery import csv_safety

Record = dict
MISSING = "–"


@dataclass(frozen=True)
class Cell:
    """A page column: its header in words, how a record shows in it, and whether it holds numbers
    (right-aligned, in figures of equal width)."""

    header: str
    show: Callable[[Record], str]
    numeric: bool = True


@dataclass(frozen=True)
class Figure:
    """A figure shown with a table: its PNG in the report's folder, the alternative text, a caption."""

    file: str
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Table:
    """One table of a report. ``file`` is where its exact figures are (its own CSV when ``columns`` are
    given, or the file it is a view of); ``group`` names the heading a record's row comes under
    (consecutive rows of one group share it); under the table, ``findings`` (its results in words),
    ``method`` (how it was computed and how to read it) and ``notes``."""

    name: str
    title: str
    file: str
    records: list[Record]
    cells: tuple[Cell, ...] = ()
    columns: tuple[str, ...] = ()
    group: Callable[[Record], str] | None = None
    findings: tuple[str, ...] = ()
    method: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    figure: Figure | None = None
    on_page: bool = True


# How a value reads on the page.


def figure_text(value) -> str:
    """A figure of merit, a proportion or a kappa: three decimals."""
    return MISSING if value is None else f"{value:.3f}"


def signed_text(value) -> str:
    """A difference, with its sign (a true minus)."""
    return MISSING if value is None else f"{value:+.3f}".replace("-", "\u2212")


def interval_text(estimate, low, high, *, signed: bool = False) -> str:
    """An estimate and its interval in one cell: "0.875 (0.825–0.920)", or "+0.12 (−0.03 to +0.27)"
    for a difference, whose bounds may carry signs."""
    show = signed_text if signed else figure_text
    if estimate is None:
        return MISSING
    if low is None or high is None:
        return show(estimate)
    between = " to " if signed else "\u2013"
    return f"{show(estimate)} ({show(low)}{between}{show(high)})"


def p_value_text(value) -> str:
    """A p-value for reading: "< 0.001", three decimals below 0.01, two above."""
    if value is None:
        return MISSING
    if value < 0.001:
        return "< 0.001"
    return f"{value:.3f}" if value < 0.01 else f"{value:.2f}"


def count_text(value) -> str:
    """A count: a whole number with thousands separated; a mean of counts with one decimal."""
    if value is None:
        return MISSING
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def seconds_text(value) -> str:
    return MISSING if value is None else f"{value:,.1f} s"


def plain_text(value) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def when_text(moment: str | None) -> str:
    """An ISO 8601 UTC moment to the minute."""
    return "" if not moment else moment.replace("T", " ")[:16] + " UTC"


# Page columns from the machine names.


def text(key: str, header: str) -> Cell:
    return Cell(header, lambda record: plain_text(record.get(key)), numeric=False)


def figure(key: str, header: str) -> Cell:
    return Cell(header, lambda record: figure_text(record.get(key)))


def with_interval(key: str, low: str, high: str, header: str, *, signed: bool = False) -> Cell:
    return Cell(header, lambda record: interval_text(record.get(key), record.get(low), record.get(high), signed=signed))


def count(key: str, header: str) -> Cell:
    return Cell(header, lambda record: count_text(record.get(key)))


def p_value(key: str, header: str = "p") -> Cell:
    return Cell(header, lambda record: p_value_text(record.get(key)))


def seconds(key: str, header: str) -> Cell:
    return Cell(header, lambda record: seconds_text(record.get(key)))


def simulated(key: str = "simulated") -> Cell:
    """Whether a row is (or includes) a simulated reader: the mark every page carries for them."""
    return Cell("Simulated", lambda record: "simulated" if record.get(key) else "", numeric=False)


# The two renderings.


def _csv_row(record: Record, columns: tuple[str, ...]) -> list:
    """A record's cells as the csv module should write them: text neutralised against formulas
    (``site_machinery.csv_safety``), booleans as words, NaN empty (as None is); numbers as they are, a float
    written as its ``repr``, exact."""
    row = []
    for column in columns:
        value = record.get(column)
        kind = type(value)
        if kind is str:
            value = csv_safety.safe_cell(value)
        elif kind is bool:
            value = "true" if value else "false"
        elif kind is float and math.isnan(value):
            value = ""
        row.append(value)
    return row


def csv_bytes(table: Table) -> bytes:
    """The table's CSV file: a header of ``columns``, then a row per record, exact values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_safety.safe_cell(column) for column in table.columns])
    writer.writerows(_csv_row(record, table.columns) for record in table.records)
    return buffer.getvalue().encode()


class Shown(NamedTuple):
    """A cell or a header as the page shows it, and whether its column holds numbers."""

    text: str
    numeric: bool


@dataclass(frozen=True)
class RowGroup:
    heading: str
    rows: tuple[tuple[Shown, ...], ...]


@dataclass(frozen=True)
class DisplayTable:
    """A table as a page shows it: the header in words, the rows under their groups' headings (one
    group without a heading when the table has none), what is said under it and the figure shown with
    it (``figure_src``: the figure's address on that page)."""

    name: str
    title: str
    file: str
    header: tuple[Shown, ...]
    groups: tuple[RowGroup, ...]
    findings: tuple[str, ...] = ()
    method: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    figure: Figure | None = None
    figure_src: str = ""
    n_rows: int = field(default=0)


def displayed(table: Table) -> DisplayTable:
    groups: list[tuple[str, list]] = []
    for record in table.records:
        heading = table.group(record) if table.group else ""
        if not groups or groups[-1][0] != heading:
            groups.append((heading, []))
        groups[-1][1].append(tuple(Shown(cell.show(record), cell.numeric) for cell in table.cells))
    return DisplayTable(
        name=table.name,
        title=table.title,
        file=table.file,
        header=tuple(Shown(cell.header, cell.numeric) for cell in table.cells),
        groups=tuple(RowGroup(heading, tuple(rows)) for heading, rows in groups),
        findings=table.findings,
        method=table.method,
        notes=table.notes,
        figure=table.figure,
        n_rows=len(table.records),
    )


def information(text_: str | None) -> tuple[Note, ...]:
    """A section's own remark (nothing measured, say) as a note of kind information."""
    return (Note(INFORMATION, text_),) if text_ else ()
