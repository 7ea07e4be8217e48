"""A run's predictions of whole samples, stored as ``Prediction`` rows (the machine reader's answers).

Each sample is z-scored over its whole image and predicted as the mean of its tiles' probabilities
(``models_zoo.tiling``, the paper's section 3.1); with ``tta`` (beyond the paper) each tile's
probabilities are first averaged over its 8 flips and quarter turns. The predicted classes: the argmax for a
single-class run; otherwise every class at or over its threshold (0.5, or the run's tuned
thresholds), or the argmax where none is, so that every sample has at least one class.
Predicting again replaces the run's predictions of those samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from django.conf import settings
from django.db import transaction

from models_zoo.models import ModelRun, Prediction
from models_zoo.runs import RunError, load_run_model
from models_zoo.tiling import predict_whole_image
from models_zoo.training.data import SplitSamples, WholeImageDataset, whole_image_loader
from models_zoo.training.metrics import predicted_classes
from study.models import Sample


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
    """Predict every sample of ``samples`` (of the run's data set) and store the predictions."""
    foreign = [sample for sample in samples if sample.dataset_id != run.dataset_id]
    if foreign:
        raise RunError(
            f"sample {foreign[0]} is not in data set {run.dataset.name!r}, which run {run.name!r} belongs to"
        )
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
