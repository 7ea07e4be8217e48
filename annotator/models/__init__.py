"""A reading study in the browser: its configuration, cohorts, participants, invitations and answers.

A participant's answer is one of the three kinds of truth (see ``study.models``); it never shares a
table with reference labels or model predictions. One answer per participant, sample and reading is a
database constraint (a study may show some of its cases twice, ``StudyConfig.repeated_cases``: the
second reading is a second answer, ``Answer.repeat`` 1); every change of an answer is kept in
``AnswerHistory``. The answers to the practice cases of a cohort's training phase are kept apart, in
``PracticeAnswer``, and never enter the study's answers.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone

import numpy as np

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from annotator.models.assistance import Assistance as Assistance, Suggestion as Suggestion
from study.models import Sample, Study, StudySample, name_validator
from study.store import CHANNELS

DEFAULT_PERCENTILES = {channel: [0.5, 99.5] for channel in CHANNELS}

# The kinds of question of a study's background form.
BACKGROUND_KINDS = ("number", "text", "choice")
BACKGROUND_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
BACKGROUND_FIELDS = {"key", "label", "kind", "options", "required"}
# A number question's answers lie between its minimum and maximum (years of experience: 0 to 100,
# unless the coordinator says otherwise); no bound reaches past a billion either way.
DEFAULT_NUMBER_RANGE = (0, 100)
MOST_NUMBER_ANSWER = 1e9
# Every time the site accepts lies between these (a study, a window, an answer).
EARLIEST_MOMENT = datetime(2000, 1, 1, tzinfo=dt_timezone.utc)
LATEST_MOMENT = datetime(2100, 1, 1, tzinfo=dt_timezone.utc)
# Repeated cases need room to stand a third of the order apart from their first reading.
REPEATS_PER_CASE = 4  # at most one repeated case per this many cases of the study


def max_repeated_cases(n_cases: int) -> int:
    """How many of a study's ``n_cases`` cases may be shown twice: a quarter of them."""
    return n_cases // REPEATS_PER_CASE


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


def validate_moment(value: datetime) -> None:
    """A time between 2000 and 2100: anything else is a typing slip, and arithmetic on it overflows."""
    if not EARLIEST_MOMENT <= value < LATEST_MOMENT:
        raise ValidationError(
            f"Give a time from {EARLIEST_MOMENT.year} to {LATEST_MOMENT.year - 1}, not {value.date().isoformat()}."
        )


