"""Readers with the machine: how a study shows a model's suggestion, and the suggestions themselves.

A study is read unaided (the paper's study), or with an arm in which readers see a model's suggestion
(class and probability, optionally its top three):

- **sequential** (Beiden et al. 2002; Schalekamp et al. 2014): per case the reader answers alone; that
  answer is locked; the suggestion appears; the reader gives the final answer. One session; every
  switch toward or away from the suggestion is observed. Supports claims about use as a second reader.
- **crossover** (Nagpal et al. 2020): two sessions at least ``washout_days`` apart; case blocks of
  ``block_size`` alternate aided and unaided; readers fall into two sequence groups, balanced within
  each cohort, which start with opposite arms and swap them in session 2. Supports claims about
  concurrent use.

The suggestion per case is frozen into the study (``Suggestion``) when the assistance is set and never
changes afterwards; the assistance is fixed once anyone has answered. A fraction of cases may show a
controlled wrong class (by default the model's runner-up), for studies of automation bias where an
accurate model gives too few wrong suggestions; such cases are marked ``controlled`` in the data and
participants are told after they submit.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from study.models import Study, StudySample

# At most this share of the cases may carry a controlled (wrong) suggestion: the model's own
# suggestions must remain the study's.
MOST_CONTROLLED_FRACTION = 0.5


class Assistance(models.Model):
    """How a study's readers read with the machine. A study without one is read unaided."""

    class Design(models.TextChoices):
        NONE = "none", "none: every case read alone"
        SEQUENTIAL = "sequential", "sequential: an answer alone, then the suggestion, then the final answer"
        CROSSOVER = "crossover", "crossover: blocks with and without the suggestion, in two sessions apart"

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="assistance")
    design = models.CharField(max_length=12, choices=Design.choices, default=Design.NONE)
    source = models.CharField(
        max_length=100, blank=True, help_text="The model run whose predictions are the suggestions."
    )
    controlled_fraction = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(MOST_CONTROLLED_FRACTION)],
        help_text="The share of cases that show a chosen wrong class (the model's runner-up) instead of the model's.",
    )
    show_top_three = models.BooleanField(
        default=False, help_text="Show the model's three most likely classes with their probabilities, not one."
    )
    block_size = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="Crossover: cases per block; blocks alternate aided and unaided.",
    )
    washout_days = models.PositiveSmallIntegerField(
        default=28, validators=[MaxValueValidator(365)],
        help_text="Crossover: the least number of days between a reader's first session and their second.",
    )
    aided_instructions = models.TextField(
        blank=True, help_text="What readers are told about the suggestion, shown where it first appears."
    )
    set_at = models.DateTimeField(null=True, blank=True, help_text="When the suggestions were frozen.")

    def __str__(self) -> str:
        return f"assistance of {self.study}: {self.design}"

    @property
    def assisted(self) -> bool:
        return self.design != self.Design.NONE

    @property
    def sequential(self) -> bool:
        return self.design == self.Design.SEQUENTIAL

    @property
    def crossover(self) -> bool:
        return self.design == self.Design.CROSSOVER

    def clean(self) -> None:
        if self.assisted and not self.source:
            raise ValidationError({"source": "Choose the model run whose predictions are the suggestions."})


class Suggestion(models.Model):
    """What the machine suggests for one case of an assisted study, frozen when the assistance is set."""

    class Source(models.TextChoices):
        MODEL = "model", "the model's own class"
        CONTROLLED = "controlled", "a chosen wrong class (automation-bias control)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="suggestions")
    item = models.OneToOneField(StudySample, on_delete=models.CASCADE, related_name="suggestion")
    class_index = models.PositiveSmallIntegerField(help_text="The class shown.")
    probability = models.FloatField(
        null=True, blank=True, help_text="The model's probability of the class shown; empty for a run of classes only."
    )
    top = models.JSONField(
        default=list, help_text="The model's three most likely classes with their probabilities, [[class, p], ...]."
    )
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MODEL)

    class Meta:
        ordering = ["study", "item__position"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(probability__isnull=True) | (models.Q(probability__gte=0) & models.Q(probability__lte=1)),
                name="suggestion_probability",
            ),
        ]

    def __str__(self) -> str:
        return f"suggestion {self.class_index} for {self.item}"

    def clean(self) -> None:
        if self.item.study_id != self.study_id:
            raise ValidationError({"item": "The sample is not part of this study."})
        if self.class_index >= len(self.study.label_set):
            raise ValidationError({"class_index": f"{self.class_index} is not a class of this study"})
