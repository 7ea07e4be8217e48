"""Small assisted studies whose every figure can be counted by hand: the readers' answers alone and with
the suggestion, saved as the reading pages save them (``Answer.readings`` with the arm fields)."""

from __future__ import annotations

from annotator.assistance import AssistanceSettings, set_assistance
from annotator.models import Answer, Arm, Cohort, Participant, Suggestion
from tests.analysis.test_study_arrays import add_model
from tests.factories import reading_study

# A sequential study of 8 cases (truth 0 to 7) whose suggestion is wrong on the last two.
TRUTH = [0, 1, 2, 3, 4, 5, 6, 7]
SUGGESTION = [0, 1, 2, 3, 4, 5, 7, 8]
# Each reader's answer alone (u) and final answer (f), per case.
SEQUENTIAL_READERS = {
    # helped on case 5; harmed on case 6 (took the wrong suggestion 7); kept right on case 7.
    "expert-01": ([0, 1, 2, 3, 4, 9, 6, 7], [0, 1, 2, 3, 4, 5, 7, 7]),
    # right alone throughout, kept every answer.
    "expert-02": ([0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]),
    # took every suggestion: helped on cases 2 and 3, wrong suggestions adopted on 6 and 7.
    "scholar-01": ([0, 1, 9, 9, 4, 5, 9, 9], [0, 1, 2, 3, 4, 5, 7, 8]),
    # ignored the right suggestion on case 1, kept right on case 6, adopted the wrong one on case 7.
    "scholar-02": ([0, 9, 2, 3, 4, 5, 6, 9], [0, 9, 2, 3, 4, 5, 6, 8]),
    # right alone throughout; then changed case 0 to a wrong class and took both wrong suggestions: harmed.
    "scholar-03": ([0, 1, 2, 3, 4, 5, 6, 7], [9, 1, 2, 3, 4, 5, 7, 8]),
}
SECONDS_ALONE, SECONDS_AFTER = 10.0, 4.0


def participant(study, pseudonym: str, sequence_group: int | None = None) -> Participant:
    """The study's participant of that pseudonym, made in the cohort its name starts with if need be."""
    cohort, _ = Cohort.objects.get_or_create(study=study, name=pseudonym.split("-")[0])
    found = Participant.objects.filter(study=study, pseudonym=pseudonym).first() or Participant.objects.create(
        study=study, cohort=cohort, pseudonym=pseudonym, order_seed=len(pseudonym)
    )
    if sequence_group is not None:
        found.sequence_group = sequence_group
        found.save(update_fields=["sequence_group"])
    return found


def read(study, pseudonym: str, alone: list[int | None], final: list[int | None], sessions=None, sequence_group=None):
    """Save a reader's answers alone and with the case's frozen suggestion; ``sessions`` gives a crossover's
    (session of the answer alone, session of the answer with the suggestion) per case."""
    reader = participant(study, pseudonym, sequence_group)
    items = list(study.items.order_by("position"))
    suggestions = {s.item_id: s for s in Suggestion.objects.filter(study=study)}
    for k, (item, u, f) in enumerate(zip(items, alone, final)):
        session_alone, session_aided = sessions[k] if sessions else (1, 1)
        if u is not None:
            Answer.readings.create(
                participant=reader, item=item, class_index=u, session=session_alone, active_seconds=SECONDS_ALONE,
                display_percentiles={},
            )
        if f is not None:
            suggestion = suggestions[item.pk]
            Answer.readings.create(
                participant=reader, item=item, arm=Arm.AIDED, class_index=f, session=session_aided,
                active_seconds=SECONDS_AFTER, display_percentiles={}, suggested_class=suggestion.class_index,
                suggestion_probability=suggestion.probability, suggestion_source=suggestion.source,
                seconds_before_suggestion=SECONDS_ALONE if not sessions else None,
                seconds_after_suggestion=SECONDS_AFTER,
            )
    return reader


def assisted_study(name: str, design: str = "sequential", suggestions=SUGGESTION, controlled: float = 0.0, **settings):
    """A study of ``len(suggestions)`` cases (truth 0, 1, 2, ...) whose suggestions are the run ``gapnet``'s."""
    reading = reading_study(name, test_samples=len(suggestions), train_samples=2)
    add_model(reading.study, "gapnet", list(suggestions))
    set_assistance(reading.study, AssistanceSettings(design, "gapnet", controlled_fraction=controlled, **settings))
    return reading.study


def sequential_study(name: str = "second-read"):
    """``SEQUENTIAL_READERS`` reading ``TRUTH`` with ``SUGGESTION``."""
    study = assisted_study(name)
    for pseudonym, (alone, final) in SEQUENTIAL_READERS.items():
        read(study, pseudonym, alone, final)
    return study
