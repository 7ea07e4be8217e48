"""Model runs and what they produce: per-epoch metrics and per-sample predictions.

A prediction is one of the three kinds of truth (see ``study.models``): the analysis treats a model
run as a reader, but its predictions never share a table with people's answers.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from study.labels import LabelSet
from study.models import Dataset, Sample, name_validator
from study.store import CHANNELS


class ModelRunQuerySet(models.QuerySet):
    def for_dataset(self, dataset: Dataset | int) -> models.QuerySet:
        """The runs made for ``dataset`` and the runs that predicted any of its samples (a run predicts
        the samples of every data set with its label set). A subquery, not a join: annotations over the
        runs' predictions count each prediction once."""
        predicted = Prediction.objects.filter(sample__dataset=dataset).values("run")
        return self.filter(models.Q(dataset=dataset) | models.Q(pk__in=predicted))


class ModelRun(models.Model):
    class Kind(models.TextChoices):
        TRAINED = "trained", "trained here"
        FINETUNED = "finetuned", "fine-tuned here"
        RELEASED = "released", "released weights"
        IMPORTED = "imported", "predictions made elsewhere"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        FINISHED = "finished", "finished"
        FAILED = "failed", "failed"

    name = models.CharField(max_length=100, unique=True, validators=[name_validator])
    kind = models.CharField(max_length=10, choices=Kind.choices)
    architecture = models.CharField(max_length=50, blank=True, help_text="A name of models_zoo's registry.")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="model_runs")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
        help_text="The run a fine-tune started from.",
    )
    single_class = models.BooleanField(default=False, help_text="Softmax over the classes (one class per sample).")
    config = models.JSONField(default=dict, blank=True, help_text="The run's full configuration.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    best_epoch = models.PositiveIntegerField(null=True, blank=True)
    best_val_macro_f1 = models.FloatField(null=True, blank=True)
    thresholds = models.JSONField(
        null=True, blank=True,
        help_text="Per-class decision thresholds tuned on the validation split; empty means 0.5 for every class.",
    )
    channel_order = models.JSONField(
        null=True, blank=True,
        help_text="The store channel each input of the run's network gets, in input order (set by "
        "calibrate_channels --apply); empty means store order: red, green, blue, yellow.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ModelRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def label_set(self) -> LabelSet:
        return self.dataset.label_set

    @property
    def directory(self) -> Path:
        """Checkpoints and the metrics file of the run."""
        return Path(settings.DATA_DIR) / "runs" / self.name

    def clean(self) -> None:
        if self.kind != self.Kind.IMPORTED and not self.architecture:
            raise ValidationError({"architecture": "A run that holds weights needs its architecture."})
        if self.thresholds is not None:
            size = len(self.label_set)
            if not isinstance(self.thresholds, list) or len(self.thresholds) != size or any(
                not isinstance(t, (int, float)) or not 0 < t < 1 for t in self.thresholds
            ):
                raise ValidationError({"thresholds": f"expected {size} numbers strictly between 0 and 1"})
        if self.channel_order is not None and (
            not isinstance(self.channel_order, list) or sorted(map(str, self.channel_order)) != sorted(CHANNELS)
        ):
            raise ValidationError({"channel_order": f"expected each of {', '.join(CHANNELS)} exactly once"})


class EpochMetric(models.Model):
    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="epochs")
    epoch = models.PositiveIntegerField()
    train_loss = models.FloatField()
    val_macro_f1 = models.FloatField(null=True, blank=True)
    val_per_class_f1 = models.JSONField(default=list, blank=True)
    val_macro_auc = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField()
    samples_per_second = models.FloatField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "epoch"]
        constraints = [models.UniqueConstraint(fields=["run", "epoch"], name="epoch_metric_unique")]


class Prediction(models.Model):
    """A model run's output for one sample: per-class probabilities and the predicted class(es)."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="predictions")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="predictions")
    probabilities = models.JSONField(
        null=True, blank=True, help_text="One probability per class; empty when only classes were imported."
    )
    classes = models.JSONField(help_text="The predicted class indices (one for a single-class run).")
    predicted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "sample"]
        constraints = [models.UniqueConstraint(fields=["run", "sample"], name="prediction_one_per_run_and_sample")]

    def clean(self) -> None:
        size = len(self.run.label_set)
        if self.sample.dataset.label_set_key != self.run.dataset.label_set_key:
            raise ValidationError({"sample": "The sample's data set uses another label set than the run's."})
        if self.probabilities is not None and len(self.probabilities) != size:
            raise ValidationError({"probabilities": f"expected {size} probabilities, got {len(self.probabilities)}"})
        if not isinstance(self.classes, list) or any(not isinstance(c, int) or not 0 <= c < size for c in self.classes):
            raise ValidationError({"classes": f"expected a list of class indices in 0-{size - 1}"})

    @property
    def top_class(self) -> int:
        """The single predicted class: the most probable one, or the first imported class (an assisted
        study's suggestion, ``config.suggestions``)."""
        if self.probabilities:
            return max(range(len(self.probabilities)), key=self.probabilities.__getitem__)
        return self.classes[0]
