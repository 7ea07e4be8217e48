"""Simulated readers: participants whose answers are drawn, to try a study's analysis before people answer.

A reader of skill ``p`` answers the true class with probability ``p``; otherwise they pick another class
from a confusion model in which people confuse what the paper's experts confused (its Figure 4 and the
cases of Figures 10-15): the nuclear classes among themselves, cytosol, ER, vesicles and mitochondria,
vesicles with the Golgi apparatus and centrosome, and the filament systems. Other label sets than the
paper's get a uniform confusion model. Answers, active times and participants are drawn from the seed,
so the same arguments give the same readers; readers already there are left as they are.

A simulated reader answers in their own order (``Participant.cases``), so a study's repeated cases are
read twice: the second reading repeats the first with probability ``REPEAT_CONSISTENCY`` and is drawn
afresh otherwise (with the same skill and confusions, so it may still agree), each with its own time.
When the study has a background form, each reader answers it: a number grows with the reader's skill
(years of experience, say), a choice is drawn uniformly, a text names the simulated reader.
While the gallery is open, each reader looks up about ``LOOKUP_PROBABILITY`` of the classes, each at a
moment drawn over their reading (so before some of their answers and after others), opening one to
three of the examples their cohort's gallery shows; the looks do not change their answers (drawn from
a stream of their own, so the answers are those the same seed gives without them).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotator.assistance import assistance_of
from annotator.models import (
    Answer,
    AnswerHistory,
    Arm,
    Cohort,
    GalleryVisit,
    Participant,
    StudyConfig,
    Suggestion,
    config_of,
)
from annotator.training import gallery_labels
from study.labels import CYTO13, LabelSet
from study.models import Study, name_validator

# How readily people mistake one class for another (symmetric, by class key); pairs not named get
# BACKGROUND_CONFUSION. The weights are relative: each row is normalised over the wrong classes.
CYTO13_CONFUSIONS = {
    ("nucleus", "nucleoli"): 1.0,
    ("nucleus", "nuclear-membrane"): 0.6,
    ("nucleoli", "nuclear-membrane"): 0.3,
    ("cytosol", "er"): 1.0,
    ("cytosol", "vesicles"): 1.0,
    ("er", "vesicles"): 0.8,
    ("cytosol", "mitochondria"): 0.5,
    ("er", "mitochondria"): 0.6,
    ("vesicles", "mitochondria"): 0.5,
    ("vesicles", "golgi"): 0.8,
    ("vesicles", "centrosome"): 0.6,
    ("golgi", "centrosome"): 0.4,
    ("golgi", "nuclear-membrane"): 0.4,
    ("golgi", "mitochondria"): 0.3,
    ("actin", "intermediate"): 0.8,
    ("actin", "microtubules"): 0.6,
    ("intermediate", "microtubules"): 1.0,
    ("intermediate", "mitochondria"): 0.3,
    ("plasma-membrane", "cytosol"): 0.6,
    ("plasma-membrane", "actin"): 0.4,
    ("plasma-membrane", "vesicles"): 0.3,
    ("plasma-membrane", "centrosome"): 0.3,
}
BACKGROUND_CONFUSION = 0.03
# Seconds on a case: log-normal around MEDIAN_SECONDS; a wrong answer is a harder case and takes longer.
MEDIAN_SECONDS = 25.0
SECONDS_SPREAD = 0.6
WRONG_ANSWER_SLOWDOWN = 1.4
# How often a reader gives the second reading of a repeated case the answer of the first.
REPEAT_CONSISTENCY = 0.8
# The share of the classes a reader looks up in the gallery, and the examples opened per look.
LOOKUP_PROBABILITY = 0.4
EXAMPLES_PER_LOOKUP = (1, 3)
GALLERY_STREAM = 0x6A11_E41


class SimulationError(ValueError):
    pass


def confusion_model(label_set: LabelSet) -> np.ndarray:
    """``P(answer j | true class i, answer wrong)``: rows sum to 1 and the diagonal is 0."""
    size = len(label_set)
    if label_set.key == CYTO13.key:
        index = {c.key: c.index for c in label_set.classes}
        weights = np.full((size, size), BACKGROUND_CONFUSION)
        for (first, second), weight in CYTO13_CONFUSIONS.items():
            weights[index[first], index[second]] = weights[index[second], index[first]] = weight
    else:
        weights = np.ones((size, size))
    np.fill_diagonal(weights, 0.0)
    return weights / weights.sum(axis=1, keepdims=True)


def simulated_answers(truth: np.ndarray, skill: float, confusion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A reader's answers: the truth with probability ``skill``, else a class drawn from ``confusion``."""
    correct = rng.random(truth.size) < skill
    cumulative = np.cumsum(confusion[truth], axis=1)
    draws = rng.random(truth.size)[:, np.newaxis]
    wrong = np.minimum((draws > cumulative).sum(axis=1), confusion.shape[0] - 1)
    return np.where(correct, truth, wrong)


