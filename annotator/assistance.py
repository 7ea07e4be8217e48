"""Setting a study's assistance and asking, per reading, what the reader is shown.

The suggestions come from a model run's predictions, which this app does not store: the setting
``ASSISTANCE_SUGGESTION_SOURCE`` names the class that lists the runs with predictions for a study and
gives their output per case (``config.suggestions`` reads them from ``models_zoo``). Setting the
assistance freezes one ``Suggestion`` per case; it is refused once anyone has answered.

Crossover studies (``Assistance.Design.CROSSOVER``) read every case twice, once per session; which arm a
case is read in follows from its place in the first session: blocks of ``block_size`` cases alternate,
sequence group 0 starting unaided and group 1 aided; the second session reads the same blocks in a new
order (``annotator.models.second_session_plan``), every case in the other arm. Sequence groups are given in turn within
each cohort, so that the two are balanced in every cohort.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from annotator.models import Answer, Arm, Assistance, Participant, Suggestion, config_of
from study.models import Study
from study.operations import OperationError

CONTROLLED_STREAM = 0x5EED_0004


@dataclass(frozen=True)
class ModelOutput:
    """A model's output for one case: one probability per class, or only its class."""

    class_index: int
    probabilities: list[float] | None


@dataclass(frozen=True)
class RunCoverage:
    """A model run and how many of the study's cases it has predictions for."""

    name: str
    covered: int
    total: int

    @property
    def complete(self) -> bool:
        return self.covered == self.total


class SuggestionSource(Protocol):
    def runs(self, study: Study) -> list[RunCoverage]: ...

    def outputs(self, study: Study, run: str) -> dict[int, ModelOutput]:
        """The run's output per study sample (``StudySample`` primary key); raises ``KeyError`` for an
        unknown run."""


def suggestion_source() -> SuggestionSource:
    return import_string(settings.ASSISTANCE_SUGGESTION_SOURCE)()


def assistance_of(study: Study) -> Assistance:
    """The study's assistance; an unsaved ``none`` for a study that never had one."""
    try:
        return study.assistance
    except Assistance.DoesNotExist:
        return Assistance(study=study)


@dataclass(frozen=True)
class AssistanceSettings:
    design: str
    run: str = ""
    controlled_fraction: float = 0.0
    show_top_three: bool = False
    block_size: int = 10
    washout_days: int = 28
    aided_instructions: str = ""


def set_assistance(study: Study, wanted: AssistanceSettings) -> Assistance:
    """Make ``wanted`` the study's assistance and freeze its suggestions, all or nothing.

    Refused (``OperationError``, saying why) once anyone has answered, for a run that is not there or
    lacks predictions for some of the study's cases (naming how many), and for more controlled cases
    than the model gets right.
    """
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=study.pk)
        if Answer.readings.filter(participant__study=study).exists():
            raise OperationError(
                f"study {study.name}: participants have answered already; its assistance is fixed from the first answer"
            )
        if wanted.design == Assistance.Design.CROSSOVER and config_of(study).repeated_cases:
            raise OperationError(
                f"study {study.name}: a crossover study reads every case twice already; set its cases read twice to 0 first"
            )
        assistance = assistance_of(study)
        for field in ("design", "controlled_fraction", "show_top_three", "block_size", "washout_days", "aided_instructions"):
            setattr(assistance, field, getattr(wanted, field))
        assistance.source = wanted.run if wanted.design != Assistance.Design.NONE else ""
        assistance.full_clean(exclude=["study"])
        Suggestion.objects.filter(study=study).delete()
        if assistance.assisted:
            Suggestion.objects.bulk_create(_suggestions(study, wanted.run, wanted.controlled_fraction, wanted.show_top_three))
            assistance.set_at = timezone.now()
        else:
            assistance.set_at = None
        assistance.save()
        study.assistance = assistance
        return assistance