def is_number_bound(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= MOST_NUMBER_ANSWER


def validate_background_fields(value) -> None:
    """``[{"key", "label", "kind", "options", "required"[, "minimum", "maximum"]}, ...]``: the questions
    of a background form; a number question has a minimum and a maximum, the others neither."""
    if not isinstance(value, list):
        raise ValidationError("expected a list of questions")
    keys = set()
    for number, field in enumerate(value, start=1):
        bounds = {"minimum", "maximum"} if isinstance(field, dict) and field.get("kind") == "number" else set()
        if not isinstance(field, dict) or set(field) != BACKGROUND_FIELDS | bounds:
            raise ValidationError(
                f"question {number}: expected key, label, kind, options and required (and a number question's "
                "minimum and maximum)"
            )
        if bounds and not (
            is_number_bound(field["minimum"]) and is_number_bound(field["maximum"]) and field["minimum"] < field["maximum"]
        ):
            raise ValidationError(
                f"question {number}: the minimum must be below the maximum, both within ±{MOST_NUMBER_ANSWER:,.0f}"
            )
        if not isinstance(field["key"], str) or not BACKGROUND_KEY.match(field["key"]):
            raise ValidationError(f"question {number}: {field['key']!r} is not a column name (a-z, 0-9, _)")
        if field["key"] in keys:
            raise ValidationError(f"question {number}: the name {field['key']!r} is used twice")
        keys.add(field["key"])
        if not isinstance(field["label"], str) or not field["label"].strip():
            raise ValidationError(f"question {number}: give the question's text")
        if field["kind"] not in BACKGROUND_KINDS:
            raise ValidationError(f"question {number}: the kind must be one of {', '.join(BACKGROUND_KINDS)}")
        options = field["options"]
        if not isinstance(options, list) or not all(isinstance(o, str) and o.strip() for o in options):
            raise ValidationError(f"question {number}: the options must be a list of texts")
        if field["kind"] == "choice" and len(options) < 2:
            raise ValidationError(f"question {number}: a choice needs at least two options")
        if not isinstance(field["required"], bool):
            raise ValidationError(f"question {number}: required must be true or false")


class StudyConfigManager(models.Manager):
    def get_by_natural_key(self, study_name: str) -> "StudyConfig":
        return self.get(study__name=study_name)


class StudyConfig(models.Model):
    """How a study set is presented to its participants (one per study): what they read, when they may
    answer, which cases they see twice and what they are asked about themselves. A fixture names it
    by its study's name (``config/fixtures/demo_study.json``)."""

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
    opens_at = models.DateTimeField(
        null=True, blank=True, validators=[validate_moment],
        help_text="Participants may answer from then on; empty: at once.",
    )
    closes_at = models.DateTimeField(
        null=True, blank=True, validators=[validate_moment],
        help_text="Answers are refused from then on; empty: never. Saved answers stay.",
    )
    invitations_expire_at = models.DateTimeField(
        null=True, blank=True, validators=[validate_moment],
        help_text="Invitation links not used by then stop working; empty: never.",
    )
    repeated_cases = models.PositiveSmallIntegerField(
        default=0,
        help_text="How many of the study's cases every participant reads twice, a third of their order apart, "
        "unmarked (for the consistency of each reader).",
    )
    background_fields = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_background_fields],
        help_text="The questions participants answer about themselves on first sign-in.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = StudyConfigManager()

    def __str__(self) -> str:
        return f"configuration of {self.study}"

    def natural_key(self) -> tuple[str]:
        return self.study.natural_key()

    natural_key.dependencies = ["study.study"]

    def save(self, *args, **kwargs):
        if not self.display_percentiles:
            self.display_percentiles = {c: list(p) for c, p in DEFAULT_PERCENTILES.items()}
        for question in self.background_fields or []:
            if isinstance(question, dict) and question.get("kind") == "number":
                question.setdefault("minimum", DEFAULT_NUMBER_RANGE[0])
                question.setdefault("maximum", DEFAULT_NUMBER_RANGE[1])
        super().save(*args, **kwargs)

    def clean(self) -> None:
        size = len(self.study.label_set)
        for key in self.class_descriptions or {}:
            if not str(key).isdigit() or int(key) >= size:
                raise ValidationError({"class_descriptions": f"{key!r} is not a class index of this study (0-{size - 1})"})
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": "The study must close after it opens."})
        most = max_repeated_cases(self.study.items.count())
        if self.repeated_cases > most:
            raise ValidationError({"repeated_cases": f"At most {most} (a quarter of the study's cases)."})
        if self.repeated_cases and Assistance.objects.filter(study=self.study, design=Assistance.Design.CROSSOVER).exists():
            raise ValidationError({"repeated_cases": "A crossover study reads every case twice already: 0 here."})
        if self.pk and self.repeated_cases != self.saved_repeated_cases() and self.anyone_answered():
            raise ValidationError(
                {"repeated_cases": "Fixed: participants have answered already, and a change would change their order."}
            )

    def saved_repeated_cases(self) -> int | None:
        return StudyConfig.objects.filter(pk=self.pk).values_list("repeated_cases", flat=True).first()

    def anyone_answered(self) -> bool:
        """Whether any participant has answered a case: from then on the cases read twice are fixed."""
        return Answer.readings.filter(participant__study_id=self.study_id).exists()

    def description_of(self, class_index: int) -> str:
        return (self.class_descriptions or {}).get(str(class_index), "")

    def window_state(self, now: datetime | None = None) -> str:
        """``"not_open"`` before ``opens_at``, ``"closed"`` from ``closes_at`` on, else ``"open"``."""
        now = now or timezone.now()
        if self.opens_at and now < self.opens_at:
            return "not_open"
        if self.closes_at and now >= self.closes_at:
            return "closed"
        return "open"

    def repeated_item_indices(self, n_items: int) -> list[int]:
        """Which of the study's cases (indices into its samples in position order) every participant
        reads twice: drawn from the study's seed, the same for every participant, so that each reader's
        consistency is measured on the same cases. A larger number keeps the cases of a smaller one."""
        count = min(self.repeated_cases, max_repeated_cases(n_items))
        if not count:
            return []
        rng = np.random.default_rng([REPEAT_STREAM, abs(int(self.study.seed))])
        return sorted(int(i) for i in rng.permutation(n_items)[:count])

    def background_keys(self) -> list[str]:
        return [field["key"] for field in self.background_fields or []]


