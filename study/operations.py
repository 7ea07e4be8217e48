"""Operations on data sets that commands, pages and the demo share: splits and study creation."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
from django.db import transaction

from site_machinery import csv_safety
from study.models import Dataset, Sample, Study, StudySample
from study.splits import SPLIT_NAMES, select_study_samples, stratified_split


class OperationError(Exception):
    pass


def _samples_with_classes(dataset: Dataset) -> list[tuple[Sample, list[int]]]:
    samples = list(dataset.samples.order_by("source_id").prefetch_related("reference_labels"))
    return [(sample, sorted(label.class_index for label in sample.reference_labels.all())) for sample in samples]


def _refuse_if_used(dataset: Dataset) -> None:
    used_by = list(dataset.studies.values_list("name", flat=True))
    if used_by:
        raise OperationError(
            f"data set {dataset.name!r} has studies ({', '.join(used_by)}); its split cannot change under them"
        )


def make_splits(dataset: Dataset, seed: int, ratios: tuple[float, float, float]) -> Counter:
    rows = _samples_with_classes(dataset)
    if not rows:
        raise OperationError(f"data set {dataset.name!r} has no samples")
    _refuse_if_used(dataset)
    matrix = np.zeros((len(rows), len(dataset.label_set)), dtype=bool)
    for i, (_, classes) in enumerate(rows):
        matrix[i, classes] = True
    try:
        assignment = stratified_split(matrix, ratios, seed)
    except ValueError as error:
        raise OperationError(f"--ratios: {error}") from None
    with transaction.atomic():
        for split_index, name in enumerate(SPLIT_NAMES):
            ids = [rows[i][0].pk for i in np.flatnonzero(assignment == split_index)]
            Sample.objects.filter(pk__in=ids).update(split=name)
        dataset.split_seed = seed
        dataset.split_ratios = list(ratios)
        dataset.save(update_fields=["split_seed", "split_ratios"])
    return Counter(SPLIT_NAMES[i] for i in assignment)


def export_splits(dataset: Dataset, path: Path) -> int:
    rows = dataset.samples.order_by("source_id").values_list("source_id", "split")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv_safety.writer(handle)
        writer.writerow(["id", "split"])
        writer.writerows(rows)
    return len(rows)


def apply_split_file(dataset: Dataset, path: Path) -> Counter:
    """Apply a published ``id,split`` file; all or nothing.

    Ids in the file that the data set lacks are tolerated (a sample may have been skipped as
    corrupt here); a sample of the data set that the file does not name is an error.
    """
    _refuse_if_used(dataset)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise OperationError(f"{path}: cannot read it as UTF-8 CSV ({error})") from None
    if not rows or [cell.strip().lower() for cell in rows[0][:2]] != ["id", "split"]:
        raise OperationError(f"{path}, line 1: expected the header 'id,split'")
    wanted: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2:
            raise OperationError(f"{path}, line {line}: expected two columns, id and split")
        sample_id, split = csv_safety.unsafe_cell(row[0].strip()), row[1].strip().lower()
        if split not in SPLIT_NAMES:
            raise OperationError(f"{path}, line {line}: split {row[1]!r} is not one of {', '.join(SPLIT_NAMES)}")
        if sample_id in wanted:
            raise OperationError(f"{path}, line {line}: sample {sample_id!r} appears twice")
        wanted[sample_id] = split
    samples = dict(dataset.samples.values_list("source_id", "pk"))
    unnamed = sorted(set(samples) - set(wanted))
    if unnamed:
        raise OperationError(
            f"{path}: {len(unnamed)} samples of {dataset.name!r} are not in the file (e.g. {unnamed[0]!r})"
        )
    with transaction.atomic():
        for split in SPLIT_NAMES:
            ids = [samples[s] for s, name in wanted.items() if name == split and s in samples]
            Sample.objects.filter(pk__in=ids).update(split=split)
        dataset.split_seed = None
        dataset.split_ratios = None
        dataset.save(update_fields=["split_seed", "split_ratios"])
    return Counter(name for s, name in wanted.items() if s in samples)


def create_study(
    name: str, dataset: Dataset, size: int, seed: int, balanced: bool, exclude_flagged: bool = False
) -> Study:
    """A study of ``size`` single-location test samples, chosen seeded; with ``exclude_flagged`` the
    samples that failed a quality check at import are left out of the choice."""
    if Study.objects.filter(name=name).exists():
        raise OperationError(f"a study named {name!r} exists already")
    if size < 1:
        raise OperationError("--size must be at least 1")
    labelled = _samples_with_classes(dataset)
    candidates = [
        (sample, classes[0])
        for sample, classes in labelled
        if sample.split == Sample.Split.TEST and len(classes) == 1 and not (exclude_flagged and sample.quality_flags)
    ]
    if not dataset.samples.exclude(split="").exists():
        raise OperationError(
            f"data set {dataset.name!r} has no split yet: run make_splits first (a data set too small to split "
            "can still be predicted whole: predict RUN --dataset NAME)"
        )
    try:
        selection = select_study_samples(
            [cls for _, cls in candidates], size, seed, balanced, len(dataset.label_set)
        )
    except ValueError as error:
        raise OperationError(
            f"data set {dataset.name!r}: {error}. {_why_few_candidates(labelled, exclude_flagged)}"
        ) from None
    with transaction.atomic():
        study = Study.objects.create(name=name, dataset=dataset, seed=seed, balanced=balanced)
        items = [
            StudySample(study=study, sample=candidates[index][0], position=position)
            for position, index in enumerate(selection.positions)
        ]
        for item in items:
            item.full_clean(exclude=["study"])
        StudySample.objects.bulk_create(items)
    return study


def _why_few_candidates(labelled: list[tuple[Sample, list[int]]], exclude_flagged: bool) -> str:
    """Where a data set's samples went: several locations, other splits, quality flags."""
    several = sum(len(classes) > 1 for _, classes in labelled)
    single = [sample for sample, classes in labelled if len(classes) == 1]
    by_split = Counter(sample.split or "unassigned" for sample in single)
    splits = ", ".join(f"{by_split[split]} {split}" for split in ("test", "train", "val", "unassigned"))
    reasons = (
        f"Of its {len(labelled)} samples, {several} have several locations (a study asks for one) and "
        f"{len(single)} have one: by split {splits}"
    )
    flagged = sum(bool(sample.quality_flags) for sample in single if sample.split == Sample.Split.TEST)
    if exclude_flagged and flagged:
        reasons += f"; {flagged} of the single-location test samples carry quality flags (--exclude-flagged)"
    return reasons + "."


def export_study(study: Study, path: Path) -> int:
    items = study.items.select_related("sample").order_by("position")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv_safety.writer(handle)
        writer.writerow(["position", "id"])
        for item in items:
            writer.writerow([item.position, item.sample.source_id])
    return len(items)