@dataclass(frozen=True)
class SimulationResult:
    created: tuple[str, ...]
    kept: tuple[str, ...]
    n_answers: int


def pseudonym(cohort: str, number: int) -> str:
    return f"sim-{cohort}-{number:02d}"


def _reader_rng(seed: int, cohort: str, number: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(cohort.encode()), number])


def simulated_background(config: StudyConfig, skill: float, name: str, rng: np.random.Generator) -> dict:
    """A simulated reader's answers to the study's background form (see the module's docstring)."""
    answers = {}
    for question in config.background_fields or []:
        if question["kind"] == "number":
            answers[question["key"]] = max(0, int(round(rng.normal(2 + 16 * skill**2, 2.0))))
        elif question["kind"] == "choice":
            answers[question["key"]] = str(rng.choice(question["options"]))
        else:
            answers[question["key"]] = f"simulated reader {name}"
    return answers


def simulated_gallery_visits(
    participant: Participant, examples: dict[int, list[int]], first: datetime, last: datetime, rng: np.random.Generator
) -> list[GalleryVisit]:
    """A simulated reader's looks at the gallery (see the module's docstring), between a little before
    their first answer (``first``) and their last (``last``); ``examples`` the sample ids the cohort's
    gallery shows per class."""
    span = max((last - first).total_seconds(), 1.0)
    visits = []
    for class_index, samples in sorted(examples.items()):
        if not samples or rng.random() >= LOOKUP_PROBABILITY:
            continue
        at = first + timedelta(seconds=float(rng.uniform(-0.1, 1.0) * span))
        count = int(rng.integers(EXAMPLES_PER_LOOKUP[0], EXAMPLES_PER_LOOKUP[1] + 1))
        for k in range(min(count, len(samples))):
            visits.append(GalleryVisit(
                participant=participant, sample_id=samples[k], class_index=class_index,
                visited_at=at + timedelta(seconds=10 * k),
            ))
    return visits


def _gallery_examples(study: Study, cohort: Cohort) -> dict[int, list[int]]:
    """{class index: the sample ids of its examples in the cohort's gallery, in the gallery's order}."""
    examples: dict[int, list[int]] = {}
    labels = gallery_labels(study, cohort.gallery_scope).order_by("class_index", "sample_id")
    for class_index, sample_id in labels.values_list("class_index", "sample_id"):
        examples.setdefault(class_index, []).append(sample_id)
    return examples