# Streams of the seeded draws besides the order itself, so that none shares its random numbers.
REPEAT_STREAM = 0x5EED_0001
REPEAT_PLACES_STREAM = 0x5EED_0002
PRACTICE_STREAM = 0x5EED_0003
SECOND_SESSION_STREAM = 0x5EED_0005


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
    """A group of participants (e.g. expert, scholar), with how they are prepared for the study."""

    class GalleryScope(models.TextChoices):
        SINGLE = "single", "single-location examples only"
        ALL = "all", "the whole training split (multi-location samples marked as such)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=50, validators=[name_validator], help_text="e.g. expert, scholar")
    training_required = models.BooleanField(
        default=False,
        help_text="Whether the cohort goes through the training phase (class descriptions with examples, then "
        "practice cases with the answer shown) before the study's cases open.",
    )
    practice_cases = models.PositiveSmallIntegerField(
        default=20, help_text="Practice cases of the training phase: single-location training samples."
    )
    gallery_scope = models.CharField(
        max_length=10, choices=GalleryScope.choices, default=GalleryScope.SINGLE,
        help_text="What the cohort's training gallery shows.",
    )

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
    background = models.JSONField(
        default=dict, blank=True, help_text="Their answers to the study's background form, by question name."
    )
    background_given_at = models.DateTimeField(null=True, blank=True)
    training_finished_at = models.DateTimeField(
        null=True, blank=True, help_text="When they finished their cohort's training phase."
    )
    active_until = models.DateTimeField(
        null=True, blank=True,
        help_text="The moment up to which their active time is counted: a later answer counts only time after it.",
    )
    sequence_group = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="Crossover: 0 starts with an unaided block, 1 with an aided one; balanced within each cohort.",
    )
    first_session_submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="Crossover: when they submitted their first session."
    )
    second_session_started_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Crossover: when they first opened a case of their second session (the wash-out taken ends then).",
    )

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

    def cases(self, session: int = 1) -> list[Case]:
        """The participant's cases in presentation order: the study's samples in a permutation seeded
        by ``order_seed`` (random per participant, the same every time they return), with the study's
        repeated cases a second time (:meth:`case_plan`); a crossover study's second session in an
        order of its own."""
        items = list(self.study.items.select_related("sample").order_by("position"))
        plan = self.case_plan(len(items), session)
        return [Case(number, items[i], repeat) for number, (i, repeat) in enumerate(plan, 1)]

    def order(self) -> list[StudySample]:
        """The study's samples, each once, in the order of their first reading in :meth:`cases`."""
        return [case.item for case in self.cases() if case.repeat == 0]

    def case_count(self) -> int:
        items = self.study.items.count()
        return items + len(config_of(self.study).repeated_item_indices(items))

    def case_at(self, number: int, session: int = 1) -> Case | None:
        """Case ``number`` (1-based) of :meth:`cases`, fetched alone: an answer is saved many times
        more often than the whole order is needed. None past the last case."""
        plan = self.case_plan(self.study.items.count(), session)
        if not 1 <= number <= len(plan):
            return None
        index, repeat = plan[number - 1]
        return Case(number, self.study.items.select_related("sample").order_by("position")[index], repeat)

    @property
    def current_session(self) -> int:
        """The session they read now: the second once they submitted the first (a crossover study's)."""
        return 2 if self.first_session_submitted_at else 1

    def case_plan(self, n_items: int, session: int = 1) -> list[tuple[int, int]]:
        """(index of the sample in position order, reading) per case, in presentation order: the first
        session's plan (:meth:`first_session_plan`), or a crossover's second (``second_session_plan``)."""
        if session == 2:
            return second_session_plan(self.case_plan(n_items), self.study.assistance.block_size, self.order_seed)
        return self.first_session_plan(n_items)

    def first_session_plan(self, n_items: int) -> list[tuple[int, int]]:
        """(index of the sample in position order, reading) per case, in presentation order.

        Without repeats, a permutation of the samples seeded by ``order_seed``. With ``R`` repeated
        samples (``StudyConfig.repeated_item_indices``) the order has ``T = n + R`` cases; a seeded
        cut ``L`` puts every first reading of a repeated sample before it and every second reading at
        least ``ceil(T / 3)`` places after it, so the two readings of a sample always stand more than
        a third of the order apart; the other samples keep the permutation's order in the places left.
        Nothing marks a second reading.
        """
        base = [int(i) for i in np.random.default_rng(self.order_seed).permutation(n_items)]
        repeated = config_of(self.study).repeated_item_indices(n_items)
        if not repeated:
            return [(i, 0) for i in base]
        count = len(repeated)
        total = n_items + count
        gap = math.ceil(total / 3)
        rng = np.random.default_rng([REPEAT_PLACES_STREAM, self.order_seed])
        cut = int(rng.integers(count, total - gap - count + 1))
        firsts = np.sort(rng.choice(cut, count, replace=False))
        seconds = cut + gap + rng.choice(total - cut - gap, count, replace=False)
        plan: list[tuple[int, int] | None] = [None] * total
        for index, first, second in zip(rng.permutation(repeated), firsts, seconds):
            plan[int(first)] = (int(index), 0)
            plan[int(second)] = (int(index), 1)
        twice = set(repeated)
        rest = iter(i for i in base if i not in twice)
        return [place if place is not None else (next(rest), 0) for place in plan]

    @property
    def training_pending(self) -> bool:
        """Whether their cohort's training phase still stands between them and the study's cases."""
        return self.cohort.training_required and self.training_finished_at is None and not self.simulated

    @property
    def background_pending(self) -> bool:
        """Whether they still have to fill in the study's background form."""
        return bool(config_of(self.study).background_fields) and self.background_given_at is None and not self.simulated


