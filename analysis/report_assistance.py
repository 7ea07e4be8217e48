"""The report's section on the assisted arm of a study read with the machine's suggestion, computed from
arrays (``analysis.assistance*``): aided against unaided as a two-modality ORH per cohort and over all
readers, each model against the readers reading with the suggestion, each reader's change (helped,
harmed), switches and reliance, accuracy by whether the suggestion was right, reading time and, for a
crossover, the period and sequence effects.

Model and controlled suggestions are kept apart. A controlled suggestion is a property of a case (frozen
with the study's suggestions), so the comparison of aided with unaided reading is made on the cases that
showed the model's own suggestion (``ArmReadings.model``), and the switches and the accuracy by suggestion
of the controlled cases are reported beside, as such (``ArmReadings.controlled``).

``analysis.report`` calls ``assistance_section`` when the study has an ``AssistedArm``; ``plan_study``
takes ``arm_readings`` to size an assisted study from a study's own pilot. Nothing here touches Django.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis import report_words as words
from analysis.assistance import AssistedReadings, assisted_readings, orh_aided_vs_unaided, suggestion_strata
from analysis.assistance_readers import HARMED, HELPED, reader_changes
from analysis.assistance_switches import COHORT, READER, switches
from analysis.assistance_time import assisted_reading_time, crossover_effects
from analysis.mrmc import FIXED_READERS_RANDOM_CASES, RANDOM_READERS_RANDOM_CASES, model_vs_readers_on_answers
from analysis.reader_arrays import NO_ANSWER
from analysis.report_content import (
    AidedOrhRow,
    AssistanceSection,
    AssistedTimeRow,
    CrossoverEffectRow,
    MRMCRow,
    Note,
    Part,
    WARNING,
    ReaderChangeRow,
    SuggestionStratumRow,
    SwitchRow,
    finite_or_none,
)
from analysis.report_inputs import SEQUENTIAL, StudyAnswers
from models_zoo.classification_figures import MetricInputError

LEVEL = 0.95
MODEL, CONTROLLED = "model", "controlled"
MODEL_FOMS = ("accuracy", "f1")
MODEL_VARIANTS = (RANDOM_READERS_RANDOM_CASES, FIXED_READERS_RANDOM_CASES)


@dataclass(frozen=True, eq=False)
class ArmReadings:
    """The readers of the assisted arm (``rows`` of ``StudyAnswers.people``: those who read some case both
    alone and with the suggestion) on the cases with the model's own suggestion (``model``, in the study's
    columns ``model_columns``) and on those with a controlled one (``controlled``, None without any)."""

    rows: np.ndarray
    model_columns: np.ndarray
    model: AssistedReadings
    controlled_columns: np.ndarray
    controlled: AssistedReadings | None


def arm_readings(data: StudyAnswers) -> ArmReadings | None:
    """The arm's readings, model and controlled suggestions apart; None when no one has read a case both ways."""
    arm = data.assisted
    both = (data.answers != NO_ANSWER) & (arm.aided != NO_ANSWER)
    rows = np.flatnonzero(both.any(axis=1))
    if rows.size == 0:
        return None
    controlled_case = arm.controlled.any(axis=0)
    people = [data.people[i] for i in rows]

    def readings(columns: np.ndarray) -> AssistedReadings:
        return assisted_readings(
            data.answers[np.ix_(rows, columns)], arm.aided[np.ix_(rows, columns)], arm.suggestion[np.ix_(rows, columns)],
            data.truth[columns], data.n_classes, readers=[p.pseudonym for p in people],
            cohorts=[p.cohort for p in people],
        )

    model_columns, controlled_columns = np.flatnonzero(~controlled_case), np.flatnonzero(controlled_case)
    return ArmReadings(
        rows=rows,
        model_columns=model_columns,
        model=readings(model_columns),
        controlled_columns=controlled_columns,
        controlled=readings(controlled_columns) if controlled_columns.size else None,
    )


def _simulated_of(data: StudyAnswers, arm: ArmReadings) -> dict[str | None, bool]:
    """Whether each cohort (None: all readers) of the arm includes a simulated reader."""
    people = [data.people[i] for i in arm.rows]
    simulated = {cohort: any(p.simulated for p in people if p.cohort == cohort) for cohort in arm.model.cohorts}
    simulated[None] = any(p.simulated for p in people)
    return simulated


