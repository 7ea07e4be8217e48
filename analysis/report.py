"""The comparison of a reading study, computed from arrays: the paper's Tables 1, 2, 3 and 7, Figure 4
and the cases of its appendix (Rumetshofer et al., ICLR 2019, section 4 and appendix 7.4-7.5), and
beyond the paper each model against the population of readers of each cohort (ORH multi-reader
multi-case analysis) and the agreement between readers.

The input is a ``StudyAnswers`` (``analysis.report_inputs``); the output is a ``Report`` of named rows
(``analysis.report_content``). Each part is computed by a function of its own that returns its rows
with the notes it has to make (``Part``); nothing here touches Django or the file system, so the same
code serves the command, the analyst page and the benchmark.

Conventions:

- The readers of cohort ``expert`` get a Table 2 row each; every other cohort gets the mean of its
  readers. Every cohort of two or more readers gets a majority-vote ensemble, ties drawn ``repetitions``
  times from ``seed``.
- Table 3 tests every other model, every person and every ensemble against the first model.
- Table 2's intervals are percentile bootstraps over samples, ``BOOTSTRAP_RESAMPLES`` from ``seed``:
  of each single reader, of each ensemble (a tie-breaking draw inside each resample) and of each
  cohort's mean (a cohort of more than ``COHORT_BOOTSTRAP_MAX_ANSWERS`` answers gets none, noted).
- Every model is analysed against every cohort of two or more readers (``analysis.mrmc``), accuracy
  and macro F1, random readers and fixed readers, on the samples the model and all of them answered.
- Agreement: Fleiss' kappa of every cohort of two or more readers, Cohen's kappa of every pair of
  readers (people and models; only the pairs with a model when there are more than
  ``MAX_PAIRWISE_PEOPLE`` people), and each cohort's and model's accuracy per true class.
- The readers (people only, ``analysis.report_readers``): each one's accuracy beside their background
  answers; anchoring on the gallery per reader, per cohort and over all readers; test-retest kappa per
  reader and cohort; accuracy per quartile of reading time per cohort; the instructions each saw.
- The assisted arm of a study read with the machine's suggestion (``analysis.report_assistance``): aided
  against unaided per cohort and over all readers, each reader's change, switches, accuracy by whether the
  suggestion was right, reading time and a crossover's effects; absent for a study read unaided.
- Without missing answers an unanswered sample cannot occur. With ``allow_missing`` each reader is
  scored on the samples they answered (``unanswered="exclude"``), McNemar's test on the samples both
  answered.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from analysis import report_words as words
from analysis.agreement import cohens_kappa_matrix, fleiss_kappa, per_class_accuracy
from analysis.ensembles import MajorityVote, majority_vote_ensemble
from analysis.intervals import bootstrap_intervals, cohort_mean_bootstrap_intervals, ensemble_bootstrap_intervals
from analysis.mrmc import FIXED_READERS_RANDOM_CASES, RANDOM_READERS_RANDOM_CASES, model_vs_readers_on_answers
from analysis.reader_metrics import confusion_matrix, readers_metrics
from analysis.report_content import (
    Agreement,
    Case,
    ClassAccuracyRow,
    CohenRow,
    Confusions,
    FleissRow,
    MRMCRow,
    Part,
    Report,
    Table1Row,
    Table2Row,
    Table3Row,
    Table7,
    finite_or_none,
)
from analysis.report_inputs import (
    DEFAULT_REPETITIONS,
    DEFAULT_SEED,
    MissingAnswersError,
    Person,
    ReportError,
    StudyAnswers,
    TestSplit,
)
from analysis.report_assistance import assistance_section
from analysis.report_readers import reader_sections
from analysis.significance import mcnemar_each, paired_table, wilcoxon_best_against_others
from analysis.reader_arrays import NO_ANSWER
from models_zoo.classification_figures import MetricInputError, model_performance, multilabel_metrics

EXPERT_COHORT = "expert"
BOOTSTRAP_RESAMPLES = 2000
# A cohort's mean is resampled reader by reader: its cost grows as readers x samples x classes x
# resamples (about 0.3 s for 250 readers x 2,000 samples on one core), so a larger cohort goes without.
COHORT_BOOTSTRAP_MAX_ANSWERS = 500_000
# Cohen's kappa of every pair of people above this many would be tens of thousands of rows.
MAX_PAIRWISE_PEOPLE = 100
MRMC_FOMS = ("accuracy", "f1")
MRMC_VARIANTS = (RANDOM_READERS_RANDOM_CASES, FIXED_READERS_RANDOM_CASES)
MRMC_LEVEL = 0.95

@dataclass(frozen=True, eq=False)
class Cohort:
    """The people of one cohort who have answered: their rows of the answers, whether any is simulated."""

    name: str
    members: list[int]
    answers: np.ndarray
    simulated: bool


@dataclass(frozen=True, eq=False)
class Readers:
    """The study's readers as the report compares them: the people who have answered, in cohorts (experts
    first), and the models; ``unanswered`` is the scoring of a missing answer."""

    data: StudyAnswers
    rows: np.ndarray  # the rows of data.answers of the people who have answered
    people: tuple[Person, ...]
    answers: np.ndarray
    cohorts: tuple[Cohort, ...]
    unanswered: str
    seed: int

    @classmethod
    def of(cls, data: StudyAnswers, *, seed: int, allow_missing: bool) -> Readers:
        rows = np.flatnonzero((data.answers != NO_ANSWER).any(axis=1))
        people = tuple(data.people[i] for i in rows)
        answers = data.answers[rows]
        names = sorted({p.cohort for p in people}, key=lambda name: (name != EXPERT_COHORT, name))
        cohorts = []
        for name in names:
            members = [i for i, p in enumerate(people) if p.cohort == name]
            # A cohort's mean or ensemble that includes a simulated reader is marked as simulated.
            cohorts.append(Cohort(name, members, answers[members], any(people[i].simulated for i in members)))
        return cls(data, rows, people, answers, tuple(cohorts), "exclude" if allow_missing else "wrong", seed)

    @property
    def cohort_names(self) -> list[str]:
        return [cohort.name for cohort in self.cohorts]

    @property
    def model(self) -> np.ndarray | None:
        """The answers of the model that Table 3 tests everyone against: the first."""
        return self.data.models[0].answers if self.data.models else None


def compute_report(
    data: StudyAnswers,
    *,
    seed: int = DEFAULT_SEED,
    repetitions: int = DEFAULT_REPETITIONS,
    allow_missing: bool = False,
    margin: float | None = None,
    preface: str = "",
) -> Report:
    """The study's comparison. Refuses (``MissingAnswersError``) when answers or predictions are
    missing, unless ``allow_missing``; the same data, seed and repetitions give the same report.
    ``margin`` (a positive difference of figures of merit) adds the non-inferiority test to the
    model-against-readers rows; ``preface`` is the paragraph the report opens with."""
    if margin is not None and not (np.isfinite(margin) and margin > 0):
        raise ReportError(f"margin: expected a positive difference of figures of merit, got {margin!r}")
    missing = data.missing_answers()
    if missing and not allow_missing:
        raise MissingAnswersError(missing, data.n_samples)
    try:
        return _compute(data, seed, repetitions, allow_missing, margin, missing, preface)
    except MetricInputError as error:
        raise ReportError(str(error)) from None


def _compute(
    data: StudyAnswers, seed: int, repetitions: int, allow_missing: bool, margin: float | None,
    missing: dict[str, int], preface: str,
) -> Report:
    readers = Readers.of(data, seed=seed, allow_missing=allow_missing)
    notes = []
    if missing:
        notes.append(words.missing_answers_note(sum(missing.values()), len(missing)))
    answered = set(readers.rows.tolist())
    notes += [words.not_answered_note(p.pseudonym) for i, p in enumerate(data.people) if i not in answered]
    if not data.models:
        notes.append(words.no_model_note())
    # The sections on the readers and the assisted arm share nothing with the comparison: they are
    # computed beside it in a second thread (numpy lets go of the interpreter in its array work), so that
    # a large study reports in about half the time on two cores. Each part is computed as before.
    with ThreadPoolExecutor(max_workers=1) as beside:
        sections_beside = beside.submit(reader_sections, data, readers.rows, readers.cohort_names)
        assistance_beside = beside.submit(assistance_section, data) if data.assisted is not None else None
        singles = _single_readers(readers)
        ensembles = _ensembles(readers, repetitions)
        mrmc = _mrmc_rows(readers, margin)
        agreement = _agreement(readers)
        tables_1_and_7 = _tables_1_and_7(data.test_split, data.n_classes, data.class_names)
        confusions = _confusions(readers)
        sections = sections_beside.result()
        assistance = assistance_beside.result() if assistance_beside is not None else Part(None)
    for part in (singles, ensembles, mrmc, agreement, tables_1_and_7, sections, assistance):
        notes += part.notes
    table1, table7 = tables_1_and_7.value
    return Report(
        study=data.study,
        dataset=data.dataset,
        class_names=data.class_names,
        seed=int(seed),
        repetitions=int(repetitions),
        allow_missing=bool(allow_missing),
        margin=None if margin is None else float(margin),
        n_samples=data.n_samples,
        models=tuple(m.name for m in data.models),
        missing_answers=missing,
        notes=tuple(notes),
        table2=singles.value.table2 + ensembles.value.table2,
        table3=singles.value.table3 + ensembles.value.table3,
        confusions=confusions,
        table1=table1,
        table7=table7,
        cases=_cases(data),
        mrmc=mrmc.value,
        agreement=agreement.value,
        readers=sections.value.readers,
        background_questions={key: data.covariate_labels.get(key, key) for key in data.covariate_keys},
        anchoring=sections.value.anchoring,
        test_retest=sections.value.test_retest,
        reading_time=sections.value.reading_time,
        instructions=sections.value.instructions,
        preface=preface,
        assistance=assistance.value,
    )


@dataclass(frozen=True)
class Rows:
    """Rows of Tables 2 and 3."""

    table2: tuple[Table2Row, ...] = ()
    table3: tuple[Table3Row, ...] = ()


def _single_row(readers: Readers, reader: str, cohort: str, simulated: bool | None, kind: str,
                answers: np.ndarray) -> Table2Row:
    """Table 2's row of one reader, a model or a person, with the bootstrap intervals of its figures."""
    data = readers.data
    answered = answers != NO_ANSWER
    if not answered.any():
        raise ReportError(f"{reader}: has no answer on any of the study's samples")
    figures = readers_metrics(answers, data.truth, data.n_classes, unanswered=readers.unanswered).reader(0)
    intervals = bootstrap_intervals(
        answers[answered], data.truth[answered], data.n_classes, n_resamples=BOOTSTRAP_RESAMPLES, seed=readers.seed
    )
    return Table2Row(
        reader=reader, cohort=cohort, simulated=simulated, kind=kind, accuracy=figures.accuracy, f1=figures.f1,
        precision=figures.precision, recall=figures.recall, **_interval_fields(intervals),
        n_answered=figures.n_answered, n_readers=1,
    )


