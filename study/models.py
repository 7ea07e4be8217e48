"""The study's domain: data sets, samples and their reference labels, splits, and studies.

Three kinds of truth are kept in three tables: a sample's reference labels (here), a person's
answer (``annotator``) and a model's prediction (``models_zoo``). They never share a table.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from study.labels import LABEL_SETS, LabelSet, get_label_set

name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    "Use letters, digits, '.', '_' and '-' only, starting with a letter or digit.",
)


class Dataset(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[name_validator])
    label_set_key = models.CharField(
        "label set", max_length=20, choices=[(key, s.title) for key, s in LABEL_SETS.items()]
    )
    source = models.CharField(max_length=500, blank=True, help_text="The folder it was imported from.")
    split_seed = models.BigIntegerField(null=True, blank=True)
    split_ratios = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def label_set(self) -> LabelSet:
        return get_label_set(self.label_set_key)


class Sample(models.Model):
    class Split(models.TextChoices):
        UNASSIGNED = "", "unassigned"
        TRAIN = "train", "training"
        VALIDATION = "val", "validation"
        TEST = "test", "test"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="samples")
    source_id = models.CharField(max_length=200, help_text="The sample's id in the imported files.")
    height = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    bit_depth = models.PositiveSmallIntegerField(choices=[(8, "8-bit"), (16, "16-bit")])
    store_key = models.CharField(max_length=200, unique=True)
    split = models.CharField(max_length=5, choices=Split.choices, blank=True, default="", db_index=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    quality_flags = models.JSONField(
        default=list, blank=True,
        help_text="Quality checks the sample failed at import (study.quality): channel, check, value, threshold.",
    )

    class Meta:
        ordering = ["dataset", "source_id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "source_id"], name="sample_unique_source_id"),
            models.CheckConstraint(
                condition=models.Q(split__in=["", "train", "val", "test"]), name="sample_split_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name}/{self.source_id}"

    @property
    def class_indices(self) -> list[int]:
        return sorted(label.class_index for label in self.reference_labels.all())


class ReferenceLabel(models.Model):
    """One location of a sample's protein, as the data set's annotation says (the ground truth)."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="reference_labels")
    class_index = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["sample", "class_index"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "class_index"], name="reference_label_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sample}: {self.class_name}"

    @property
    def class_name(self) -> str:
        return self.sample.dataset.label_set.by_index(self.class_index).name

    def clean(self) -> None:
        size = len(self.sample.dataset.label_set)
        if self.class_index >= size:
            raise ValidationError(
                {"class_index": f"{self.class_index} is not a class of a {size}-class label set"}
            )


class StudyManager(models.Manager):
    def get_by_natural_key(self, name: str) -> "Study":
        return self.get(name=name)


class Study(models.Model):
    """A reading study: a fixed, ordered set of single-location test samples. Fixtures name it by its
    name (a natural key), so that a study's configuration loads onto whichever row the study got."""

    name = models.CharField(max_length=100, unique=True, validators=[name_validator])
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="studies")
    seed = models.BigIntegerField()
    balanced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyManager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    def natural_key(self) -> tuple[str]:
        return (self.name,)

    @property
    def label_set(self) -> LabelSet:
        return self.dataset.label_set


class StudySample(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="study_items")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["study", "position"]
        constraints = [
            models.UniqueConstraint(fields=["study", "sample"], name="study_sample_unique"),
            models.UniqueConstraint(fields=["study", "position"], name="study_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.study.name} #{self.position}"

    def clean(self) -> None:
        if self.sample.dataset_id != self.study.dataset_id:
            raise ValidationError({"sample": "The sample belongs to another data set."})
        if self.sample.split != Sample.Split.TEST:
            raise ValidationError({"sample": "A study may only use test-split samples."})
        if self.sample.reference_labels.count() != 1:
            raise ValidationError({"sample": "A study may only use single-location samples."})


class StudyRole(models.Model):
    """A staff role given to a user for one study: its coordinator sees and runs only the studies given
    to them, its analyst reads only their reports. A role held through its group
    (``study.roles.role_group``, ``grant ROLE USER --all-studies``) holds for every study."""

    class Role(models.TextChoices):
        COORDINATOR = "coordinator"
        ANALYST = "analyst"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_roles")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="staff_roles")
    role = models.CharField(max_length=20, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "role", "user"]
        constraints = [models.UniqueConstraint(fields=["user", "study", "role"], name="study_role_once")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.study}"
