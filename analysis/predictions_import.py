"""Predictions made elsewhere, from a CSV file, stored as a model run of kind ``imported``.

The file has a row per sample: column ``sample`` holds the sample's source id, then either a column
``class`` (a class index or name) or one probability column per class, named by class name (or key).
Every row is checked before anything is stored; one bad cell stops the import with its line and column.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from models_zoo.models import ModelRun, Prediction
from models_zoo.runs import RunError, create_imported_run
from study.labels import LabelSet
from study.models import Study

SAMPLE_COLUMN = "sample"
CLASS_COLUMN = "class"
PREDICTION_THRESHOLD = 0.5
# Rows of softmax outputs sum to 1; sigmoid outputs (one per class, multi-label) need not.
SOFTMAX_TOLERANCE = 1e-3


class PredictionsFileError(ValueError):
    """A predictions file that cannot be imported; the message names the file, line and column."""


@dataclass(frozen=True)
class ImportedPredictions:
    run: ModelRun
    n_predictions: int
    form: str


@dataclass(frozen=True)
class _Row:
    sample_pk: int
    probabilities: list[float] | None
    classes: list[int]


def _class_of(value: str, label_set: LabelSet, where: str) -> int:
    text = value.strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if 0 <= index < len(label_set):
            return index
        raise PredictionsFileError(f"{where}: class index {index} is not in 0-{len(label_set) - 1}")
    try:
        return label_set.by_name(text).index
    except KeyError:
        raise PredictionsFileError(
            f"{where}: {value!r} is not a class of {label_set.key} (classes: {', '.join(label_set.names)})"
        ) from None


def _probability(value: str, where: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise PredictionsFileError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise PredictionsFileError(f"{where}: {value!r} is not a probability between 0 and 1")
    return number


def _probability_columns(header: list[str], label_set: LabelSet, path: Path) -> list[int]:
    """The class index of each column after ``sample``, every class exactly once."""
    indices = []
    for column in header[1:]:
        try:
            indices.append(label_set.by_name(column).index)
        except KeyError:
            raise PredictionsFileError(
                f"{path}, line 1, column {column!r}: not a class of {label_set.key} "
                f"(expected '{CLASS_COLUMN}' or one column per class: {', '.join(label_set.names)})"
            ) from None
    missing = sorted(set(range(len(label_set))) - set(indices))
    if missing:
        names = ", ".join(label_set.by_index(i).name for i in missing)
        raise PredictionsFileError(f"{path}, line 1: no probability column for {names}")
    if len(set(indices)) != len(indices):
        raise PredictionsFileError(f"{path}, line 1: a class has two probability columns")
    return indices


def read_predictions_file(path: Path, study: Study) -> tuple[str, list[_Row]]:
    """The file's rows, checked against the study's data set and label set: ``(form, rows)``."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise PredictionsFileError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise PredictionsFileError(f"{path}: is not UTF-8 text; save it as UTF-8 CSV") from None
    lines = list(csv.reader(io.StringIO(text)))
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise PredictionsFileError(f"{path}: is empty; expected a header line starting with '{SAMPLE_COLUMN}'")
    header = [cell.strip() for cell in lines[0]]
    if header[0].casefold() != SAMPLE_COLUMN:
        raise PredictionsFileError(f"{path}, line 1, column 1: expected '{SAMPLE_COLUMN}', found {header[0]!r}")
    label_set = study.label_set
    form = "class" if len(header) == 2 and header[1].casefold() == CLASS_COLUMN else "probabilities"
    column_classes = _probability_columns(header, label_set, path) if form == "probabilities" else []
    samples = dict(study.dataset.samples.values_list("source_id", "pk"))
    rows, seen = [], {}
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise PredictionsFileError(f"{path}, line {number}: has {len(cells)} columns, the header has {len(header)}")
        source_id = cells[0].strip()
        if source_id not in samples:
            raise PredictionsFileError(
                f"{path}, line {number}, column {SAMPLE_COLUMN}: {source_id!r} is not a sample of data set "
                f"{study.dataset.name}"
            )
        if source_id in seen:
            raise PredictionsFileError(
                f"{path}, line {number}, column {SAMPLE_COLUMN}: {source_id!r} was already given on line "
                f"{seen[source_id]}"
            )
        seen[source_id] = number
        if form == "class":
            index = _class_of(cells[1], label_set, f"{path}, line {number}, column {CLASS_COLUMN}")
            rows.append(_Row(samples[source_id], None, [index]))
            continue
        probabilities = [0.0] * len(label_set)
        for column, cell, class_index in zip(header[1:], cells[1:], column_classes):
            probabilities[class_index] = _probability(cell, f"{path}, line {number}, column {column}")
        rows.append(_Row(samples[source_id], probabilities, []))
    if not rows:
        raise PredictionsFileError(f"{path}: has a header but no rows")
    return form, rows


def import_predictions(study: Study, path: Path, name: str) -> ImportedPredictions:
    """Store the file's predictions as run ``name`` (kind ``imported``), all rows or none."""
    if ModelRun.objects.filter(name=name).exists():
        raise PredictionsFileError(f"--name {name}: a model run of that name already exists; choose another name")
    form, rows = read_predictions_file(path, study)
    single_class = form == "class" or all(
        abs(sum(row.probabilities) - 1.0) <= SOFTMAX_TOLERANCE for row in rows
    )
    predictions = [
        Prediction(sample_id=row.sample_pk, probabilities=row.probabilities, classes=_classes(row, single_class))
        for row in rows
    ]
    config = {"file": Path(path).name, "form": form, "study": study.name}
    try:
        run = create_imported_run(name, study.dataset, single_class, config, predictions)
    except RunError as error:
        raise PredictionsFileError(f"--name: {error}") from None
    return ImportedPredictions(run=run, n_predictions=len(rows), form=form)


def _classes(row: _Row, single_class: bool) -> list[int]:
    """The predicted classes: the imported class, the most probable class of a softmax row, or every
    class at or above the threshold of a multi-label row."""
    if row.probabilities is None:
        return row.classes
    if single_class:
        return [max(range(len(row.probabilities)), key=row.probabilities.__getitem__)]
    return [i for i, p in enumerate(row.probabilities) if p >= PREDICTION_THRESHOLD]
