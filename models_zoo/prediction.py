"""A run's predictions of whole samples, stored as ``Prediction`` rows (the machine reader's answers).

Each sample is z-scored over its whole image and predicted as the mean of its tiles' probabilities
(``models_zoo.tiling``, the paper's section 3.1); with ``tta`` (beyond the paper) each tile's
probabilities are first averaged over its 8 flips and quarter turns. The predicted classes: the argmax for a
single-class run; otherwise every class at or over its threshold (0.5, or the run's tuned
thresholds), or the argmax where none is, so that every sample has at least one class.

Prediction streams, so that a whole split of large images takes bounded memory and survives being
stopped: one image is read and predicted at a time, and every ``chunk_size`` (64) predictions are
stored in a transaction of their own. What an exception interrupts (Ctrl-C, or in the ``predict``
command the SIGTERM with which torchrun stops the other processes when one fails) is stored before it
propagates; a process killed outright loses at most the predictions of its last, unstored chunk.
Samples the run has predicted already are skipped, so predicting again after an interruption
predicts what is left; ``replace`` predicts them again.

Under ``torchrun --nproc_per_node N`` the N processes share the samples out (process r predicts every
N-th sample from the r-th, of those left to predict), each on the GPU of its ``LOCAL_RANK`` with
``device="cuda"``, and each stores its own chunks. The processes meet twice only, through gloo
(their collectives carry Python objects, never tensors): the first process decides which samples are
left to predict and hands the list to the others, and at the end the counts are added up. So no
process waits for another while predicting, a collective never waits out a slow image, and what one
process has stored survives another's failure; the database takes the concurrent writers (PostgreSQL,
or SQLite, which makes a writer wait up to 30 s for another's short transaction, each of which starts
with its write).

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
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
import torch.distributed as dist
from django.db import transaction
from tqdm import tqdm

from models_zoo.models import ModelRun, Prediction
from models_zoo.runs import RunError, load_run_model
from models_zoo.tiling import predict_whole_image
from models_zoo.training.data import SplitSamples, WholeImageDataset, whole_image_loader
from models_zoo.training.processes import (
    Processes,
    current_processes,
    decided_by_writer,
    process_device,
    process_group,
)
from models_zoo.training.progress import plain_interval
from models_zoo.training.validation import predicted_classes
from study.models import Dataset, Sample
from study.store import sample_store

SAMPLE_COLUMN = "sample"
# Unknown ids named in full before the error message only counts the rest.
NAMED_UNKNOWN = 5
# Ids looked up per query (SQLite limits the parameters of one query).
LOOKUP_CHUNK = 500
# Predictions stored per transaction.
CHUNK_SAMPLES = 64


@dataclass(frozen=True)
class PredictionPlan:
    """What a prediction is about to do, as the first process decided it."""

    samples: int  # asked for
    to_predict: int
    skipped: int  # predicted by the run already, left as they are
    processes: int


@dataclass(frozen=True)
class PredictionSummary:
    predicted: int  # by every process together
    replaced: int  # of those, samples that had a prediction of this run before
    skipped: int = 0  # samples the run had predicted already, left as they were
    seconds: float = 0.0  # from the first prediction to the last process's last stored chunk
    processes: int = 1

    @property
    def per_second(self) -> float:
        return self.predicted / self.seconds if self.seconds > 0 else 0.0


def predict_samples(
    run: ModelRun,
    samples: list[Sample],
    device: str = "cpu",
    batch_size: int = 4,
    workers: int = 0,
    amp: bool = False,
    tta: bool = False,
    replace: bool = False,
    chunk_size: int = CHUNK_SAMPLES,
    progress: bool = False,
    announce: Callable[[PredictionPlan], None] | None = None,
) -> PredictionSummary:
    """Predict the samples of ``samples`` (of data sets with the run's label set) that the run has not
    predicted yet (every one with ``replace``), and store the predictions ``chunk_size`` at a time.

    Under torchrun every process calls this with the same ``samples``; each predicts its share, and
    each gets the summary of all. ``announce`` is called in the first process once it is known what is
    left to predict; ``progress`` shows the first process's progress on standard error (tqdm's bar on
    a terminal, a plain line every 10% or 50 samples elsewhere).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    for dataset in Dataset.objects.filter(pk__in={s.dataset_id for s in samples} - {run.dataset_id}):
        check_same_label_set(run, dataset, "the samples to predict")
    processes = current_processes()
    placed = process_device(device, processes)
    # gloo whatever the device: the processes exchange Python objects only. Where they are connected
    # already (the command's process_group, a training script) this changes nothing.
    with process_group(processes, "cpu"):
        model, tile = load_run_model(run)
        model.to(placed)
        todo = decided_by_writer(processes, lambda: samples_to_predict(run, samples, replace))
        plan = PredictionPlan(len(samples), len(todo), len(samples) - len(todo), processes.world_size)
        if announce is not None and processes.is_writer:
            announce(plan)
        by_pk = {sample.pk: sample for sample in samples}
        share = [by_pk[pk] for pk in todo[processes.rank :: processes.world_size]]
        started = time.perf_counter()
        stored = _predict_share(
            run, share, model, tile, placed, batch_size, workers, amp, tta, chunk_size,
            PredictionProgress(len(share), processes, enabled=progress and processes.is_writer),
        )
        shares = [stored]
        if processes.world_size > 1:
            shares = [None] * processes.world_size
            dist.all_gather_object(shares, stored)
        seconds = time.perf_counter() - started
    return PredictionSummary(
        predicted=sum(predicted for predicted, _ in shares), replaced=sum(replaced for _, replaced in shares),
        skipped=plan.skipped, seconds=seconds, processes=processes.world_size,
    )