def simulate_readers(
    study: Study, cohort_name: str, count: int, skill: float, seed: int = 0, reliance: float = 0.0
) -> SimulationResult:
    """Create ``count`` simulated readers ``sim-<cohort>-01``... in the cohort (made if needed), each
    answering every case of their order (the study's samples and its repeated cases' second
    readings) and the study's background form; readers of those pseudonyms that already exist are
    kept unchanged. In a sequential assisted study each then gives a final answer beside the case's
    suggestion: the suggestion with probability ``reliance`` where it differs from their own, their
    own answer otherwise."""
    _check_arguments(cohort_name, count, skill, seed, reliance)
    study_truth = StudyTruth.of(study)
    config = config_of(study)
    assistance = assistance_of(study)
    if assistance.crossover:
        raise SimulationError(f"study {study.name}: simulated readers read unassisted and sequential studies only")
    created, kept, n_answers = [], [], 0
    with transaction.atomic():
        cohort, _ = Cohort.objects.get_or_create(study=study, name=cohort_name)
        examples = _gallery_examples(study, cohort) if config.gallery_open else {}
        existing = set(Participant.objects.filter(study=study).values_list("pseudonym", flat=True))
        start = timezone.now()
        for number in range(1, count + 1):
            name = pseudonym(cohort_name, number)
            if name in existing:
                kept.append(name)
                continue
            rng = _reader_rng(seed, cohort_name, number)
            drawn = study_truth.draw(skill, rng)
            participant = Participant.objects.create(
                study=study, cohort=cohort, user=None, pseudonym=name, simulated=True,
                order_seed=int(rng.integers(0, 2**62)), submitted_at=start,
            )
            background = simulated_background(config, skill, name, rng)
            if background:
                participant.background, participant.background_given_at = background, start
                participant.save(update_fields=["background", "background_given_at"])
            saved = _answer_every_case(participant, study_truth, drawn, skill, rng, start, config.display_percentiles)
            if assistance.sequential:
                saved += _answer_beside_the_suggestions(saved, study_truth, reliance, rng)
            _look_at_the_gallery(
                participant, examples, min(a.answered_at for a in saved), start,
                np.random.default_rng([seed, zlib.crc32(cohort_name.encode()), number, GALLERY_STREAM]),
            )
            created.append(name)
            n_answers += len(saved)
    return SimulationResult(created=tuple(created), kept=tuple(kept), n_answers=n_answers)


def _check_arguments(cohort_name: str, count: int, skill: float, seed: int, reliance: float) -> None:
    try:
        name_validator(cohort_name)
    except ValidationError:
        raise SimulationError(f"--cohort {cohort_name!r}: use letters, digits, '.', '_' and '-' only") from None
    if count < 1:
        raise SimulationError(f"--count {count}: expected at least 1")
    if not 0.0 <= skill <= 1.0:
        raise SimulationError(f"--skill {skill}: expected a probability between 0 and 1")
    if not 0.0 <= reliance <= 1.0:
        raise SimulationError(f"--reliance {reliance}: expected a probability between 0 and 1")
    if seed < 0:
        raise SimulationError(f"--seed {seed}: expected a non-negative integer")