def assistance_section(data: StudyAnswers) -> Part[AssistanceSection]:
    """The assisted arm's section of the report; its notes (what was left out) are the report's too."""
    study_arm = data.assisted
    arm = arm_readings(data)
    source, design = study_arm.source, study_arm.design
    if arm is None:
        return Part(
            AssistanceSection(
                design=design, source=source, level=LEVEL, n_model_cases=0, n_wrong_suggestions=0, n_wrong_readings=0,
                n_controlled_cases=0, summary=(words.assistance_design_sentence(design, source),),
            ),
            (Note(WARNING, words.NO_ASSISTED_READINGS),),
        )
    simulated = _simulated_of(data, arm)
    orh = orh_aided_vs_unaided(arm.model, level=LEVEL)
    changes = reader_changes(arm.model, level=LEVEL)
    reader_rows = tuple(
        ReaderChangeRow(**vars(change), simulated=data.people[arm.rows[j]].simulated)
        for j, change in enumerate(changes.rows)
    )
    notes = [Note(WARNING, note) for note in orh.notes]
    crossover = ()
    if study_arm.crossover:
        crossover_part = _crossover(data, arm, simulated)
        crossover, notes = crossover_part.value, notes + list(crossover_part.notes)
    model_rows = _model_vs_aided(data, arm, simulated)
    notes += model_rows.notes
    switch_rows = _switches(data, arm, simulated)
    shown = arm.model.with_suggestion
    wrong = shown & (arm.model.suggestion != arm.model.truth)
    n_cases, n_wrong, n_wrong_readings = int(shown.any(axis=0).sum()), int(wrong.any(axis=0).sum()), int(wrong.sum())
    n_rsr = sum(row.n_rsr_cases for row in switch_rows if row.level == COHORT and row.suggestion_source == MODEL)
    summary = [
        words.assistance_design_sentence(design, source),
        words.wrong_suggestions_sentence(n_wrong, n_cases, n_wrong_readings, n_rsr),
    ]
    if arm.controlled is not None:
        summary.append(words.controlled_sentence(int(arm.controlled_columns.size)))
    return Part(
        AssistanceSection(
            design=design,
            source=source,
            level=LEVEL,
            n_model_cases=n_cases,
            n_wrong_suggestions=n_wrong,
            n_wrong_readings=n_wrong_readings,
            n_controlled_cases=int(arm.controlled_columns.size),
            summary=tuple(summary),
            orh=tuple(_orh_row(row, simulated) for row in orh.rows),
            model_vs_aided=model_rows.value,
            readers=reader_rows,
            readers_summary=words.harmed_readers_sentence(
                [row.reader for row in reader_rows if row.verdict == HARMED],
                [row.reader for row in reader_rows if row.verdict == HELPED],
                changes.caveat,
            ),
            caveat=changes.caveat,
            switches=switch_rows,
            by_suggestion=_by_suggestion(arm, simulated),
            reading_time=_reading_time(data, arm, simulated),
            crossover=crossover,
        ),
        tuple(notes),
    )


def _orh_row(row, simulated: dict) -> AidedOrhRow:
    return AidedOrhRow(
        cohort=row.cohort, simulated=simulated[row.cohort], fom=row.fom, variant=row.variant, n_readers=row.n_readers,
        n_cases=row.n_cases, unaided_fom=row.unaided_fom, aided_fom=row.aided_fom, effect=row.effect, se=row.se,
        df=row.df, ci_low=row.ci_low, ci_high=row.ci_high, p_value=row.p_value, var_tr=row.var_tr,
        summary=words.aided_orh_summary(
            cohort=row.cohort, fom=row.fom, variant=row.variant, n_readers=row.n_readers, effect=row.effect,
            se=row.se, ci_low=row.ci_low, ci_high=row.ci_high, level=LEVEL,
        ),
    )


def _model_vs_aided(data: StudyAnswers, arm: ArmReadings, simulated: dict) -> Part[tuple[MRMCRow, ...]]:
    """Every model against every cohort of two or more readers reading with the suggestion, on the cases
    with the model's own suggestion."""
    rows, notes = [], []
    readings = arm.model
    for model in data.models:
        answers = model.answers[arm.model_columns]
        for cohort in readings.cohorts:
            members = readings.members(cohort)
            if members.sum() < 2:
                continue
            for fom in MODEL_FOMS:
                try:
                    result = model_vs_readers_on_answers(
                        answers, readings.aided[members], readings.truth, data.n_classes, fom=fom, level=LEVEL
                    )
                except MetricInputError as error:
                    notes.append(words.mrmc_left_out_note(model.name, cohort, fom, error))
                    continue
                for variant in MODEL_VARIANTS:
                    test = getattr(result, variant)
                    rows.append(
                        MRMCRow(
                            model=model.name, cohort=cohort, simulated=simulated[cohort], fom=fom, variant=variant,
                            n_readers=int(members.sum()), n_cases=result.components.n_cases,
                            n_cases_dropped=result.n_cases_dropped, model_fom=result.model_fom,
                            mean_reader_fom=result.mean_reader_fom, effect=test.effect, se=test.std_error, df=test.df,
                            ci_low=test.ci_low, ci_high=test.ci_high, level=test.level, p_value=test.p_value,
                            p_noninferiority=None,
                            summary=words.mrmc_summary(
                                model=model.name, cohort=cohort, fom=fom, variant=variant,
                                n_readers=int(members.sum()), effect=test.effect, ci_low=test.ci_low,
                                ci_high=test.ci_high, level=test.level, aided=True,
                            ),
                        )
                    )
    return Part(tuple(rows), tuple(notes))


