"""The report's sections on the readers themselves, computed from arrays (``analysis.biases``): who they
are (each reader's accuracy beside their background answers), anchoring on the gallery, test-retest
consistency, reading time against correctness, and the instructions each reader was shown.

``analysis.report`` calls ``reader_sections`` with the people who have answered; nothing here touches
Django. Models are readers of the study but have no gallery, no second reading and no time: these
sections are about people only. Their words are ``analysis.report_words``'.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from analysis import report_words as words
from analysis.agreement import cohens_kappa_rows
from analysis.biases import anchoring, effect_across_readers, reading_time, retest_agreement
from analysis.report_content import (
    Anchoring,
    AnchoringEffectRow,
    AnchoringReaderRow,
    ClassLookupRow,
    Instructions,
    InstructionsSeenRow,
    InstructionsVersionRow,
    Part,
    ReaderRow,
    ReadingTimeRow,
    Retest,
    RetestCohortRow,
    RetestReaderRow,
    SeenVersion,
    TimeQuartileRow,
    finite_or_none,
)
from analysis.report_inputs import StudyAnswers
from analysis.reader_arrays import NO_ANSWER

ANCHORING_LEVEL = 0.95
# Each reader's accuracy gets a Wilson score interval (Wilson 1927): per reader, as cheap for 10,000
# readers as for ten, where a bootstrap per reader would not be.
READER_LEVEL = 0.95
MEDIAN_BLOCK = 1_000_000  # answers per block of the readers' median times


@dataclass(frozen=True)
class ReaderSections:
    readers: tuple[ReaderRow, ...]
    anchoring: Anchoring
    test_retest: Retest
    reading_time: tuple[ReadingTimeRow, ...]
    instructions: Instructions


def _row_medians(seconds: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Each row's median over its answered cases with a time (NaN for a row without any), a block of
    rows at a time so that a study of many readers is never copied whole."""
    medians = np.full(seconds.shape[0], np.nan)
    block = max(1, MEDIAN_BLOCK // max(seconds.shape[1], 1))
    for start in range(0, seconds.shape[0], block):
        part = np.sort(np.where(answered[start : start + block], seconds[start : start + block], np.nan), axis=1)
        counts = np.sum(np.isfinite(part), axis=1)
        rows = np.arange(part.shape[0])
        low = part[rows, np.maximum(counts - 1, 0) // 2]
        high = part[rows, np.minimum(counts // 2, part.shape[1] - 1)]
        medians[start : start + part.shape[0]] = np.where(counts > 0, (low + high) / 2, np.nan)
    return medians


def _members(rows: np.ndarray, chosen: list[int]):
    """``rows[chosen]`` as a slice when consecutive (people come cohort by cohort), so that indexing
    the answers with it gives a view, not a copy."""
    picked = rows[chosen]
    if picked.size and np.array_equal(picked, np.arange(picked[0], picked[0] + picked.size)):
        return slice(int(picked[0]), int(picked[0]) + picked.size)
    return picked


def _readers(data: StudyAnswers) -> tuple[ReaderRow, ...]:
    answered = data.answers != NO_ANSWER
    n_answered = answered.sum(axis=1)
    n_correct = np.sum((data.answers == data.truth) & answered, axis=1)
    if data.seconds is not None and data.n_samples:
        medians = _row_medians(data.seconds, answered)
    else:
        medians = np.full(len(data.people), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(n_answered > 0, n_correct / n_answered, np.nan)
        low, high = proportion_confint(n_correct, n_answered, alpha=1 - READER_LEVEL, method="wilson")
    rows = []
    for i, person in enumerate(data.people):
        given = data.covariates.get(person.pseudonym, {})
        rows.append(
            ReaderRow(
                reader=person.pseudonym,
                cohort=person.cohort,
                simulated=person.simulated,
                n_answered=int(n_answered[i]),
                accuracy=finite_or_none(accuracy[i]),
                accuracy_ci_low=finite_or_none(low[i]),
                accuracy_ci_high=finite_or_none(high[i]),
                median_seconds=finite_or_none(medians[i]),
                background={key: given.get(key) for key in data.covariate_keys},
            )
        )
    return tuple(rows)


def _anchoring(data: StudyAnswers, rows: np.ndarray, cohorts: list[str]) -> Anchoring:
    if data.looked_up is None:
        return Anchoring(note=words.NO_GALLERY_VISITS_GIVEN)
    if rows.size == 0:
        return Anchoring(note=words.NO_READER_ANSWERED)
    people = [data.people[i] for i in rows]
    everyone = _members(rows, list(range(rows.size)))
    answers, looked = data.answers[everyone], data.looked_up[everyone]
    result = anchoring(answers, data.truth, looked, data.n_classes, level=ANCHORING_LEVEL)
    lookups = defaultdict(list)
    for lookup in data.gallery:
        lookups[lookup.pseudonym].append(lookup)
    answered = answers != NO_ANSWER
    # Each reader's answered cases of each class they had looked up: one count over all readers.
    reader_of = np.broadcast_to(np.arange(len(people))[:, np.newaxis], answers.shape)
    chosen = looked & answered
    cases_looked_up = np.bincount(
        reader_of[chosen] * data.n_classes + np.broadcast_to(data.truth, answers.shape)[chosen],
        minlength=len(people) * data.n_classes,
    ).reshape(len(people), data.n_classes)
    readers = []
    for k, (person, reader) in enumerate(zip(people, result.readers)):
        per_class = cases_looked_up[k]
        readers.append(
            AnchoringReaderRow(
                reader=person.pseudonym,
                cohort=person.cohort,
                simulated=person.simulated,
                n_looked_up=reader.n_looked_up,
                n_not_looked_up=reader.n_not_looked_up,
                accuracy_looked_up=finite_or_none(reader.accuracy_looked_up),
                accuracy_not_looked_up=finite_or_none(reader.accuracy_not_looked_up),
                difference=finite_or_none(reader.difference),
                classes_looked_up=tuple(
                    ClassLookupRow(
                        data.class_names[lookup.class_index], lookup.first_viewed_at, lookup.n_views,
                        int(per_class[lookup.class_index]),
                    )
                    for lookup in lookups[person.pseudonym]
                ),
            )
        )
    differences = np.array([reader.difference for reader in result.readers], dtype=float)
    groups = [(cohort, [k for k, p in enumerate(people) if p.cohort == cohort]) for cohort in cohorts]
    groups.append((None, list(range(len(people)))))
    effects = []
    for cohort, members in groups:
        if not members:
            continue
        effect = effect_across_readers(differences[members], level=ANCHORING_LEVEL)
        effects.append(
            AnchoringEffectRow(
                cohort=cohort,
                simulated=any(people[k].simulated for k in members),
                n_readers=effect.n_readers,
                mean_difference=finite_or_none(effect.mean_difference),
                ci_low=finite_or_none(effect.ci_low),
                ci_high=finite_or_none(effect.ci_high),
                statistic=finite_or_none(effect.statistic),
                p_value=finite_or_none(effect.pvalue),
                level=effect.level,
                summary=words.anchoring_summary(cohort, effect),
            )
        )
    n_views = sum(lookup.n_views for lookup in data.gallery)
    note = None
    if not n_views:
        note = words.NO_GALLERY_OPENED
    elif not looked.any():
        note = words.NO_LOOK_BEFORE_ANSWER
    return Anchoring(readers=tuple(readers), effects=tuple(effects), n_gallery_views=n_views, note=note)


def _pooled(first: np.ndarray, second: np.ndarray, n_classes: int) -> float | None:
    """Cohen's kappa of two 1-D readings pooled over readers (None when undefined or empty)."""
    if first.size == 0:
        return None
    return finite_or_none(cohens_kappa_rows(first[np.newaxis], second[np.newaxis], n_classes).kappa[0])


def _test_retest(data: StudyAnswers, rows: np.ndarray, cohorts: list[str]) -> Retest:
    repeats = data.repeats
    if repeats is None or (repeats.n_configured == 0 and repeats.columns.size == 0):
        return Retest(note=words.NO_REPEATED_CASES)
    if repeats.columns.size == 0:
        return Retest(n_repeated_cases=repeats.n_configured, note=words.repeats_not_read_twice(repeats.n_configured))
    if rows.size == 0:
        return Retest(n_repeated_cases=int(repeats.columns.size), note=words.NO_READER_ANSWERED)
    people = [data.people[i] for i in rows]
    first, second = repeats.first[rows].astype(np.int64), repeats.second[rows].astype(np.int64)
    truth = data.truth[repeats.columns]
    both = (first != NO_ANSWER) & (second != NO_ANSWER)
    consistency = retest_agreement(first, second, truth, data.n_classes)
    truth_rows = np.where(both, truth, NO_ANSWER)
    kappa_first = cohens_kappa_rows(np.where(both, first, NO_ANSWER), truth_rows, data.n_classes).kappa
    kappa_second = cohens_kappa_rows(np.where(both, second, NO_ANSWER), truth_rows, data.n_classes).kappa
    readers = tuple(
        RetestReaderRow(
            reader=person.pseudonym,
            cohort=person.cohort,
            simulated=person.simulated,
            n_repeats=row.n_repeats,
            kappa=finite_or_none(row.kappa),
            accuracy_first=finite_or_none(row.accuracy_first),
            accuracy_second=finite_or_none(row.accuracy_second),
            kappa_first_truth=finite_or_none(kappa_first[k]),
            kappa_second_truth=finite_or_none(kappa_second[k]),
        )
        for k, (person, row) in enumerate(zip(people, consistency))
        if row.n_repeats
    )
    cohort_rows = []
    for cohort in cohorts:
        members = [k for k, p in enumerate(people) if p.cohort == cohort and consistency[k].n_repeats]
        if not members:
            continue
        kappas = np.array([consistency[k].kappa for k in members])
        mask = both[members]
        pooled_first, pooled_second = first[members][mask], second[members][mask]
        pooled_truth = np.broadcast_to(truth, mask.shape)[mask]
        cohort_rows.append(
            RetestCohortRow(
                cohort=cohort,
                simulated=any(people[k].simulated for k in members),
                n_readers=len(members),
                n_pairs=int(mask.sum()),
                mean_kappa=None if np.all(np.isnan(kappas)) else float(np.nanmean(kappas)),
                pooled_kappa=_pooled(pooled_first, pooled_second, data.n_classes),
                accuracy_first=float(np.mean(pooled_first == pooled_truth)),
                accuracy_second=float(np.mean(pooled_second == pooled_truth)),
                kappa_first_truth=_pooled(pooled_first, pooled_truth, data.n_classes),
                kappa_second_truth=_pooled(pooled_second, pooled_truth, data.n_classes),
            )
        )
    return Retest(n_repeated_cases=int(max(repeats.n_configured, repeats.columns.size)), readers=readers,
                  cohorts=tuple(cohort_rows))


def _reading_time(data: StudyAnswers, rows: np.ndarray, cohorts: list[str]) -> tuple[ReadingTimeRow, ...]:
    if data.seconds is None:
        return ()
    people = [data.people[i] for i in rows]
    out = []
    for cohort in cohorts:
        chosen = [k for k, p in enumerate(people) if p.cohort == cohort]
        if not chosen:
            continue
        members = _members(rows, chosen)
        answers, seconds = data.answers[members], data.seconds[members]
        result = reading_time(answers, data.truth, seconds, data.n_classes)
        answered = answers != NO_ANSWER
        out.append(
            ReadingTimeRow(
                cohort=cohort,
                simulated=any(people[k].simulated for k in chosen),
                n_readers=len(chosen),
                n_cases=result.n_cases,
                n_untimed=int(np.sum(answered) - result.n_cases),
                spearman_rho=finite_or_none(result.spearman_rho),
                p_value=finite_or_none(result.pvalue),
                quartiles=tuple(
                    TimeQuartileRow(q.quartile, q.n_cases, q.median_seconds, q.accuracy) for q in result.quartiles
                ),
                summary=words.reading_time_summary(cohort, result),
            )
        )
    return tuple(out)


def _instructions(data: StudyAnswers) -> Part[Instructions]:
    """Every version of the instructions and who saw which; different versions are a warning for the
    whole report, participants who never opened the page a note of the section."""
    by_reader = defaultdict(list)
    first_seen, seen_by = {}, defaultdict(set)
    for record in data.instructions:
        by_reader[record.pseudonym].append(SeenVersion(record.digest, record.first_seen_at))
        first_seen[record.digest] = min(first_seen.get(record.digest, record.first_seen_at), record.first_seen_at)
        seen_by[record.digest].add(record.pseudonym)
    versions = tuple(
        InstructionsVersionRow(
            digest, first_seen[digest], len(seen_by[digest]), data.instructions_texts.get(digest, "")
        )
        for digest in sorted(first_seen, key=lambda digest: (first_seen[digest], digest))
    )
    participants = tuple(
        InstructionsSeenRow(
            p.pseudonym, p.cohort, p.simulated,
            tuple(sorted(by_reader[p.pseudonym], key=lambda seen: (seen.first_seen_at, seen.digest))),
        )
        for p in data.people
    )
    never = [p for p in data.people if not by_reader[p.pseudonym]]
    sentences, notes = [], ()
    if len(versions) > 1:
        sentences.append(words.instruction_versions_sentence(versions))
        notes = (words.instruction_versions_note(versions),)
    if never:
        sentences.append(
            words.instructions_never_opened_sentence(len(never), len(data.people), sum(p.simulated for p in never))
        )
    section = Instructions(versions=versions, participants=participants, note=" ".join(sentences) or None)
    return Part(section, notes)


def reader_sections(data: StudyAnswers, rows: np.ndarray, cohorts: list[str]) -> Part[ReaderSections]:
    """The sections on the readers: ``rows`` are the people (rows of ``data.answers``) with answers,
    ``cohorts`` in the report's order; the notes are those the whole report should carry."""
    instructions = _instructions(data)
    sections = ReaderSections(
        readers=_readers(data),
        anchoring=_anchoring(data, rows, cohorts),
        test_retest=_test_retest(data, rows, cohorts),
        reading_time=_reading_time(data, rows, cohorts),
        instructions=instructions.value,
    )
    return Part(sections, instructions.notes)
