"""A reading study in the browser: its configuration, cohorts, participants, invitations and answers.

A participant's answer is one of the three kinds of truth (see ``study.models``); it never shares a
table with reference labels or model predictions. One answer per participant and sample is a database
constraint; every change of it is kept in ``AnswerHistory``.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from study.models import Sample, Study, StudySample, name_validator
from study.store import CHANNELS

DEFAULT_PERCENTILES = {channel: [0.5, 99.5] for channel in CHANNELS}


def validate_percentiles(value) -> None:
    """``{"red": [low, high], ...}``: one pair per channel, 0 <= low < high <= 100."""
    if not isinstance(value, dict) or set(value) != set(CHANNELS):
        raise ValidationError(f"give a [low, high] pair for each of the channels {', '.join(CHANNELS)}")
    for channel, pair in value.items():
        if (
            not isinstance(pair, (list, tuple))
            or len(pair) != 2
            or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in pair)
            or not 0 <= pair[0] < pair[1] <= 100
        ):
            raise ValidationError(f"{channel}: expected [low, high] with 0 <= low < high <= 100, got {pair!r}")


class StudyConfig(models.Model):
    """How a study set is presented to its participants (one per study)."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="config")
    instructions = models.TextField(blank=True)
    class_descriptions = models.JSONField(
        default=dict, blank=True, help_text='What each class looks like, by class index: {"0": "...", ...}.'
    )
    display_percentiles = models.JSONField(
        default=dict,
        validators=[validate_percentiles],
        help_text="Per-channel contrast as [low, high] percentiles, the same for every participant.",
    )
    gallery_open = models.BooleanField(default=True)
    answers_changeable = models.BooleanField(
        default=True, help_text="Whether participants may change answers before their final submission."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"configuration of {self.study}"

    def save(self, *args, **kwargs):
        if not self.display_percentiles:
            self.display_percentiles = {c: list(p) for c, p in DEFAULT_PERCENTILES.items()}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        size = len(self.study.label_set)
        for key in self.class_descriptions or {}:
            if not str(key).isdigit() or int(key) >= size:
                raise ValidationError({"class_descriptions": f"{key!r} is not a class index of this study (0-{size - 1})"})

    def description_of(self, class_index: int) -> str:
        return (self.class_descriptions or {}).get(str(class_index), "")


def config_of(study: Study) -> StudyConfig:
    """The study's configuration, created with the defaults on first use. Read through the reverse
    relation so that a page asking several times costs one query."""
    try:
        return study.config
    except StudyConfig.DoesNotExist:
        config, _ = StudyConfig.objects.get_or_create(study=study)
        study.config = config
        return config


class Cohort(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=50, validators=[name_validator], help_text="e.g. expert, scholar")

    class Meta:
        ordering = ["study", "name"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="cohort_unique_name")]

    def __str__(self) -> str:
        return f"{self.study.name}/{self.name}"