def _cohort_mean_row(readers: Readers, cohort: Cohort) -> Part[Table2Row]:
    """Table 2's row of a cohort's mean over its readers, with bootstrap intervals when it is small enough."""
    data = readers.data
    mean = readers_metrics(cohort.answers, data.truth, data.n_classes, unanswered=readers.unanswered).mean()
    intervals, notes = {}, ()
    if cohort.answers.size <= COHORT_BOOTSTRAP_MAX_ANSWERS:
        bootstrap = cohort_mean_bootstrap_intervals(
            cohort.answers, data.truth, data.n_classes, n_resamples=BOOTSTRAP_RESAMPLES, seed=readers.seed,
            unanswered=readers.unanswered,
        )
        intervals = _interval_fields(bootstrap)
    else:
        notes = (
            words.cohort_mean_without_interval_note(
                cohort.name, cohort.answers.shape[0], cohort.answers.shape[1], COHORT_BOOTSTRAP_MAX_ANSWERS
            ),
        )
    row = Table2Row(
        reader=words.cohort_mean_name(cohort.name), cohort=cohort.name, simulated=cohort.simulated, kind="mean",
        **mean.to_dict(), **intervals, n_answered=int(np.sum(cohort.answers != NO_ANSWER)),
        n_readers=int(cohort.answers.shape[0]),
    )
    return Part(row, notes)


