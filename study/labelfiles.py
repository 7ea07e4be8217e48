"""Label files: ``Id,Target`` CSV with space-separated class indices (the Kaggle HPA format), or
one line a sample ``id, Class A, Class B`` with class names (the Cyto Challenge format)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from study.labels import LabelSet


class LabelFileError(Exception):
    def __init__(self, path: Path, line: int | None, message: str):
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


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
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise LabelFileError(path, line, "is not UTF-8 text; save the file as UTF-8") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    first = next((row for row in rows if any(cell.strip() for cell in row)), None)
    if first is None:
        raise LabelFileError(path, None, "is empty")
    header = [cell.strip().casefold() for cell in first]
    if header[:2] == ["id", "target"]:
        return LabelFile(path, _read_index_rows(path, rows, label_set), "Id,Target")
    return LabelFile(path, _read_name_rows(path, rows, label_set), "id, class names")


def _read_index_rows(path, rows, label_set) -> dict[str, tuple[int, ...]]:
    labels: dict[str, tuple[int, ...]] = {}
    first_line: dict[str, int] = {}
    header_seen = False
    for line, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue
        if not header_seen:
            header_seen = True
            continue
        if len(row) < 2:
            raise LabelFileError(path, line, "expected two columns, Id and Target")
        sample_id, target = row[0].strip(), row[1].strip()
        indices = []
        for value in target.split():
            try:
                index = int(value)
                label_set.by_index(index)
            except (ValueError, KeyError):
                raise LabelFileError(
                    path, line, f"unknown class index {value!r}: {label_set.key} has classes 0 to "
                    f"{len(label_set) - 1}"
                ) from None
            indices.append(index)
        _add(path, line, labels, first_line, sample_id, indices)
    return labels


def _read_name_rows(path, rows, label_set) -> dict[str, tuple[int, ...]]:
    labels: dict[str, tuple[int, ...]] = {}
    first_line: dict[str, int] = {}
    for line, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        sample_id, names = cells[0], [name for name in cells[1:] if name]
        indices = []
        for name in names:
            try:
                indices.append(label_set.by_name(name).index)
            except KeyError:
                raise LabelFileError(
                    path, line, f"unknown class {name!r}; {label_set.key} classes are: "
                    f"{', '.join(label_set.names)}"
                ) from None
        _add(path, line, labels, first_line, sample_id, indices)
    return labels


def _add(path, line, labels, first_line, sample_id, indices) -> None:
    if not sample_id:
        raise LabelFileError(path, line, "the sample id is empty")
    if not indices:
        raise LabelFileError(path, line, f"sample {sample_id!r} has no class")
    if sample_id in labels:
        raise LabelFileError(
            path, line, f"sample {sample_id!r} appears again (first on line {first_line[sample_id]})"
        )
    labels[sample_id] = tuple(sorted(set(indices)))
    first_line[sample_id] = line
