"""Model runs: creating and looking them up, and loading the model a run holds.

Every run that holds weights keeps them in ``<run directory>/best.pt`` with what is needed to use
them: the architecture, the number of classes, the tile size whole images are evaluated with, and
whether the run is single-class (softmax over the classes, from the fine-tune) or multi-label
(a sigmoid per class). Trained, fine-tuned and released runs are all loaded the same way, into a
model that takes store-ordered images: a run's calibrated channel order (``ModelRun.channel_order``,
see ``models_zoo.channel_calibration``) is built into the loaded weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from torch import nn


from models_zoo.channel_calibration import is_store_order, permute_input_channels
from models_zoo.models import ModelRun, Prediction
from models_zoo.registry import LocalizationModel, create_model
from models_zoo.training.checkpoint import BEST, CheckpointError, load_checkpoint, save_checkpoint
from study.models import Dataset, name_validator


class RunError(ValueError):
    """A run that does not exist, cannot be created, or holds no usable weights."""


class SoftmaxOutputs(nn.Module):
    """A single-class model: its probabilities are the softmax over the classes, not per-class sigmoids."""

    def __init__(self, model: LocalizationModel):
        super().__init__()
        self.model = model
        self.num_classes = model.num_classes
        self.in_channels = model.in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


def get_run(name: str) -> ModelRun:
    try:
        return ModelRun.objects.select_related("dataset", "parent").get(name=name)
    except ModelRun.DoesNotExist:
        known = ", ".join(ModelRun.objects.order_by("name").values_list("name", flat=True)) or "none yet"
        raise RunError(f"no model run named {name!r} (known: {known})") from None


def create_run(
    name: str,
    kind: str,
    architecture: str,
    dataset: Dataset,
    config: dict[str, Any],
    parent: ModelRun | None = None,
    single_class: bool = False,
) -> ModelRun:
    """A new run in status running; its directory is created (and must not hold an older run's files)."""
    try:
        name_validator(name)
    except ValidationError:
        raise RunError(f"run name {name!r}: use letters, digits, '.', '_' and '-' only") from None
    run = ModelRun(
        name=name, kind=kind, architecture=architecture, dataset=dataset, config=config,
        parent=parent, single_class=single_class,
    )
    if run.directory.exists() and any(run.directory.iterdir()):
        raise RunError(f"run name {name!r}: {run.directory} already holds files of another run")
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        raise RunError(f"run name {name!r} is taken; choose another") from None
    run.directory.mkdir(parents=True, exist_ok=True)
    return run


def create_imported_run(
    name: str, dataset: Dataset, single_class: bool, config: dict[str, Any], predictions: list[Prediction]
) -> ModelRun:
    """A finished run of kind ``imported`` holding predictions made elsewhere (unsaved ``Prediction``
    objects without their run), all of them or, on any error, nothing."""
    try:
        name_validator(name)
    except ValidationError:
        raise RunError(f"run name {name!r}: use letters, digits, '.', '_' and '-' only") from None
    try:
        with transaction.atomic():
            run = ModelRun.objects.create(
                name=name, kind=ModelRun.Kind.IMPORTED, dataset=dataset, single_class=single_class, config=config,
                status=ModelRun.Status.FINISHED, finished_at=timezone.now(),
            )
            for prediction in predictions:
                prediction.run = run
            Prediction.objects.bulk_create(predictions)
    except IntegrityError:
        raise RunError(f"run name {name!r} is taken; choose another") from None
    return run


def model_checkpoint(
    model: LocalizationModel, architecture: str, tile: int, single_class: bool, **extra: Any
) -> dict[str, Any]:
    """The contents of a ``best.pt``: weights plus what loading and evaluating them needs."""
    return {
        "architecture": architecture,
        "num_classes": model.num_classes,
        "tile": tile,
        "single_class": single_class,
        "model": model.state_dict(),
        **extra,
    }


def save_run_model(run: ModelRun, checkpoint: dict[str, Any]) -> Path:
    path = run.directory / BEST
    save_checkpoint(path, checkpoint)
    return path


def run_checkpoint(run: ModelRun) -> dict[str, Any]:
    """The run's ``best.pt`` with its stored channel order (``ModelRun.channel_order``) built into the
    weights, so that they take store-ordered input (what a fine-tune of the run starts from)."""
    checkpoint = _best_checkpoint(run)
    if not is_store_order(run.channel_order):
        model = _model_of(checkpoint)
        permute_input_channels(model, run.channel_order)
        checkpoint = {**checkpoint, "model": model.state_dict()}
    return checkpoint


def load_run_model(run: ModelRun, apply_channel_order: bool = True) -> tuple[nn.Module, int]:
    """The run's best model in evaluation mode on the CPU, and the tile size to evaluate it with.

    The model takes store-ordered images: the run's channel order (``ModelRun.channel_order``, set
    by ``calibrate_channels --apply``) is built into the layers that read the image, unless
    ``apply_channel_order`` is false (the network as ``best.pt`` holds it; what calibration permutes).
    A single-class run's model comes wrapped in :class:`SoftmaxOutputs`.
    """
    checkpoint = _best_checkpoint(run)
    model = _model_of(checkpoint)
    if apply_channel_order and not is_store_order(run.channel_order):
        permute_input_channels(model, run.channel_order)
    model.eval()
    wrapped = SoftmaxOutputs(model).eval() if checkpoint["single_class"] else model
    return wrapped, int(checkpoint["tile"])


def _best_checkpoint(run: ModelRun) -> dict[str, Any]:
    if run.kind == ModelRun.Kind.IMPORTED:
        raise RunError(f"run {run.name!r} holds predictions made elsewhere, no weights")
    try:
        return load_checkpoint(run.directory / BEST)
    except CheckpointError as error:
        raise RunError(f"run {run.name!r} has no usable weights: {error}") from None


def _model_of(checkpoint: dict[str, Any]) -> LocalizationModel:
    model = create_model(checkpoint["architecture"], num_classes=checkpoint["num_classes"])
    model.load_state_dict(checkpoint["model"])
    return model
