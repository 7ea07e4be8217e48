"""The paper's single-location fine-tune (section 3.2): GapNet-PL, trained multi-label, gets its last
layer fine-tuned on the training samples that have exactly one location, with softmax
cross-entropy over the classes; every other layer is frozen. The result is a new run
(kind "finetuned", ``parent`` the run it started from, ``single_class``) whose model picks one
class per sample, as the study's readers do.
"""

from __future__ import annotations

import dataclasses

from models_zoo.models import ModelRun
from models_zoo.runs import RunError, create_run, run_checkpoint
from models_zoo.training.checkpoint import BEST, load_checkpoint, save_checkpoint
from models_zoo.training.config import TrainConfig
from models_zoo.training.loop import TrainOutcome, train
from study.models import Sample

INIT_CHECKPOINT = "init.pt"
DEFAULT_EPOCHS = 10


def finetune_config(parent: ModelRun, **overrides) -> TrainConfig:
    """The parent's recipe (crops, tiles, batch, rate, and weight averaging and test-time augmentation
    if it used them), switched to a last-layer single-class fine-tune.

    A released run has no recipe of its own: it gets the paper's for its architecture.
    """
    if parent.kind == ModelRun.Kind.IMPORTED:
        raise RunError(f"run {parent.name!r} holds predictions made elsewhere, no weights to fine-tune")
    parent_checkpoint = load_checkpoint(parent.directory / BEST)
    if parent.kind == ModelRun.Kind.RELEASED:
        base = TrainConfig.for_architecture(parent.architecture, crop=parent_checkpoint["tile"])
    else:
        base = TrainConfig.from_dict(parent.config)
    forced = dataclasses.replace(
        base,
        dataset=parent.dataset.name,
        epochs=DEFAULT_EPOCHS,
        eval_tile=parent_checkpoint["tile"],
        single_class=True,
        last_layer_only=True,
        tune_thresholds=False,
        max_train_samples=None,
        init_checkpoint="",
    )
    return forced.replace(**overrides)


def single_location_count(parent: ModelRun, split: str) -> int:
    samples = Sample.objects.filter(dataset=parent.dataset, split=split)
    return sum(1 for sample in samples.prefetch_related("reference_labels") if sample.reference_labels.count() == 1)


def finetune(parent: ModelRun, name: str, **overrides) -> tuple[ModelRun, TrainOutcome]:
    """Fine-tune ``parent``'s last layer into a new single-class run called ``name``.

    ``overrides`` are :class:`TrainConfig` settings (``epochs``, ``device``, ``learning_rate``, ...).
    """
    config = finetune_config(parent, **overrides)
    for split, meaning in (("train", "training"), ("val", "validation")):
        if single_location_count(parent, split) == 0:
            raise RunError(f"data set {parent.dataset.name!r} has no single-location {meaning} samples")
    run = create_run(
        name, ModelRun.Kind.FINETUNED, parent.architecture, parent.dataset, {}, parent=parent, single_class=True
    )
    # The starting weights are copied into the new run, so that it stands on its own; a calibrated
    # channel order of the parent is built into them (the new run takes store-ordered images).
    init_path = run.directory / INIT_CHECKPOINT
    save_checkpoint(init_path, run_checkpoint(parent))
    config = config.replace(init_checkpoint=str(init_path))
    run.config = config.to_dict()
    run.save(update_fields=["config"])
    try:
        return run, train(config, run)
    except Exception:
        ModelRun.objects.filter(pk=run.pk).update(status=ModelRun.Status.FAILED)
        raise