def second_session_plan(first: list[tuple[int, int]], block_size: int, order_seed: int) -> list[tuple[int, int]]:
    """A crossover reader's second session: the blocks of their first, each read in the other arm, in
    a new seeded order of the blocks and of the cases within each (so that a case never stands where
    it stood, and every block keeps its cases)."""
    rng = np.random.default_rng([SECOND_SESSION_STREAM, order_seed])
    blocks = [first[start : start + block_size] for start in range(0, len(first), block_size)]
    plan = []
    for b in rng.permutation(len(blocks)):
        plan += [blocks[b][i] for i in rng.permutation(len(blocks[b]))]
    return plan


@dataclass(frozen=True)
class Case:
    """One place in a participant's order: a sample of the study and which reading of it (0 the
    first; 1 the second, for a repeated case)."""

    number: int  # 1-based place in the participant's order
    item: StudySample
    repeat: int


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
        invitation = (
            cls.objects.select_related("participant__study", "participant__cohort")
            .filter(token_hash=hash_token(token), used_at__isnull=True, revoked_at__isnull=True)
            .first()
        )
        return None if invitation is None or invitation.is_expired else invitation

    @property
    def expires_at(self) -> datetime | None:
        return config_of(self.participant.study).invitations_expire_at

    @property
    def is_expired(self) -> bool:
        return self.used_at is None and self.expires_at is not None and timezone.now() >= self.expires_at

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.used_at:
            return "used"
        return "expired" if self.is_expired else "open"

    def revoke(self) -> None:
        if self.revoked_at is None and self.used_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class Arm(models.TextChoices):
    """Whether a reading was made alone or with the machine's suggestion (``annotator.models.assistance``)."""

    UNAIDED = "unaided", "read alone"
    AIDED = "aided", "read with the suggestion"


class FirstReadings(models.Manager):
    """The first unaided reading of every case: what the study's comparison of people with the model is
    made of. ``Answer.objects`` and ``participant.answers`` are this; ``Answer.readings`` has the second
    readings and the aided ones too."""

    def get_queryset(self):
        return super().get_queryset().filter(repeat=0, arm=Arm.UNAIDED)


