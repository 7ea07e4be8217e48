"""Label files, in three formats:

- ``Id,Target``: space-separated class indices (the Kaggle HPA format). Indices mean different
  classes in different label sets, so they are read only against a label set the user named;
- one line a sample, ``id, Class A, Class B`` with class names (the Cyto Challenge format; the HPA's
  own ``Class A;Class B`` in one cell too);
- a header ``id`` (or ``sample``) followed by one column per class name, with 0 or 1 in each cell
  (how many labs and tools export multi-label data).

Class names go through ``study.vocabulary.ClassResolver``: the label set's names and keys, the user's
``--map`` file and the built-in aliases, each mapping counted so that the import can say what it did.

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

from study.labels import CYTO13, LABEL_SETS, LabelSet
from study.vocabulary import ClassResolver, UnknownClassName

ID_HEADERS = ("id", "sample", "sample_id", "sample id")
ONE_HOT_TRUE = ("1", "1.0", "true", "yes")
ONE_HOT_FALSE = ("0", "0.0", "false", "no", "")


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
    label_set: LabelSet
    # (name as written, class name or "drop") -> how many times that mapping was applied
    mappings: dict[tuple[str, str], int]
    # samples all of whose classes the user's mapping dropped
    dropped: tuple[str, ...] = ()


def read_label_file(
    path: Path, label_set: LabelSet | None = None, class_map: dict[str, int | None] | None = None
) -> LabelFile:
    """The labels of ``path``. ``label_set`` None means the user named none: class names are then
    read as the paper's 13 classes (``CYTO13``), and class indices are refused."""
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
        if label_set is None:
            raise LabelFileError(path, first_line, _which_label_set(rows[1:]))
        return LabelFile(path, _read_index_rows(path, rows[1:], label_set), "Id,Target", label_set, {})
    if header[0] in ID_HEADERS and len(header) == 1:
        raise LabelFileError(
            path, first_line, "the header has one column; column 2 is neither Target (an Id,Target file) nor a class "
            "(a file of one 0/1 column per class)", 2
        )
    resolver = ClassResolver(label_set or CYTO13, class_map or {})
    if header[0] in ID_HEADERS and len(header) > 1:
        labels, dropped = _read_one_hot_rows(path, first_line, first, rows[1:], resolver)
        form = "one 0/1 column per class"
    else:
        labels, dropped = _read_name_rows(path, rows, resolver)
        form = "id, class names"
    return LabelFile(path, labels, form, resolver.label_set, dict(resolver.applied), tuple(dropped))


def _which_label_set(rows) -> str:
    largest = max((int(v) for _, row in rows if len(row) > 1 for v in row[1].split() if v.isascii() and v.isdigit()),
                  default=None)
    fitting = [s for s in LABEL_SETS.values() if largest is None or largest < len(s)]
    choices = "; ".join(f"--label-set {s.key} ({s.title})" for s in fitting) or "none of the known label sets fits"
    return (
        "holds class indices (Id,Target), and an index means a different class in each label set: say which "
        f"label set they index. The largest index here is {largest}; fitting: {choices}"
    )


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


def _read_name_rows(path, rows, resolver: ClassResolver) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    labels: dict[str, tuple[int, ...]] = {}
    first_line: dict[str, int] = {}
    dropped = []
    for line, row in rows:
        cells = [cell.strip() for cell in row]
        sample_id, indices, names = cells[0], [], 0
        for column, cell in enumerate(cells[1:], start=2):
            for name in (part.strip() for part in cell.split(";")):
                if not name:
                    continue
                names += 1
                index = _resolve(path, line, column, resolver, name)
                if index is not None:
                    indices.append(index)
        if names and not indices:
            dropped.append(sample_id)
            continue
        _add(path, line, labels, first_line, sample_id, indices)
    return labels, dropped


def _read_one_hot_rows(path, header_line, header, rows, resolver) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    columns, mapping_of_column = {}, {}
    for column, name in enumerate(header[1:], start=2):
        before = set(resolver.applied)
        try:
            columns[column] = resolver.resolve(name)
        except UnknownClassName as error:
            raise LabelFileError(
                path, header_line, f"column {column} of the header is neither Target (an Id,Target file) nor a "
                f"class (a file of one 0/1 column per class): {error.message}", column
            ) from None
        mapping_of_column[column] = next(iter(set(resolver.applied) - before), None)
    # A column's mapping is counted once per sample marked in it, as for the other formats.
    resolver.applied.clear()
    labels: dict[str, tuple[int, ...]] = {}
    first_line: dict[str, int] = {}
    dropped = []
    for line, row in rows:
        cells = [cell.strip() for cell in row]
        if len(cells) != len(header):
            raise LabelFileError(path, line, f"has {len(cells)} columns, the header {len(header)}")
        indices, marked = [], 0
        for column, cell in enumerate(cells[1:], start=2):
            value = cell.casefold()
            if value not in ONE_HOT_TRUE + ONE_HOT_FALSE:
                raise LabelFileError(
                    path, line, f"column {column} ({header[column - 1].strip()}) holds {cell!r}; expected 0 or 1", column
                )
            if value in ONE_HOT_TRUE:
                marked += 1
                if mapping_of_column[column] is not None:
                    resolver.applied[mapping_of_column[column]] += 1
                if columns[column] is not None:
                    indices.append(columns[column])
        if marked and not indices:
            dropped.append(cells[0])
            continue
        _add(path, line, labels, first_line, cells[0], indices)
    return labels, dropped


def _resolve(path, line, column, resolver: ClassResolver, name: str) -> int | None:
    try:
        return resolver.resolve(name)
    except UnknownClassName as error:
        raise LabelFileError(path, line, f"column {column}: {error.message}", column) from None


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