class Participant(models.Model):
    """A reader of one study, known in every output by pseudonym only."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="participations"
    )
    pseudonym = models.CharField(max_length=50)
    order_seed = models.BigIntegerField(help_text="Seeds this participant's sample order.")
    simulated = models.BooleanField(default=False, help_text="Answers made by a simulated reader, not a person.")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="Final submission; read-only after.")

    class Meta:
        ordering = ["study", "pseudonym"]
        constraints = [
            models.UniqueConstraint(fields=["study", "pseudonym"], name="participant_unique_pseudonym"),
            models.UniqueConstraint(fields=["study", "user"], name="participant_one_per_user_and_study"),
        ]

    def __str__(self) -> str:
        return f"{self.study.name}/{self.pseudonym}"

    def clean(self) -> None:
        if self.cohort_id and self.study_id and self.cohort.study_id != self.study_id:
            raise ValidationError({"cohort": "The cohort belongs to another study."})

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None

    @classmethod
    def new_order_seed(cls) -> int:
        return secrets.randbits(62)

    def order(self) -> list[StudySample]:
        """The study's samples in this participant's presentation order: a permutation seeded by
        ``order_seed``, so it is random per participant and the same every time they return."""
        items = list(self.study.items.select_related("sample").order_by("position"))
        return [items[i] for i in self._permutation(len(items))]

    def item_at(self, number: int, total: int) -> StudySample:
        """Case ``number`` (1 to ``total``, the study's size) of :meth:`order`, fetched alone: an
        answer is saved many times more often than the whole order is needed."""
        index = int(self._permutation(total)[number - 1])
        return self.study.items.select_related("sample").order_by("position")[index]

    def _permutation(self, total: int) -> np.ndarray:
        return np.random.default_rng(self.order_seed).permutation(total)


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a plain SHA-256 cannot be reversed by guessing.
    return hashlib.sha256(token.encode()).hexdigest()


class Invitation(models.Model):
    """A single-use link that binds a participant to the account its holder creates."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation of {self.participant} ({self.state})"

    @classmethod
    def issue(cls, participant: Participant) -> tuple[Invitation, str]:
        """A new invitation and its token; only the token's hash is stored."""
        token = secrets.token_urlsafe(32)
        return cls.objects.create(participant=participant, token_hash=hash_token(token)), token

    @classmethod
    def find_usable(cls, token: str) -> Invitation | None:
        return (
            cls.objects.select_related("participant__study", "participant__cohort")
            .filter(token_hash=hash_token(token), used_at__isnull=True, revoked_at__isnull=True)
            .first()
        )

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        return "used" if self.used_at else "open"

    def revoke(self) -> None:
        if self.revoked_at is None and self.used_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class Answer(models.Model):
    """A participant's current class for one sample of their study."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(StudySample, on_delete=models.PROTECT, related_name="answers")
    class_index = models.PositiveSmallIntegerField()
    answered_at = models.DateTimeField(default=timezone.now)
    active_seconds = models.FloatField(default=0.0, help_text="Time on the case with the page visible and in use.")
    changes = models.PositiveIntegerField(default=0, help_text="How many times the answer was changed.")
    display_percentiles = models.JSONField(help_text="The display settings the answer was given under.")

    class Meta:
        ordering = ["participant", "item__position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "item"], name="answer_one_per_participant_and_sample"),
            models.CheckConstraint(condition=models.Q(active_seconds__gte=0), name="answer_active_time_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.participant}: item {self.item_id}"

    def clean(self) -> None:
        if self.item.study_id != self.participant.study_id:
            raise ValidationError({"item": "The sample is not part of the participant's study."})
        size = len(self.item.study.label_set)
        if self.class_index >= size:
            raise ValidationError({"class_index": f"{self.class_index} is not a class of this study (0-{size - 1})"})


class CaseOpening(models.Model):
    """When a case page was first served to a participant, on the server's clock.

    It bounds what a browser may claim: an answer's active time never exceeds the time since its
    case was first served (``annotator.answers``), and a time the browser reports for an answer
    given while it was offline lies between that moment and the server's now.
    """

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="case_openings")
    item = models.ForeignKey(StudySample, on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["participant", "item"], name="case_opening_one_per_case")]

    def __str__(self) -> str:
        return f"{self.participant}: item {self.item_id} first opened {self.opened_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def record(cls, participant: Participant, item: StudySample, at=None) -> CaseOpening:
        """The first opening of the case, recorded now (or ``at``) when there is none yet."""
        opening, _ = cls.objects.get_or_create(
            participant=participant, item=item, defaults={"opened_at": at or timezone.now()}
        )
        return opening


class AnswerHistory(models.Model):
    """Every value an answer ever took, in order: the first answer and each change."""

    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="history")
    class_index = models.PositiveSmallIntegerField()
    answered_at = models.DateTimeField()
    active_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["answer", "answered_at", "id"]
        verbose_name_plural = "answer history"


class GalleryVisit(models.Model):
    """A participant looked at a training sample in the gallery."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="gallery_visits")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="+")
    class_index = models.PositiveSmallIntegerField(help_text="The gallery page's class.")
    visited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-visited_at"]

    def clean(self) -> None:
        if self.sample.split != Sample.Split.TRAIN:
            raise ValidationError({"sample": "The gallery shows training samples only."})


class PanelToken(models.Model):
    """What an opaque panel URL stands for.

    The token is an HMAC of the study, sample, panel, resolution and display settings
    (``annotator.panels.panel_token``); this table turns it back into those, so the URL itself
    names no sample, class or position. The settings are kept with the token: a URL always shows
    the image it was made for, which lets it be cached by the browser for good.
    """

    token = models.CharField(max_length=64, unique=True)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="+")
    panel = models.CharField(max_length=20)
    resolution = models.CharField(max_length=10)
    display_percentiles = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.panel} panel ({self.resolution}) of sample {self.sample_id} in {self.study}"