def samples_to_predict(run: ModelRun, samples: list[Sample], replace: bool) -> list[int]:
    """The primary keys of ``samples`` to predict, in their order: those without a prediction of ``run``
    (all of them with ``replace``)."""
    if replace:
        return [sample.pk for sample in samples]
    predicted = set(Prediction.objects.filter(run=run).values_list("sample_id", flat=True))
    return [sample.pk for sample in samples if sample.pk not in predicted]


def _predict_share(
    run: ModelRun,
    share: list[Sample],
    model: torch.nn.Module,
    tile: int,
    device: torch.device,
    batch_size: int,
    workers: int,
    amp: bool,
    tta: bool,
    chunk_size: int,
    progress: PredictionProgress,
) -> tuple[int, int]:
    """Predict ``share`` one image at a time, storing every ``chunk_size`` predictions; ``(stored, replaced)``."""
    images = whole_image_loader(
        WholeImageDataset(
            sample_store(),
            SplitSamples([s.pk for s in share], [s.store_key for s in share], np.zeros(len(share))),
        ),
        list(range(len(share))),
        workers,
        pin_memory=device.type == "cuda",
    )
    stored = replaced = 0
    pending: list[tuple[Sample, np.ndarray]] = []
    try:
        for index, image in images:
            pending.append((share[index], predict_whole_image(model, image, tile, batch_size, device, amp, tta)))
            progress.update()
            if len(pending) >= chunk_size:
                chunk, pending = pending, []
                replaced += store_predictions(run, chunk)
                stored += len(chunk)
    finally:
        # Interrupted (an exception, Ctrl-C): keep what is predicted; predicting again does the rest.
        if pending:
            chunk, pending = pending, []
            replaced += store_predictions(run, chunk)
            stored += len(chunk)
        progress.close()
    return stored, replaced


def store_predictions(run: ModelRun, predicted: list[tuple[Sample, np.ndarray]]) -> int:
    """Store ``(sample, probabilities)`` pairs as ``run``'s predictions in one transaction, replacing the
    run's earlier predictions of those samples; how many it replaced.

    The transaction starts with its write (a delete of the run's earlier predictions of these samples,
    none unless replacing), so that an SQLite writer waits its turn rather than failing."""
    probabilities = np.array([row for _, row in predicted])
    chosen = predicted_classes(probabilities, run.single_class, run.thresholds)
    rows = [
        Prediction(
            run_id=run.pk, sample_id=sample.pk, probabilities=[float(p) for p in row],
            classes=np.flatnonzero(picked).tolist(),
        )
        for (sample, _), row, picked in zip(predicted, probabilities, chosen)
    ]
    with transaction.atomic():
        replaced, _ = Prediction.objects.filter(run=run, sample__in=[sample.pk for sample, _ in predicted]).delete()
        Prediction.objects.bulk_create(rows)
    return replaced


class PredictionProgress:
    """Progress through one process's share: tqdm's bar where standard error is a terminal, elsewhere
    (CI, a pipe, a log file) a plain line every 10% or 50 samples, whichever comes first, and at the end:

        predicting: 128/1000 samples (13%), 2.31 samples/s, 00:55 elapsed, about 06:17 left
    """

    def __init__(self, total: int, processes: Processes, enabled: bool, stream: TextIO | None = None):
        self.total = total
        self.label = "predicting" if processes.world_size == 1 else (
            f"predicting (process 1 of {processes.world_size}, its share)"
        )
        self.stream = sys.stderr if stream is None else stream
        self.bar = tqdm(
            total=total, desc=self.label, unit="sample", disable=None if enabled else True, file=self.stream
        )
        self.plain = enabled and self.bar.disable and total > 0
        self.every = plain_interval(total)
        self.done = 0
        self.started = time.perf_counter()

    def update(self) -> None:
        self.done += 1
        self.bar.update(1)
        if self.plain and (self.done % self.every == 0 or self.done == self.total):
            elapsed = time.perf_counter() - self.started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = elapsed / self.done * (self.total - self.done)
            remaining = f", about {tqdm.format_interval(left)} left" if self.done < self.total else ""
            self.stream.write(
                f"{self.label}: {self.done}/{self.total} samples ({self.done / self.total:.0%}), {rate:.2f} samples/s, "
                f"{tqdm.format_interval(elapsed)} elapsed{remaining}\n"
            )
            self.stream.flush()

    def close(self) -> None:
        self.bar.close()


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