@dataclass(frozen=True)
class StudyTruth:
    """What simulated readers draw from: the study's samples with their classes, and the confusions."""

    truth: np.ndarray  # the class of each study sample, in position order
    column_of: dict[int, int]  # study sample primary key -> its column in ``truth``
    confusion: np.ndarray
    suggestions: dict[int, Suggestion]  # by study sample primary key; empty for an unassisted study

    @classmethod
    def of(cls, study: Study) -> StudyTruth:
        items = list(study.items.order_by("position").prefetch_related("sample__reference_labels"))
        if not items:
            raise SimulationError(f"study {study.name}: has no samples to answer")
        return cls(
            truth=np.array([item.sample.reference_labels.all()[0].class_index for item in items]),
            column_of={item.pk: column for column, item in enumerate(items)},
            confusion=confusion_model(study.label_set),
            suggestions={s.item_id: s for s in Suggestion.objects.filter(study=study)},
        )

    def draw(self, skill: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A reader's answer to each study sample and the seconds it took."""
        answers = simulated_answers(self.truth, skill, self.confusion, rng)
        seconds = rng.lognormal(np.log(MEDIAN_SECONDS), SECONDS_SPREAD, self.truth.size)
        return answers, np.where(answers == self.truth, seconds, seconds * WRONG_ANSWER_SLOWDOWN).round(1)


def _answer_every_case(
    participant: Participant, study_truth: StudyTruth, drawn: tuple[np.ndarray, np.ndarray], skill: float,
    rng: np.random.Generator, last: datetime, percentiles: dict,
) -> list[Answer]:
    """The reader's answers alone to every case of their order (``drawn`` per sample, the second
    readings of repeated cases drawn here), one after another, the last at ``last``."""
    truth, confusion = study_truth.truth, study_truth.confusion
    answers, seconds = drawn
    readings = []  # (case, class index, seconds) in the reader's order
    for case in participant.cases():
        column = study_truth.column_of[case.item.pk]
        if case.repeat == 0:
            readings.append((case, int(answers[column]), float(seconds[column])))
            continue
        again = int(answers[column])
        if rng.random() >= REPEAT_CONSISTENCY:
            again = int(simulated_answers(truth[column : column + 1], skill, confusion, rng)[0])
        took = float(rng.lognormal(np.log(MEDIAN_SECONDS), SECONDS_SPREAD))
        if again != truth[column]:
            took *= WRONG_ANSWER_SLOWDOWN
        readings.append((case, again, round(took, 1)))
    elapsed = np.cumsum([took for _, _, took in readings])
    saved = Answer.readings.bulk_create(
        Answer(
            participant=participant,
            item=case.item,
            repeat=case.repeat,
            class_index=class_index,
            active_seconds=took,
            answered_at=last - timedelta(seconds=float(elapsed[-1] - elapsed[k])),
            display_percentiles=percentiles,
        )
        for k, (case, class_index, took) in enumerate(readings)
    )
    _keep_history(saved)
    return saved


def _answer_beside_the_suggestions(
    alone: list[Answer], study_truth: StudyTruth, reliance: float, rng: np.random.Generator
) -> list[Answer]:
    """The final answers of a sequential study: each case's suggestion appears when the answer alone is
    given; the reader takes it with probability ``reliance`` where it differs, and answers within
    seconds."""
    aided = []
    for answer in alone:
        suggestion = study_truth.suggestions[answer.item_id]
        final = answer.class_index
        if suggestion.class_index != final and rng.random() < reliance:
            final = suggestion.class_index
        after = round(float(rng.lognormal(np.log(MEDIAN_SECONDS / 4), SECONDS_SPREAD)), 1)
        aided.append(
            Answer(
                participant_id=answer.participant_id,
                item_id=answer.item_id,
                repeat=answer.repeat,
                arm=Arm.AIDED,
                class_index=final,
                active_seconds=after,
                answered_at=answer.answered_at + timedelta(seconds=after),
                display_percentiles=answer.display_percentiles,
                suggested_class=suggestion.class_index,
                suggestion_probability=suggestion.probability,
                suggestion_source=suggestion.source,
                suggestion_shown_at=answer.answered_at,
                seconds_before_suggestion=answer.active_seconds,
                seconds_after_suggestion=after,
            )
        )
    saved = Answer.readings.bulk_create(aided)
    _keep_history(saved)
    return saved


def _keep_history(answers: list[Answer]) -> None:
    AnswerHistory.objects.bulk_create(
        AnswerHistory(
            answer=answer, class_index=answer.class_index, answered_at=answer.answered_at,
            active_seconds=answer.active_seconds,
        )
        for answer in answers
    )


def _look_at_the_gallery(
    participant: Participant, examples: dict[int, list[int]], first: datetime, last: datetime, rng: np.random.Generator
) -> None:
    looks = simulated_gallery_visits(participant, examples, first, last, rng)
    if looks:
        # ``visited_at`` is set on creation; the simulated moments are written after.
        moments = [look.visited_at for look in looks]
        looks = GalleryVisit.objects.bulk_create(looks)
        for look, moment in zip(looks, moments):
            look.visited_at = moment
        GalleryVisit.objects.bulk_update(looks, ["visited_at"])