def _interval_fields(bootstrap) -> dict[str, float]:
    return {
        "accuracy_ci_low": bootstrap.accuracy.low,
        "accuracy_ci_high": bootstrap.accuracy.high,
        "f1_ci_low": bootstrap.f1.low,
        "f1_ci_high": bootstrap.f1.high,
    }


def _single_readers(readers: Readers) -> Part[Rows]:
    """Table 2: each model, each expert and each other cohort's mean; Table 3: each other model and
    each person against the model."""
    data = readers.data
    table2 = [_single_row(readers, m.name, "model", None, "model", m.answers) for m in data.models]
    notes = []
    against_model = [(m.name, "model", None, "model", m.answers) for m in data.models[1:]]
    for cohort in readers.cohorts:
        people = [readers.people[i] for i in cohort.members]
        if cohort.name == EXPERT_COHORT:
            table2 += [
                _single_row(readers, p.pseudonym, cohort.name, p.simulated, "reader", answers)
                for p, answers in zip(people, cohort.answers)
            ]
        else:
            mean = _cohort_mean_row(readers, cohort)
            table2.append(mean.value)
            notes += mean.notes
        against_model += [
            (p.pseudonym, cohort.name, p.simulated, "reader", answers) for p, answers in zip(people, cohort.answers)
        ]
    table3 = _table3_rows(readers, against_model) if data.models else ()
    return Part(Rows(tuple(table2), table3), tuple(notes))


