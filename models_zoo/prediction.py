"""A run's predictions of whole samples, stored as ``Prediction`` rows (the machine reader's answers).

Each sample is z-scored over its whole image and predicted as the mean of its tiles' probabilities
(``models_zoo.tiling``, the paper's section 3.1); with ``tta`` (beyond the paper) each tile's
probabilities are first averaged over its 8 flips and quarter turns. The predicted classes: the argmax for a
single-class run; otherwise every class at or over its threshold (0.5, or the run's tuned
thresholds), or the argmax where none is, so that every sample has at least one class.
Predicting again replaces the run's predictions of those samples.

A run predicts the samples of any data set with its own data set's label set (the classes its
outputs mean), not only its own data set's: the released weights, imported once, predict the
user's own images too. A run's calibrated channel order (``ModelRun.channel_order``) is built into
the model it loads (``models_zoo.runs.load_run_model``).

A list of samples to predict (:func:`read_sample_list`) is a text file with one sample id (the
id the sample was imported under) a line, or a CSV file with a ``sample`` column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from django.db import transaction

from models_zoo.models import ModelRun, Prediction
from models_zoo.runs import RunError, load_run_model
from models_zoo.tiling import predict_whole_image
from models_zoo.training.data import SplitSamples, WholeImageDataset, whole_image_loader
from models_zoo.training.metrics import predicted_classes
from study.models import Dataset, Sample

SAMPLE_COLUMN = "sample"
# Unknown ids named in full before the error message only counts the rest.
NAMED_UNKNOWN = 5
# Ids looked up per query (SQLite limits the parameters of one query).
LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class PredictionSummary:
    predicted: int
    replaced: int  # of those, samples that had a prediction of this run before


def predict_samples(
    run: ModelRun,
    samples: list[Sample],
    device: str = "cpu",
    batch_size: int = 4,
    workers: int = 0,
    amp: bool = False,
    tta: bool = False,
    progress: Callable[[Iterable], Iterable] = iter,
) -> PredictionSummary:
    """Predict every sample of ``samples`` (of data sets with the run's label set) and store the predictions."""
    for dataset in Dataset.objects.filter(pk__in={s.dataset_id for s in samples} - {run.dataset_id}):
        check_same_label_set(run, dataset, "the samples to predict")
    model, tile = load_run_model(run)
    images = whole_image_loader(
        WholeImageDataset(
            settings.STORE_DIR,
            SplitSamples([s.pk for s in samples], [s.store_key for s in samples], np.zeros(len(samples))),
        ),
        list(range(len(samples))),
        workers,
        pin_memory=device.startswith("cuda"),
    )
    probabilities = np.zeros((len(samples), model.num_classes))
    for index, image in progress(images):
        probabilities[index] = predict_whole_image(model, image, tile, batch_size, torch.device(device), amp, tta)
    chosen = predicted_classes(probabilities, run.single_class, run.thresholds)
    predictions = [
        Prediction(
            run=run, sample=sample, probabilities=[float(p) for p in row], classes=np.flatnonzero(picked).tolist()
        )
        for sample, row, picked in zip(samples, probabilities, chosen)
    ]
    with transaction.atomic():
        replaced, _ = Prediction.objects.filter(run=run, sample__in=samples).delete()
        Prediction.objects.bulk_create(predictions)
    return PredictionSummary(predicted=len(predictions), replaced=replaced)


def check_same_label_set(run: ModelRun, dataset: Dataset, what: str) -> None:
    """Refuse ``dataset`` (``what`` names how it was chosen) unless it has the run's label set."""
    if dataset.pk != run.dataset_id and dataset.label_set_key != run.dataset.label_set_key:
        raise RunError(
            f"{what}: data set {dataset.name!r} uses label set {dataset.label_set_key}; run {run.name!r} "
            f"(of data set {run.dataset.name!r}) predicts the classes of {run.dataset.label_set_key}"
        )


class SampleListError(ValueError):
    """A list of samples that cannot be read, or names samples the data set does not have."""


class UnknownSamplesError(SampleListError):
    """A list of samples that names samples the data set does not have."""


def read_sample_list(path: Path) -> list[tuple[int, str]]:
    """``(line, sample id)`` of each sample a list names, first mention only, in the file's order.

    One id a line, or CSV (comma, tab or semicolon) whose first line is a header with a ``sample``
    column; blank lines are skipped. UTF-8, with or without a byte-order mark.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise SampleListError(f"{path}: cannot read the file ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise SampleListError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8"
        ) from None
    rows = _rows(path, text)
    if not rows:
        raise SampleListError(f"{path}: names no samples")
    first_line, header = rows[0]
    names = [cell.strip().casefold() for cell in header]
    if SAMPLE_COLUMN in names:
        column, rows = names.index(SAMPLE_COLUMN), rows[1:]
    elif len([cell for cell in header if cell.strip()]) > 1:
        raise SampleListError(
            f"{path}, line {first_line}: a CSV file needs a header with a {SAMPLE_COLUMN!r} column "
            f"(got {', '.join(repr(cell.strip()) for cell in header)}); a plain list has one sample id a line"
        )
    else:
        column = None
    listed: dict[str, int] = {}
    for line, row in rows:
        if column is None:
            cells = [cell.strip() for cell in row if cell.strip()]
            if len(cells) != 1:
                raise SampleListError(
                    f"{path}, line {line}: expected one sample id, got {len(cells)} cells; a CSV file needs a "
                    f"header with a {SAMPLE_COLUMN!r} column"
                )
            sample_id = cells[0]
        else:
            sample_id = row[column].strip() if column < len(row) else ""
            if not sample_id:
                raise SampleListError(f"{path}, line {line}: no sample id in column {SAMPLE_COLUMN!r}")
        listed.setdefault(sample_id, line)
    if not listed:
        raise SampleListError(f"{path}: names no samples")
    return [(line, sample_id) for sample_id, line in listed.items()]


def listed_samples(dataset: Dataset, path: Path) -> list[Sample]:
    """The samples of ``dataset`` a list names (:func:`read_sample_list`), in the list's order; any id
    the data set does not have is an error that names its line."""
    listed = read_sample_list(path)
    ids = [sample_id for _, sample_id in listed]
    by_id = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = Sample.objects.filter(dataset=dataset, source_id__in=ids[start : start + LOOKUP_CHUNK])
        by_id.update((sample.source_id, sample) for sample in chunk.select_related("dataset"))
    unknown = [(line, sample_id) for line, sample_id in listed if sample_id not in by_id]
    if unknown:
        named = "; ".join(f"line {line}: {sample_id!r}" for line, sample_id in unknown[:NAMED_UNKNOWN])
        more = f"; and {len(unknown) - NAMED_UNKNOWN} more" if len(unknown) > NAMED_UNKNOWN else ""
        raise UnknownSamplesError(
            f"{path}: {len(unknown)} of {len(listed)} listed samples are not in data set {dataset.name!r} "
            f"({named}{more})"
        )
    return [by_id[sample_id] for _, sample_id in listed]


def _rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """The rows that hold anything, with the line each starts on."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = next((candidate for candidate in ",\t;" if candidate in first), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as error:
            raise SampleListError(f"{path}, line {line}: not valid CSV ({error})") from None
        if any(cell.strip() for cell in row):
            rows.append((line, row))