def _suggestions(study: Study, run: str, controlled_fraction: float, show_top_three: bool) -> list[Suggestion]:
    items = list(study.items.select_related("sample").prefetch_related("sample__reference_labels").order_by("position"))
    try:
        outputs = suggestion_source().outputs(study, run)
    except KeyError:
        raise OperationError(f"no model run named {run!r} has predictions for study {study.name}'s data set") from None
    missing = [item for item in items if item.pk not in outputs]
    if missing:
        raise OperationError(
            f"run {run!r} has no prediction for {len(missing)} of study {study.name}'s {len(items)} samples "
            f"(e.g. {missing[0].sample.source_id!r}); predict them first (manage.py predict {run} --dataset "
            f"{study.dataset.name}) or import them (manage.py import_predictions)"
        )
    n_classes = len(study.label_set)
    controlled = _controlled_items(study, items, outputs, controlled_fraction)
    suggestions = []
    for item in items:
        output = outputs[item.pk]
        ranked = _ranked(output, n_classes)
        shown = ranked[1] if item.pk in controlled else output.class_index
        probabilities = output.probabilities
        suggestions.append(
            Suggestion(
                study=study,
                item=item,
                class_index=shown,
                probability=float(probabilities[shown]) if probabilities else None,
                top=[[c, float(probabilities[c])] for c in ranked[:3]] if probabilities and show_top_three else [],
                source=Suggestion.Source.CONTROLLED if item.pk in controlled else Suggestion.Source.MODEL,
            )
        )
    return suggestions


def _ranked(output: ModelOutput, n_classes: int) -> list[int]:
    """The classes from the most to the least likely (the model's class first)."""
    if not output.probabilities:
        return [output.class_index] + [c for c in range(n_classes) if c != output.class_index]
    order = sorted(range(n_classes), key=lambda c: (-output.probabilities[c], c))
    return [output.class_index] + [c for c in order if c != output.class_index]


def _controlled_items(study: Study, items, outputs: dict[int, ModelOutput], fraction: float) -> set[int]:
    """The cases that show a controlled wrong class: drawn from the study's seed among those the model
    gets right, so that each shows a wrong class (the model's runner-up)."""
    count = round(fraction * len(items))
    if not count:
        return set()
    right = [item.pk for item in items if outputs[item.pk].class_index == item.sample.class_indices[0]]
    if count > len(right):
        raise OperationError(
            f"a controlled fraction of {fraction:g} needs {count} cases that the model gets right, to show a "
            f"wrong class instead; it gets {len(right)} right: at most {len(right) / len(items):.2f}"
        )
    rng = np.random.default_rng([CONTROLLED_STREAM, abs(int(study.seed))])
    return {right[i] for i in rng.permutation(len(right))[:count]}


def final_readings(assistance: Assistance, session: int = 1) -> Q:
    """The answers that finish a case: the unaided one of an unassisted study, the aided (final) one of a
    sequential study, either of a crossover session's."""
    if assistance.sequential:
        return Q(arm=Arm.AIDED)
    if assistance.crossover:
        return Q(session=session)
    return Q(arm=Arm.UNAIDED)


# ------------------------------------------------------------------ crossover


def ensure_sequence_group(participant: Participant) -> int:
    """The participant's sequence group, given on first need: the group with fewer members of their
    cohort (0 on a tie), so that both are balanced within every cohort."""
    if participant.sequence_group is not None:
        return participant.sequence_group
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=participant.study_id)
        fresh = Participant.objects.get(pk=participant.pk)
        if fresh.sequence_group is None:
            members = Participant.objects.filter(cohort_id=participant.cohort_id)
            fresh.sequence_group = int(members.filter(sequence_group=0).count() > members.filter(sequence_group=1).count())
            fresh.save(update_fields=["sequence_group"])
    participant.sequence_group = fresh.sequence_group
    return participant.sequence_group


def crossover_arm(assistance: Assistance, sequence_group: int, first_session_number: int, session: int = 1) -> str:
    """The arm of the case read at ``first_session_number`` (1-based) in the first session, in
    ``session``: blocks alternate in the first session, group 0 starting unaided and group 1 aided,
    and the second session reads every case in the other arm."""
    block = (first_session_number - 1) // assistance.block_size
    aided = (block + sequence_group + session - 1) % 2 == 1
    return Arm.AIDED if aided else Arm.UNAIDED


def second_session_opens(assistance: Assistance, participant: Participant) -> datetime | None:
    """When a crossover reader's second session opens: ``washout_days`` after they submitted the first."""
    if participant.first_session_submitted_at is None:
        return None
    return participant.first_session_submitted_at + timedelta(days=assistance.washout_days)