def _table3_rows(readers: Readers, against_model: list[tuple]) -> tuple[Table3Row, ...]:
    """One row per single reader against the model, on the samples both answered."""
    if not against_model:
        return ()
    data, model = readers.data, readers.model
    matrix = np.stack([answers for *_, answers in against_model])
    tables = paired_table(
        model == data.truth, matrix == data.truth, where=(matrix != NO_ANSWER) & (model != NO_ANSWER)
    )
    return tuple(
        Table3Row(
            reader=name, cohort=cohort, simulated=simulated, kind=kind, both_correct=test.both_correct,
            model_only=test.model_only, reader_only=test.reader_only, both_wrong=test.both_wrong,
            statistic=test.statistic, p_value=test.pvalue, p_value_exact=exact.pvalue,
        )
        for (name, cohort, simulated, kind, _), test, exact in zip(
            against_model, mcnemar_each(tables), mcnemar_each(tables, exact=True)
        )
    )


def _ensembles(readers: Readers, repetitions: int) -> Part[Rows]:
    """Each cohort of two or more readers as a majority-vote ensemble: its Table 2 row (figures averaged
    over the tie-breaking repetitions, bootstrap intervals) and its Table 3 row against the model."""
    data = readers.data
    table2, table3 = [], []
    for cohort in readers.cohorts:
        if len(cohort.members) < 2:
            continue
        vote = MajorityVote.of(cohort.answers, data.n_classes)
        ensemble = majority_vote_ensemble(
            cohort.answers, data.truth, data.n_classes, n_repetitions=repetitions, seed=readers.seed,
            keep_predictions=readers.model is not None, unanswered=readers.unanswered, vote=vote,
        )
        bootstrap = ensemble_bootstrap_intervals(
            cohort.answers, data.truth, data.n_classes, n_resamples=BOOTSTRAP_RESAMPLES, seed=readers.seed,
            unanswered=readers.unanswered, vote=vote,
        )
        name = words.ensemble_name(cohort.name)
        table2.append(
            Table2Row(
                reader=name, cohort=cohort.name, simulated=cohort.simulated, kind="ensemble",
                **ensemble.mean.to_dict(), **_interval_fields(bootstrap),
                n_answered=int(ensemble.repetitions.n_answered[0]), n_readers=ensemble.n_readers,
            )
        )
        if readers.model is not None:
            table3.append(_ensemble_table3(readers, name, cohort, ensemble.predictions))
    return Part(Rows(tuple(table2), tuple(table3)))


