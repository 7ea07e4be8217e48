"""The report's tables laid out for reading: CSV files of Tables 1, 2, 3, 7 and each confusion matrix,
and the tables of the report's pages (the analyst page and the offline ``index.html``).

CSV cells are exact (``repr`` of a float, empty for none) so that the same report writes the same bytes;
page cells are rounded for the eye. The page tables are made from ``report.json``'s document, so a
cached report is shown without computing it again.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields

import numpy as np

from analysis.report_content import Report, Table1Row, Table2Row, Table3Row

# Table 2 puts the paper's figures right after the reader, the row's kind and size last.
TABLE2_COLUMNS = [
    "reader", "cohort", "simulated", "accuracy", "f1", "precision", "recall",
    "accuracy_ci_low", "accuracy_ci_high", "f1_ci_low", "f1_ci_high", "n_answered", "kind", "n_readers",
]
TABLE3_COLUMNS = [f.name for f in fields(Table3Row)]
TABLE1_COLUMNS = [f.name for f in fields(Table1Row)]
PVALUE_COLUMNS = {"p_value", "p_value_exact"}
COUNT_COLUMNS = {"n_answered", "n_readers", "n_samples"}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if np.isnan(value) else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(value) for value in row] for row in rows])
    return buffer.getvalue().encode()


def _rows_csv(columns: list[str], rows) -> bytes:
    return _csv(columns, [[getattr(row, name) for name in columns] for row in rows])


def table1_csv(rows: tuple[Table1Row, ...]) -> bytes:
    return _rows_csv(TABLE1_COLUMNS, rows)


def table2_csv(rows: tuple[Table2Row, ...]) -> bytes:
    return _rows_csv(TABLE2_COLUMNS, rows)


def table3_csv(rows: tuple[Table3Row, ...]) -> bytes:
    return _rows_csv(TABLE3_COLUMNS, rows)


def table7_csv(report: Report) -> bytes:
    """Per-class F1, a column per run, and a last row of each run's mean over the classes."""
    models = list(report.table7.per_class_f1)
    values = np.stack([report.table7.per_class_f1[m] for m in models], axis=1)
    rows = [[name, *map(float, row)] for name, row in zip(report.class_names, values)]
    rows.append(["Mean", *map(float, values.mean(axis=0))])
    return _csv(["class", *models], rows)


def confusion_csv(counts: np.ndarray, normalized: np.ndarray, unanswered: np.ndarray, class_names) -> bytes:
    """A row per true class: the row-normalized fractions per answer, then the unanswered and the total."""
    header = ["true_class", *class_names, "unanswered", "n_samples"]
    rows = [
        [name, *map(float, normalized_row), int(missing), int(count_row.sum() + missing)]
        for name, normalized_row, count_row, missing in zip(class_names, normalized, counts, unanswered)
    ]
    return _csv(header, rows)


def _shown(column: str, value) -> str:
    """A cell as the page shows it: p-values in two significant digits, figures in three decimals."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "simulated" if value else ""
    if isinstance(value, float):
        if column in PVALUE_COLUMNS:
            return f"{value:.2g}"
        return f"{value:.3f}" if not value.is_integer() or column not in COUNT_COLUMNS else str(int(value))
    return str(value)


@dataclass(frozen=True)
class DisplayTable:
    """A table as a page shows it, with the CSV file that holds its exact figures."""

    name: str
    title: str
    file: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _display(name: str, title: str, file: str, records: list[dict], columns: list[str]) -> DisplayTable:
    rows = tuple(tuple(_shown(column, record.get(column)) for column in columns) for record in records)
    return DisplayTable(name, title, file, tuple(columns), rows)


def display_tables(document: dict) -> list[DisplayTable]:
    """Tables 2, 3, 1 and 7 of a ``report.json`` document, formatted for a page."""
    tables = [
        _display(
            "table2", "Table 2: accuracy, and F1, precision and recall averaged over classes", "table2.csv",
            document["table2"], TABLE2_COLUMNS,
        ),
        _display(
            "table3", f"Table 3: McNemar's test against {document['models'][0] if document['models'] else 'the model'}",
            "table3.csv", document["table3"], TABLE3_COLUMNS,
        ),
    ]
    if document["table1"]:
        tables.append(
            _display("table1", "Table 1: models on the test split", "table1.csv", document["table1"], TABLE1_COLUMNS)
        )
        per_class = document["table7"]["per_class_f1"]
        records = [
            {"class": name, **{model: values[i] for model, values in per_class.items()}}
            for i, name in enumerate(document["table7"]["class_names"])
        ]
        tables.append(_display("table7", "Table 7: F1 per class", "table7.csv", records, ["class", *per_class]))
    return tables
