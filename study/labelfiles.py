"""Label files: ``Id,Target`` CSV with space-separated class indices (the Kaggle HPA format), or
one line a sample ``id, Class A, Class B`` with class names (the Cyto Challenge format).

The text is UTF-8 (with or without a byte-order mark), or UTF-16 with its byte-order mark, as
spreadsheet programs save "Unicode text"; cells are separated by commas, or where the first line has
none, by tabs ("Unicode text") or semicolons (CSV where the comma is the decimal mark). Anything
else is an error that names the line and column.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from study.labels import LabelSet


class LabelFileError(Exception):
    """``message`` says which column where it matters; ``column`` (1-based) keeps it for programs."""

    def __init__(self, path: Path, line: int | None, message: str, column: int | None = None):
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.column = column


@dataclass(frozen=True)
class LabelFile:
    path: Path
    labels: dict[str, tuple[int, ...]]
    format: str


def read_label_file(path: Path, label_set: LabelSet) -> LabelFile:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise LabelFileError(path, None, f"cannot read the file ({error.strerror})") from None
    rows = list(_rows(path, _decode(path, raw)))
    if not rows:
        raise LabelFileError(path, None, "is empty")
    first_line, first = rows[0]
    header = [cell.strip().casefold() for cell in first]
    if header[:2] == ["id", "target"]:
        return LabelFile(path, _read_index_rows(path, rows[1:], label_set), "Id,Target")
    if header[0] == "id":
        raise LabelFileError(path, first_line, "column 2 of the header is not Target; expected Id,Target", 2)
    return LabelFile(path, _read_name_rows(path, rows, label_set), "id, class names")


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not raw.startswith(codecs.BOM_UTF32_LE):
        encoding, name = "utf-16", "UTF-16"
    else:
        encoding, name = "utf-8-sig", "UTF-8"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - line_start + 1
        raise LabelFileError(
            path,
            line,
            f"is not {name} text (byte 0x{raw[error.start]:02x} at column {column}); save the file as UTF-8",
            column,
        ) from None
    if "\0" in text:
        before = text[: text.index("\0")]
        column = len(before) - before.rfind("\n")
        raise LabelFileError(
            path,
            before.count("\n") + 1,
            f"a NUL character at column {column}: this is a binary file, or UTF-16 text without its "
            "byte-order mark; save the file as UTF-8 text",
            column,
        )
    return text


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return next((candidate for candidate in ",\t;" if candidate in first), ",")


def _rows(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """The rows that hold anything, with the line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise LabelFileError(path, line, f"is not valid CSV ({error})") from None
        if any(cell.strip() for cell in row):
            yield line, row


def _read_index_rows(path, rows, label_set) -> dict[str, tuple[int, ...]]:
    labels: dict[str, tuple[int, ...]] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        if len(row) < 2:
            raise LabelFileError(path, line, "expected two columns, Id and Target")
        sample_id, target = row[0].strip(), row[1].strip()
        indices = []
        for value in target.split():
            # Only plain digits: int() would also take "1_0" as 10, or "+3" and "٣" as 3.
            if not (value.isascii() and value.isdigit() and int(value) < len(label_set)):
                raise LabelFileError(
                    path, line, f"unknown class index {value!r} in column 2: {label_set.key} has classes 0 to "
                    f"{len(label_set) - 1}", 2
                )
            indices.append(int(value))
        _add(path, line, labels, first_line, sample_id, indices)
    return labels


def _read_name_rows(path, rows, label_set) -> dict[str, tuple[int, ...]]:
    labels: dict[str, tuple[int, ...]] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        cells = [cell.strip() for cell in row]
        sample_id, indices = cells[0], []
        for column, name in enumerate(cells[1:], start=2):
            if not name:
                continue
            try:
                indices.append(label_set.by_name(name).index)
            except KeyError:
                raise LabelFileError(
                    path, line, f"unknown class {name!r} in column {column}; {label_set.key} classes are: "
                    f"{', '.join(label_set.names)}", column
                ) from None
        _add(path, line, labels, first_line, sample_id, indices)
    return labels


def _add(path, line, labels, first_line, sample_id, indices) -> None:
    if not sample_id:
        raise LabelFileError(path, line, "the sample id is empty (column 1)", 1)
    if not indices:
        raise LabelFileError(path, line, f"sample {sample_id!r} has no class")
    if sample_id in labels:
        raise LabelFileError(
            path, line, f"sample {sample_id!r} appears again (first on line {first_line[sample_id]})"
        )
    labels[sample_id] = tuple(sorted(set(indices)))
    first_line[sample_id] = line