def _ensemble_table3(readers: Readers, name: str, cohort: Cohort, predictions: np.ndarray) -> Table3Row:
    """McNemar's test of each tie-breaking repetition against the model, summarised (see ``Table3Row``)."""
    model, truth = readers.model, readers.data.truth
    tables = paired_table(
        model == truth, predictions == truth, where=(model != NO_ANSWER) & (predictions != NO_ANSWER)
    )
    chi_square = mcnemar_each(tables)
    exact = mcnemar_each(tables, exact=True)
    return Table3Row(
        reader=name, cohort=cohort.name, simulated=cohort.simulated, kind="ensemble",
        both_correct=float(np.mean(tables.both_correct)), model_only=float(np.mean(tables.model_only)),
        reader_only=float(np.mean(tables.reader_only)), both_wrong=float(np.mean(tables.both_wrong)),
        statistic=float(np.median([test.statistic for test in chi_square])),
        p_value=float(np.median([test.pvalue for test in chi_square])),
        p_value_exact=float(np.median([test.pvalue for test in exact])),
    )


def _mrmc_rows(readers: Readers, margin: float | None) -> Part[tuple[MRMCRow, ...]]:
    """Every model against every cohort of two or more readers, in both FOMs and both variants."""
    data = readers.data
    rows, notes = [], []
    for model in data.models:
        for cohort in readers.cohorts:
            if len(cohort.members) < 2:
                continue
            for fom in MRMC_FOMS:
                try:
                    result = model_vs_readers_on_answers(
                        model.answers, cohort.answers, data.truth, data.n_classes, fom=fom, margin=margin,
                        level=MRMC_LEVEL,
                    )
                except MetricInputError as error:
                    notes.append(words.mrmc_left_out_note(model.name, cohort.name, fom, error))
                    continue
                if result.n_cases_dropped and fom == MRMC_FOMS[0]:
                    notes.append(
                        words.mrmc_cases_dropped_note(model.name, cohort.name, result.n_cases_dropped, data.n_samples)
                    )
                rows += [_mrmc_row(model.name, cohort, fom, variant, result, margin) for variant in MRMC_VARIANTS]
    return Part(tuple(rows), tuple(notes))


def _mrmc_row(model: str, cohort: Cohort, fom: str, variant: str, result, margin: float | None) -> MRMCRow:
    test = getattr(result, variant)
    p_noninferiority = None if test.non_inferiority is None else test.non_inferiority.p_value
    n_readers = len(cohort.members)
    return MRMCRow(
        model=model, cohort=cohort.name, simulated=cohort.simulated, fom=fom, variant=variant, n_readers=n_readers,
        n_cases=result.components.n_cases, n_cases_dropped=result.n_cases_dropped, model_fom=result.model_fom,
        mean_reader_fom=result.mean_reader_fom, effect=test.effect, se=test.std_error, df=test.df,
        ci_low=test.ci_low, ci_high=test.ci_high, level=test.level, p_value=test.p_value,
        p_noninferiority=p_noninferiority,
        summary=words.mrmc_summary(
            model=model, cohort=cohort.name, fom=fom, variant=variant, n_readers=n_readers, effect=test.effect,
            ci_low=test.ci_low, ci_high=test.ci_high, level=test.level, margin=margin,
            p_noninferiority=p_noninferiority,
        ),
    )