def _change_without_suggestion(data: StudyAnswers, arm: ArmReadings) -> tuple[np.ndarray, np.ndarray]:
    """Per reader of the arm, the repeated cases read twice alone and how many of them they answered
    differently the second time (test-retest: the change that comes without any suggestion)."""
    repeats = data.repeats
    if repeats is None or repeats.first.size == 0:
        zeros = np.zeros(arm.rows.size, dtype=np.int64)
        return zeros, zeros
    first, second = repeats.first[arm.rows], repeats.second[arm.rows]
    pairs = (first != NO_ANSWER) & (second != NO_ANSWER)
    return pairs.sum(axis=1), (pairs & (first != second)).sum(axis=1)


def _switches(data: StudyAnswers, arm: ArmReadings, simulated: dict) -> tuple[SwitchRow, ...]:
    n_pairs, n_changed = _change_without_suggestion(data, arm)
    by_reader = {name: j for j, name in enumerate(arm.model.readers)}
    rows = []
    for source, readings in ((MODEL, arm.model), (CONTROLLED, arm.controlled)):
        if readings is None:
            continue
        for row in switches(readings):
            if row.level == READER:
                chosen = np.array([by_reader[row.name]])
                flagged = data.people[arm.rows[chosen[0]]].simulated
            else:
                chosen = np.flatnonzero(readings.members(row.cohort))
                flagged = simulated[row.cohort]
            pairs, changed = int(n_pairs[chosen].sum()), int(n_changed[chosen].sum())
            rows.append(
                SwitchRow(
                    **vars(row), simulated=flagged, suggestion_source=source,
                    unaided_change_rate=changed / pairs if pairs else None, n_retest_pairs=pairs,
                )
            )
    return tuple(rows)


def _by_suggestion(arm: ArmReadings, simulated: dict) -> tuple[SuggestionStratumRow, ...]:
    """The model's suggestions right and wrong, then the controlled ones (wrong by design)."""
    rows = []
    for source, readings in ((MODEL, arm.model), (CONTROLLED, arm.controlled)):
        if readings is None:
            continue
        for stratum in suggestion_strata(readings):
            if source == CONTROLLED and stratum.suggestion_correct:
                continue
            rows.append(SuggestionStratumRow(**vars(stratum), simulated=simulated[stratum.cohort], suggestion_source=source))
    return tuple(rows)


def _reading_time(data: StudyAnswers, arm: ArmReadings, simulated: dict) -> tuple[AssistedTimeRow, ...]:
    """Alone against with the suggestion: in a sequential study the time to the final answer is the answer
    alone's and the final answer's together; in a crossover each reading's own."""
    if data.seconds is None:
        return ()
    study_arm, cells = data.assisted, np.ix_(arm.rows, arm.model_columns)
    unaided = data.seconds[cells]
    aided = study_arm.aided_seconds[cells]
    after = None
    if study_arm.design == SEQUENTIAL:
        aided = unaided + np.nan_to_num(aided)
        after = study_arm.seconds_after_suggestion[cells]
    result = assisted_reading_time(arm.model, unaided, aided, seconds_after_suggestion=after)
    kinds = (("arms", "unaided", "aided", result.arms), ("after_suggestion", "agreed", "disagreed", result.after_suggestion))
    return tuple(
        AssistedTimeRow(
            comparison=comparison, cohort=paired.cohort, simulated=simulated[paired.cohort], first=first, second=second,
            n_readers=paired.n_readers, n_first=paired.n_first, n_second=paired.n_second,
            median_first_seconds=paired.median_first, median_second_seconds=paired.median_second,
            median_difference_seconds=paired.median_difference, statistic=paired.statistic, p_value=paired.p_value,
            test=paired.test,
        )
        for comparison, first, second, results in kinds
        for paired in results
    )


def _crossover(data: StudyAnswers, arm: ArmReadings, simulated: dict) -> Part[tuple[CrossoverEffectRow, ...]]:
    study_arm, cells = data.assisted, np.ix_(arm.rows, arm.model_columns)
    groups = [study_arm.sequence_groups[i] for i in arm.rows]
    try:
        effects = crossover_effects(
            arm.model, study_arm.unaided_session[cells], study_arm.aided_session[cells],
            ["none" if group is None else str(group) for group in groups], level=LEVEL,
        )
    except MetricInputError as error:
        return Part((), (Note(WARNING, words.crossover_left_out_note(error)),))
    rows = tuple(
        CrossoverEffectRow(
            cohort=result.cohort, simulated=simulated[result.cohort], effect=name, n_readers=effect.n_readers,
            estimate=finite_or_none(effect.estimate), std_error=finite_or_none(effect.std_error),
            df=finite_or_none(effect.df), statistic=finite_or_none(effect.statistic),
            p_value=finite_or_none(effect.p_value), ci_low=finite_or_none(effect.ci_low),
            ci_high=finite_or_none(effect.ci_high), method=effect.method, **result.accuracy,
        )
        for result in effects
        for name, effect in (("period", result.period), ("sequence", result.sequence), ("carryover", result.carryover))
    )
    return Part(rows)