class Answer(models.Model):
    """A participant's current class for one reading of one sample of their study.

    ``repeat`` tells the readings of a repeated case apart: 0 the first (every answered case has
    one), 1 the second reading of a case the study shows twice. The managers keep code that
    compares readers with the truth on first readings without a thought: ``Answer.objects`` (and a
    participant's ``answers``) hold only those; ``Answer.readings`` holds both.
    """

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(StudySample, on_delete=models.PROTECT, related_name="answers")
    repeat = models.PositiveSmallIntegerField(
        default=0, help_text="0: the first reading of the case; 1: its second reading (a repeated case)."
    )
    arm = models.CharField(max_length=8, choices=Arm.choices, default=Arm.UNAIDED)
    session = models.PositiveSmallIntegerField(default=1, help_text="The session of a crossover study (1 or 2).")
    class_index = models.PositiveSmallIntegerField()
    answered_at = models.DateTimeField(default=timezone.now)
    active_seconds = models.FloatField(default=0.0, help_text="Time on the case with the page visible and in use.")
    changes = models.PositiveIntegerField(default=0, help_text="How many times the answer was changed.")
    display_percentiles = models.JSONField(help_text="The display settings the answer was given under.")
    # An aided reading keeps the suggestion it was given beside, as shown.
    suggested_class = models.PositiveSmallIntegerField(null=True, blank=True)
    suggestion_probability = models.FloatField(null=True, blank=True)
    suggestion_source = models.CharField(max_length=12, blank=True, help_text="model or controlled")
    suggestion_shown_at = models.DateTimeField(
        null=True, blank=True, help_text="When the server first showed the suggestion for this reading."
    )
    seconds_before_suggestion = models.FloatField(
        null=True, blank=True, help_text="Sequential: from the case's first opening to the suggestion (server clock)."
    )
    seconds_after_suggestion = models.FloatField(
        null=True, blank=True, help_text="Sequential: from the suggestion to this answer (server clock)."
    )

    objects = FirstReadings()
    readings = models.Manager()

    class Meta:
        ordering = ["participant", "item__position", "repeat", "arm"]
        base_manager_name = "readings"
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "item", "repeat", "arm"], name="answer_one_per_participant_sample_reading_and_arm"
            ),
            models.CheckConstraint(condition=models.Q(active_seconds__gte=0), name="answer_active_time_not_negative"),
            models.CheckConstraint(condition=models.Q(repeat__lte=1), name="answer_repeat_first_or_second"),
            models.CheckConstraint(condition=models.Q(session__in=[1, 2]), name="answer_session_first_or_second"),
            models.CheckConstraint(
                condition=(models.Q(arm=Arm.UNAIDED) & models.Q(suggested_class__isnull=True))
                | (models.Q(arm=Arm.AIDED) & models.Q(suggested_class__isnull=False)),
                name="answer_aided_with_its_suggestion",
            ),
        ]

    def __str__(self) -> str:
        reading = " (second reading)" if self.repeat else ""
        aided = " with the suggestion" if self.arm == Arm.AIDED else ""
        return f"{self.participant}: item {self.item_id}{reading}{aided}"

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
    repeat = models.PositiveSmallIntegerField(default=0, help_text="Which reading of the case (as Answer.repeat).")
    arm = models.CharField(
        max_length=8, choices=Arm.choices, default=Arm.UNAIDED,
        help_text="An aided reading opens when its suggestion is first shown.",
    )
    opened_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "item", "repeat", "arm"], name="case_opening_one_per_reading_and_arm")
        ]

    def __str__(self) -> str:
        return f"{self.participant}: item {self.item_id} first opened {self.opened_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def record(
        cls, participant: Participant, item: StudySample, at=None, repeat: int = 0, arm: str = Arm.UNAIDED
    ) -> CaseOpening:
        """The first opening of the case's reading, recorded now (or ``at``) when there is none yet."""
        opening, _ = cls.objects.get_or_create(
            participant=participant, item=item, repeat=repeat, arm=arm, defaults={"opened_at": at or timezone.now()}
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


class PracticeAnswer(models.Model):
    """An answer to a practice case of a cohort's training phase.

    Practice cases are training samples, chosen per participant; their answers are kept here, apart
    from the study's answers, and never enter the comparison or the answers export.
    """

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="practice_answers")
    number = models.PositiveSmallIntegerField(help_text="The practice case's place (1-based) in the training.")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="+")
    class_index = models.PositiveSmallIntegerField()
    correct = models.BooleanField()
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["participant", "number"]
        constraints = [models.UniqueConstraint(fields=["participant", "number"], name="practice_answer_one_per_case")]

    def __str__(self) -> str:
        return f"{self.participant}: practice case {self.number}"

    def clean(self) -> None:
        if self.sample.split != Sample.Split.TRAIN:
            raise ValidationError({"sample": "Practice cases are training samples only."})


def instructions_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class InstructionsSeen(models.Model):
    """A version of the study's instructions that a participant was shown, kept whole, so that the
    report can say who read which wording."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="instructions_seen")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the text.")
    text = models.TextField(blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["participant", "first_seen_at"]
        verbose_name_plural = "instructions seen"
        constraints = [
            models.UniqueConstraint(fields=["participant", "digest"], name="instructions_seen_once_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.participant}: instructions {self.digest[:12]}"

    @classmethod
    def record(cls, participant: Participant, text: str, at=None) -> InstructionsSeen:
        seen, _ = cls.objects.get_or_create(
            participant=participant,
            digest=instructions_digest(text),
            defaults={"text": text, "first_seen_at": at or timezone.now()},
        )
        return seen


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