def _agreement(readers: Readers) -> Part[Agreement]:
    """Fleiss' kappa per cohort, Cohen's kappa of pairs of readers, per-class accuracy of cohorts and models."""
    fleiss = _fleiss(readers)
    cohen = _cohen(readers)
    agreement = Agreement(fleiss=fleiss.value, cohen=cohen.value, per_class_accuracy=_per_class_accuracy(readers))
    return Part(agreement, fleiss.notes + cohen.notes)


def _fleiss(readers: Readers) -> Part[tuple[FleissRow, ...]]:
    rows, notes = [], []
    for cohort in readers.cohorts:
        if len(cohort.members) < 2:
            continue
        try:
            kappa = fleiss_kappa(cohort.answers, readers.data.n_classes)
        except MetricInputError as error:
            notes.append(words.fleiss_left_out_note(cohort.name, error))
            continue
        rows.append(
            FleissRow(cohort=cohort.name, simulated=cohort.simulated, kappa=kappa.kappa, n_readers=kappa.n_readers,
                      n_samples=kappa.n_samples, n_excluded=kappa.n_excluded)
        )
    return Part(tuple(rows), tuple(notes))


def _cohen(readers: Readers) -> Part[tuple[CohenRow, ...]]:
    """Cohen's kappa of every pair of readers, the models first then the people in Table 2's order; with
    more than ``MAX_PAIRWISE_PEOPLE`` people, of each reader with each model only."""
    data = readers.data
    order = [i for cohort in readers.cohorts for i in cohort.members]
    names = [(m.name, "model", False) for m in data.models]
    names += [(readers.people[i].pseudonym, readers.people[i].cohort, readers.people[i].simulated) for i in order]
    if len(names) < 2:
        return Part(())
    notes = ()
    pairs_of_people = len(order) <= MAX_PAIRWISE_PEOPLE
    if not pairs_of_people:
        notes = (words.cohen_with_models_only_note(len(order), MAX_PAIRWISE_PEOPLE),)
    models = np.stack([m.answers for m in data.models]) if data.models else None
    people = readers.answers[order]
    partners = models if not pairs_of_people else np.vstack(([models] if models is not None else []) + [people])
    if partners is None:
        return Part((), notes)
    # kappa[a, b]: reader a of the models then the people, with partner b.
    groups = [group for group in (models, people) if group is not None and len(group)]
    pairs = [cohens_kappa_matrix(group, partners, data.n_classes) for group in groups]
    kappa, counts = np.vstack([p.kappa for p in pairs]), np.vstack([p.n_samples for p in pairs])
    rows = tuple(
        CohenRow(
            reader_a=names[first][0], cohort_a=names[first][1], simulated_a=names[first][2],
            reader_b=names[second][0], cohort_b=names[second][1], simulated_b=names[second][2],
            kappa=float(kappa[second, first]), n_samples=int(counts[second, first]),
        )
        for first in range(partners.shape[0])
        for second in range(first + 1, len(names))
    )
    return Part(rows, notes)


def _per_class_accuracy(readers: Readers) -> tuple[ClassAccuracyRow, ...]:
    data = readers.data
    support = np.bincount(data.truth, minlength=data.n_classes)
    rows = []
    groups = [("model", m.name, None, m.answers) for m in data.models]
    groups += [(cohort.name, "", cohort.simulated, cohort.answers) for cohort in readers.cohorts]
    for cohort, reader, simulated, answers in groups:
        accuracy = per_class_accuracy(answers, data.truth, data.n_classes, unanswered=readers.unanswered).cohort
        rows += [
            ClassAccuracyRow(cohort, reader, simulated, data.class_names[c], float(accuracy[c]), int(support[c]))
            for c in range(data.n_classes)
        ]
    return tuple(rows)


