"""The demo's options checked before any long step: each option on its own, then what the data set
they make will hold, so that options that cannot work are refused in seconds with a message saying
what would.

The synthetic generator draws each sample's locations first from a generator seeded by the data set's
seed and the sample's index (``synthetic.dataset.sample_locations``), and a split is a function of
the label matrix in sample-id order, the ratios and the seed (``study.splits.stratified_split``). So
the counts of each split, and of its single-location samples, are known exactly without rendering an
image. Where the demo's data exists already (a second run), its labels file or its database is read
instead: the demo goes on with what is there.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.db.models import Count

from config import demo
from config.management.commands.generate_synthetic import MIN_SIZE
from models_zoo.models import ModelRun
from study.labelfiles import LabelFileError, read_label_file
from study.labels import CYTO13
from study.models import Dataset, Sample, Study
from study.splits import SPLIT_NAMES, stratified_split
from synthetic.dataset import LABELS_FILE, sample_locations

# Written per generated sample and pixel: four 16-bit channels, once as uncompressed TIFF files and
# once in the training store.
BYTES_PER_PIXEL = 4 * 2 * 2
# Beyond the images: the database, the runs' checkpoints, the panels and the report.
DISK_MARGIN_BYTES = 512 * 2**20
# The most samples a suggestion may name.
LARGEST_SUGGESTION = 200_000


class DemoOptionError(Exception):
    """Options the demo cannot run with; the message names them and says what would work."""


@dataclass(frozen=True)
class SplitCounts:
    """How many samples each split holds, and how many of those have a single location."""

    samples: dict[str, int]
    single_location: dict[str, int]


@dataclass(frozen=True)
class DemoNeeds:
    """What the demo's remaining steps need of the data set's split."""

    batch_size: int  # training and the fine-tune take a full batch a step
    training: bool
    finetune: bool
    study_size: int | None  # None when the study exists already

    def unmet(self, counts: SplitCounts) -> list[str]:
        """What ``counts`` lack, in words; empty when they are enough."""
        wanted = []
        if self.training:
            wanted += [("samples", "train", "training", self.batch_size, "a training batch"),
                       ("samples", "val", "validation", 1, "validation")]
        if self.finetune:
            wanted += [
                ("single_location", "train", "single-location training", self.batch_size, "a fine-tune batch"),
                ("single_location", "val", "single-location validation", 1, "the fine-tune's validation"),
            ]
        if self.study_size is not None:
            wanted.append(("single_location", "test", "single-location test", self.study_size, "the study"))
        return [
            f"{getattr(counts, kind)[split]} {what} samples, where {purpose} needs {least}"
            for kind, split, what, least, purpose in wanted
            if getattr(counts, kind)[split] < least
        ]


def check(options: demo.DemoOptions) -> None:
    """Raise ``DemoOptionError`` for options with which a step of the demo would fail."""
    check_each_option(options)
    check_disk(options)
    needs = remaining_needs(options)
    if needs.training or needs.finetune or needs.study_size is not None:
        check_data_set(options, needs)


def check_each_option(options: demo.DemoOptions) -> None:
    for option, value, least in (
        ("--samples", options.samples, 1), ("--study-size", options.study_size, 1), ("--epochs", options.epochs, 1),
        ("--finetune-epochs", options.last_layer_epochs, 1), ("--seed", options.seed, 0),
        ("--workers", options.workers, 1),
    ):
        if value < least:
            raise DemoOptionError(f"{option} {value}: give {least} or more")
    if options.size < MIN_SIZE:
        raise DemoOptionError(
            f"--size {options.size}: the synthetic fields are {MIN_SIZE} px or more; give --size {MIN_SIZE} or more"
        )


def remaining_needs(options: demo.DemoOptions) -> DemoNeeds:
    finished = set(ModelRun.objects.filter(status=ModelRun.Status.FINISHED).values_list("name", flat=True))
    return DemoNeeds(
        batch_size=demo.BATCH_SIZE,
        training=demo.RUN not in finished,
        finetune=demo.SINGLE_CLASS_RUN not in finished,
        study_size=None if Study.objects.filter(name=demo.STUDY).exists() else options.study_size,
    )


def check_data_set(options: demo.DemoOptions, needs: DemoNeeds) -> None:
    """Refuse options whose data set would not be enough for the training, the fine-tune or the study."""
    counts, origin = data_set_counts(options)
    lacking = needs.unmet(counts)
    if not lacking:
        return
    remedies = []
    available = counts.single_location["test"]
    if needs.study_size is not None and available and not replace(needs, study_size=available).unmet(counts):
        remedies.append(f"--study-size {available} (or less)")
    if origin is None:
        enough = fewest_samples(options, needs)
        if enough is not None:
            remedies.append(f"--samples {enough} (or more)")
        origin = f"--samples {options.samples} with --seed {options.seed} give"
    else:
        remedies.append("a new data folder (DATA_DIR), where the demo makes its data set again from --samples")
    use = f" Use {', or '.join(remedies)}." if remedies else ""
    raise DemoOptionError(f"{origin} {'; '.join(lacking)}.{use}")


def data_set_counts(options: demo.DemoOptions) -> tuple[SplitCounts, str | None]:
    """The split the demo will work with, and which data made before it is (None: data it will generate)."""
    dataset = Dataset.objects.filter(name=demo.DATASET).first()
    if dataset is not None and dataset.samples.exclude(split="").exists():
        return database_counts(dataset), f"The demo's data set {demo.DATASET!r} (split already) has"
    source = demo.source_folder()
    if (source / LABELS_FILE).exists():
        return labels_file_counts(source, options.seed), f"The demo's data set in {source} (generated before) has"
    return generated_counts(options.samples, options.seed), None


def generated_counts(samples: int, seed: int) -> SplitCounts:
    """The split of ``samples`` synthetic samples of ``seed``, as ``make_splits`` will make it."""
    return split_counts([_locations(seed, index) for index in range(samples)], seed)


@lru_cache(maxsize=LARGEST_SUGGESTION)
def _locations(seed: int, index: int) -> tuple[int, ...]:
    return tuple(sample_locations(seed, index, CYTO13))


def labels_file_counts(source: Path, seed: int) -> SplitCounts:
    """The split of the data set generated into ``source`` before, once it is imported."""
    try:
        labels = read_label_file(source / LABELS_FILE, CYTO13).labels
    except LabelFileError as error:
        raise DemoOptionError(f"{error}; remove {source} to have the demo generate its data set again") from None
    return split_counts([labels[key] for key in sorted(labels)], seed)


def database_counts(dataset: Dataset) -> SplitCounts:
    per_sample = Sample.objects.filter(dataset=dataset).annotate(locations=Count("reference_labels"))
    return SplitCounts(
        {split: per_sample.filter(split=split).count() for split in SPLIT_NAMES},
        {split: per_sample.filter(split=split, locations=1).count() for split in SPLIT_NAMES},
    )


def split_counts(labels: list[tuple[int, ...]], seed: int) -> SplitCounts:
    """``labels`` (each sample's classes, in sample-id order as make_splits reads them) split as the demo splits."""
    matrix = np.zeros((len(labels), len(CYTO13)), dtype=bool)
    for row, classes in enumerate(labels):
        matrix[row, list(classes)] = True
    assignment = stratified_split(matrix, tuple(demo.SPLIT_RATIOS), seed)
    single = matrix.sum(axis=1) == 1
    return SplitCounts(
        {name: int(np.sum(assignment == index)) for index, name in enumerate(SPLIT_NAMES)},
        {name: int(np.sum(single & (assignment == index))) for index, name in enumerate(SPLIT_NAMES)},
    )


def fewest_samples(options: demo.DemoOptions, needs: DemoNeeds) -> int | None:
    """About the fewest samples (a multiple of ten) whose split meets ``needs``; None where even
    LARGEST_SUGGESTION do not. The counts grow with the samples, if not strictly, so the answer is
    one that was tried and found enough."""
    def enough(samples: int) -> bool:
        return not needs.unmet(generated_counts(samples, options.seed))

    too_few, tried = options.samples, _tens(options.samples * 1.25)
    while not enough(tried):
        too_few, tried = tried, _tens(tried * 1.25)
        if tried > LARGEST_SUGGESTION:
            return None
    while tried - too_few > 10:
        middle = _tens((too_few + tried) / 2)
        if middle >= tried:
            break
        if enough(middle):
            tried = middle
        else:
            too_few = middle
    return tried


def _tens(value: float) -> int:
    return math.ceil(value / 10) * 10


def check_disk(options: demo.DemoOptions) -> None:
    """Refuse a data set that would not fit on the disk, before a single image is written."""
    source = demo.source_folder()
    if (source / LABELS_FILE).exists():
        return
    per_sample = options.size * options.size * BYTES_PER_PIXEL
    needed = options.samples * per_sample + DISK_MARGIN_BYTES
    folder = next(folder for folder in (source, *source.parents) if folder.exists())
    free = shutil.disk_usage(folder).free
    if needed > free:
        fitting = max(0, (free - DISK_MARGIN_BYTES) // per_sample)
        raise DemoOptionError(
            f"--samples {options.samples} --size {options.size}: the images need about {needed / 2**30:.1f} GiB and "
            f"{folder} has {free / 2**30:.1f} GiB free. Use --samples {fitting} (or fewer), or a smaller --size."
        )
