"""What a participant learns from before the study: the training phase of their cohort and the gallery.

As in the paper (section 3.2), the scholars were taught with training samples of each class before they
started, and the experts browsed the training set at will. A cohort's coordinator decides both:

- ``Cohort.training_required``: the class descriptions with an example each, then practice cases (single-
  location training samples, ``Cohort.practice_cases`` of them, chosen per participant from their order
  seed) with the correct class shown after each choice, and a score at the end. The study's cases open
  only after it. Practice answers are kept in ``PracticeAnswer``, apart from the study's answers.
- ``Cohort.gallery_scope``: whether the gallery shows single-location training samples only, or the
  whole training split, multi-location samples marked as such with all their classes.

Everything here comes from the training split; no test sample is ever a practice case or an example.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from django.db.models import Count, QuerySet

from annotator.models import PRACTICE_STREAM, Cohort, Participant, PracticeAnswer
from study.models import ReferenceLabel, Sample, Study


def training_samples(study: Study) -> QuerySet[Sample]:
    """Every training sample of the study's data set."""
    return Sample.objects.filter(dataset_id=study.dataset_id, split=Sample.Split.TRAIN)


def single_location_training_samples(study: Study) -> QuerySet[Sample]:
    """The training samples of the study's data set that have exactly one location."""
    return training_samples(study).annotate(locations=Count("reference_labels")).filter(locations=1)


def gallery_labels(study: Study, scope: str) -> QuerySet[ReferenceLabel]:
    """The reference labels the gallery lists its examples by: of the single-location training samples,
    or (scope ``all``) of every training sample, so that a multi-location sample is an example of
    each of its classes."""
    if scope == Cohort.GalleryScope.ALL:
        return ReferenceLabel.objects.filter(sample__in=training_samples(study))
    return ReferenceLabel.objects.filter(sample__in=single_location_training_samples(study))


def practice_samples(participant: Participant) -> list[Sample]:
    """The participant's practice cases, in order: single-location training samples drawn from their
    order seed. A larger ``practice_cases`` keeps the cases of a smaller one, in the same order."""
    pks = list(single_location_training_samples(participant.study).order_by("pk").values_list("pk", flat=True))
    rng = np.random.default_rng([PRACTICE_STREAM, participant.order_seed])
    chosen = [pks[i] for i in rng.permutation(len(pks))[: participant.cohort.practice_cases]]
    samples = Sample.objects.prefetch_related("reference_labels").in_bulk(chosen)
    # A case answered already is the sample it was answered on, whatever the data set became since.
    answered = PracticeAnswer.objects.filter(participant_id=participant.pk)
    if participant.pk is None:
        answered = answered.none()
    for answer in answered.select_related("sample").prefetch_related("sample__reference_labels"):
        if answer.number <= len(chosen):
            chosen[answer.number - 1] = answer.sample.pk
            samples[answer.sample.pk] = answer.sample
    return [samples[pk] for pk in chosen]


def class_examples(participant: Participant) -> dict[int, Sample]:
    """One single-location training example per class for the training's class descriptions: the
    first (by import) that is not one of the participant's practice cases, else the first."""
    practice = {sample.pk for sample in practice_samples(participant)}
    examples: dict[int, Sample] = {}
    fallback: dict[int, Sample] = {}
    labels = (
        ReferenceLabel.objects.filter(sample__in=single_location_training_samples(participant.study))
        .select_related("sample")
        .order_by("class_index", "sample_id")
    )
    for label in labels:
        fallback.setdefault(label.class_index, label.sample)
        if label.sample_id not in practice:
            examples.setdefault(label.class_index, label.sample)
    return {index: examples.get(index, sample) for index, sample in fallback.items()}


@dataclass(frozen=True)
class PracticeScore:
    answered: int
    correct: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.answered if self.answered else 0.0


def practice_score(participant: Participant) -> PracticeScore:
    answers = list(participant.practice_answers.values_list("correct", flat=True))
    return PracticeScore(answered=len(answers), correct=sum(answers), total=len(practice_samples(participant)))


def record_practice_answer(participant: Participant, number: int, sample: Sample, class_index: int) -> PracticeAnswer:
    """The participant's answer to practice case ``number``; the first one counts, a second is ignored."""
    answer, _ = PracticeAnswer.objects.get_or_create(
        participant=participant,
        number=number,
        defaults={"sample": sample, "class_index": class_index, "correct": class_index in sample.class_indices},
    )
    return answer