def _confusions(readers: Readers) -> Confusions:
    """Figure 4: the confusion matrix of each model and each person."""
    data = readers.data
    named = [(m.name, "model") for m in data.models] + [(p.pseudonym, p.cohort) for p in readers.people]
    if not named:
        return Confusions()
    answers = readers.answers
    if data.models:
        answers = np.vstack([np.stack([m.answers for m in data.models]), answers])
    matrices = confusion_matrix(answers, data.truth, data.n_classes)
    names, cohorts = zip(*named)
    return Confusions(names, cohorts, matrices.counts, matrices.unanswered)


def _tables_1_and_7(
    test_split: TestSplit | None, n_classes: int, class_names: tuple[str, ...]
) -> Part[tuple[tuple[Table1Row, ...], Table7 | None]]:
    """The runs on the whole test split (Table 1) and their per-class F1 (Table 7), with two or more."""
    if test_split is None:
        return Part(((), None))
    n_test = int(test_split.truth.shape[0])
    notes = tuple(
        words.test_split_incomplete_note(name, covered, n_test) for name, covered in test_split.incomplete.items()
    )
    if len(test_split.runs) < 2:
        return Part(((), None), notes + (words.tables_1_and_7_need_two_runs_note(),))
    performances = {}
    for run in test_split.runs:
        if run.probabilities is not None:
            performance = model_performance(run.probabilities, test_split.truth, n_classes)
            performances[run.name] = (performance.metrics, performance.auc, performance.auc_std)
        else:
            performances[run.name] = (multilabel_metrics(run.predicted, test_split.truth, n_classes), None, None)
    per_class_f1 = {name: metrics.per_class_f1 for name, (metrics, _, _) in performances.items()}
    tests = wilcoxon_best_against_others(per_class_f1)
    rows = tuple(
        Table1Row(
            model=name, f1=metrics.f1, f1_std=metrics.f1_std, p_value=tests[name].pvalue if name in tests else None,
            precision=metrics.precision, recall=metrics.recall,
            auc=None if auc is None else finite_or_none(auc), auc_std=None if auc_std is None else finite_or_none(auc_std),
            n_samples=metrics.n_samples,
        )
        for name, (metrics, auc, auc_std) in performances.items()
    )
    return Part((rows, Table7(class_names=class_names, per_class_f1=per_class_f1)), notes)


def _cases(data: StudyAnswers) -> tuple[Case, ...]:
    """The appendix's cases (Figures 10-15): every expert who answered got it wrong; the model too, or not."""
    experts = [i for i, p in enumerate(data.people) if p.cohort == EXPERT_COHORT]
    if not data.models or not experts:
        return ()
    model = data.models[0].answers
    expert_answers = data.answers[experts]
    answered = expert_answers != NO_ANSWER
    experts_all_wrong = answered.any(axis=0) & ~((expert_answers == data.truth) & answered).any(axis=0)
    names = data.class_names
    cases = [
        Case(
            kind="model_only" if model[column] == data.truth[column] else "both_wrong",
            position=int(data.positions[column]),
            sample_id=data.sample_ids[column],
            truth=names[data.truth[column]],
            model_answer=names[model[column]],
            expert_answers={
                data.people[i].pseudonym: names[data.answers[i, column]]
                for i in experts
                if data.answers[i, column] != NO_ANSWER
            },
        )
        for column in np.flatnonzero(experts_all_wrong & (model != NO_ANSWER))
    ]
    return tuple(sorted(cases, key=lambda case: (case.kind, case.position)))
