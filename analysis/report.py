"""The comparison of a reading study, computed from arrays: the paper's Tables 1, 2, 3 and 7, Figure 4
and the cases of its appendix (Rumetshofer et al., ICLR 2019, section 4 and appendix 7.4-7.5).

The input is a ``StudyAnswers`` (``analysis.report_inputs``); the output is a ``Report`` of named rows
(``analysis.report_content``). Nothing here touches Django or the file system, so the same code serves
the command, the analyst page and the benchmark.

Conventions:

- The readers of cohort ``expert`` get a Table 2 row each; every other cohort gets the mean of its
  readers. Every cohort of two or more readers gets a majority-vote ensemble, ties drawn ``repetitions``
  times from ``seed``.
- Table 3 tests every person, every other model and every ensemble against the first model.
- Without missing answers an unanswered sample cannot occur. With ``allow_missing`` each reader is
  scored on the samples they answered (``unanswered="exclude"``), McNemar's test on the samples both
  answered.
"""

from __future__ import annotations

import numpy as np

from analysis.ensembles import majority_vote_ensemble
from analysis.intervals import bootstrap_intervals
from analysis.metrics import confusion_matrix, readers_metrics
from analysis.report_content import Case, Confusion, Report, Table1Row, Table2Row, Table3Row, Table7
from analysis.report_inputs import MissingAnswersError, Person, ReportError, StudyAnswers, TestSplit
from analysis.significance import mcnemar_each, paired_table, wilcoxon_best_against_others
from models_zoo.metrics import NO_ANSWER, MetricInputError, model_performance, multilabel_metrics

EXPERT_COHORT = "expert"
DEFAULT_SEED = 0
DEFAULT_REPETITIONS = 1000
BOOTSTRAP_RESAMPLES = 2000


def _cohorts_in_order(people: tuple[Person, ...]) -> list[str]:
    names = sorted({p.cohort for p in people})
    return sorted(names, key=lambda name: name != EXPERT_COHORT)


def _optional(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class _Scorer:
    """Scores one answer vector at a time with the report's policy for missing answers."""

    def __init__(self, data: StudyAnswers, seed: int, allow_missing: bool):
        self.data = data
        self.seed = seed
        self.unanswered = "exclude" if allow_missing else "wrong"

    def single(self, reader: str, cohort: str, simulated: bool | None, kind: str, answers: np.ndarray) -> Table2Row:
        n_classes = self.data.n_classes
        answered = answers != NO_ANSWER
        if not answered.any():
            raise ReportError(f"{reader}: has no answer on any of the study's samples")
        figures = readers_metrics(answers, self.data.truth, n_classes, unanswered=self.unanswered).reader(0)
        intervals = bootstrap_intervals(
            answers[answered], self.data.truth[answered], n_classes, n_resamples=BOOTSTRAP_RESAMPLES, seed=self.seed
        )
        return Table2Row(
            reader=reader,
            cohort=cohort,
            simulated=simulated,
            kind=kind,
            accuracy=figures.accuracy,
            f1=figures.f1,
            precision=figures.precision,
            recall=figures.recall,
            accuracy_ci_low=intervals.accuracy.low,
            accuracy_ci_high=intervals.accuracy.high,
            f1_ci_low=intervals.f1.low,
            f1_ci_high=intervals.f1.high,
            n_answered=figures.n_answered,
            n_readers=1,
        )

    def cohort_mean(self, cohort: str, answers: np.ndarray, simulated: bool) -> Table2Row:
        mean = readers_metrics(answers, self.data.truth, self.data.n_classes, unanswered=self.unanswered).mean()
        return Table2Row(
            reader=f"Mean of {cohort}",
            cohort=cohort,
            simulated=simulated,
            kind="mean",
            **mean.to_dict(),
            n_answered=int(np.sum(answers != NO_ANSWER)),
            n_readers=int(answers.shape[0]),
        )


def _ensemble_table3(
    name: str, cohort: str, simulated: bool, model: np.ndarray, predictions: np.ndarray, truth: np.ndarray
) -> Table3Row:
    """McNemar's test of each tie-breaking repetition against the model, summarised (see ``Table3Row``)."""
    tables = paired_table(
        model == truth, predictions == truth, where=(model != NO_ANSWER) & (predictions != NO_ANSWER)
    )
    chi_square = mcnemar_each(tables)
    exact = mcnemar_each(tables, exact=True)
    return Table3Row(
        reader=name,
        cohort=cohort,
        simulated=simulated,
        both_correct=float(np.mean(tables.both_correct)),
        model_only=float(np.mean(tables.only_model)),
        reader_only=float(np.mean(tables.only_reader)),
        both_wrong=float(np.mean(tables.neither)),
        statistic=float(np.median([test.statistic for test in chi_square])),
        p_value=float(np.median([test.pvalue for test in chi_square])),
        p_value_exact=float(np.median([test.pvalue for test in exact])),
    )


def _table3_rows(data: StudyAnswers, readers: list[tuple[str, str, bool | None, np.ndarray]]) -> list[Table3Row]:
    """One row per single reader against the model, on the samples both answered."""
    if not readers:
        return []
    model = data.models[0].answers
    matrix = np.stack([answers for *_, answers in readers])
    tables = paired_table(
        model == data.truth, matrix == data.truth, where=(matrix != NO_ANSWER) & (model != NO_ANSWER)
    )
    return [
        Table3Row(
            reader=name,
            cohort=cohort,
            simulated=simulated,
            both_correct=test.both_correct,
            model_only=test.only_model,
            reader_only=test.only_reader,
            both_wrong=test.neither,
            statistic=test.statistic,
            p_value=test.pvalue,
            p_value_exact=exact.pvalue,
        )
        for (name, cohort, simulated, _), test, exact in zip(
            readers, mcnemar_each(tables), mcnemar_each(tables, exact=True)
        )
    ]


def _tables_1_and_7(test_split: TestSplit | None, n_classes: int, class_names: tuple[str, ...]):
    if test_split is None or len(test_split.runs) < 2:
        return (), None
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
            model=name,
            f1=metrics.f1,
            f1_std=metrics.f1_std,
            p_value=tests[name].pvalue if name in tests else None,
            precision=metrics.precision,
            recall=metrics.recall,
            auc=None if auc is None else _optional(auc),
            auc_std=None if auc_std is None else _optional(auc_std),
            n_samples=metrics.n_samples,
        )
        for name, (metrics, auc, auc_std) in performances.items()
    )
    return rows, Table7(class_names=class_names, per_class_f1=per_class_f1)


def _cases(data: StudyAnswers) -> list[Case]:
    """The appendix's cases (Figures 10-15): every expert who answered got it wrong; the model too, or not."""
    experts = [i for i, p in enumerate(data.people) if p.cohort == EXPERT_COHORT]
    if not data.models or not experts:
        return []
    model = data.models[0].answers
    expert_answers = data.answers[experts]
    answered = expert_answers != NO_ANSWER
    experts_all_wrong = answered.any(axis=0) & ~((expert_answers == data.truth) & answered).any(axis=0)
    names = data.class_names
    cases = []
    for column in np.flatnonzero(experts_all_wrong & (model != NO_ANSWER)):
        kind = "only_model" if model[column] == data.truth[column] else "both_wrong"
        cases.append(
            Case(
                kind=kind,
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
        )
    return sorted(cases, key=lambda case: (case.kind, case.position))


def compute_report(
    data: StudyAnswers,
    *,
    seed: int = DEFAULT_SEED,
    repetitions: int = DEFAULT_REPETITIONS,
    allow_missing: bool = False,
) -> Report:
    """The study's comparison. Refuses (``MissingAnswersError``) when answers or predictions are
    missing, unless ``allow_missing``; the same data, seed and repetitions give the same report."""
    missing = data.missing_answers()
    if missing and not allow_missing:
        raise MissingAnswersError(missing, data.n_samples)
    notes = []
    if missing:
        notes.append(
            f"Computed on the answers there are: {sum(missing.values())} answers are missing "
            f"({len(missing)} reader(s)); each reader is scored on the samples they answered."
        )
    try:
        return _compute(data, seed, repetitions, allow_missing, missing, notes)
    except MetricInputError as error:
        raise ReportError(str(error)) from None


def _compute(data: StudyAnswers, seed: int, repetitions: int, allow_missing: bool, missing, notes) -> Report:
    scorer = _Scorer(data, seed, allow_missing)
    has_answers = (data.answers != NO_ANSWER).any(axis=1)
    people_with_answers = np.flatnonzero(has_answers)
    for i in np.flatnonzero(~has_answers):
        notes.append(f"{data.people[i].pseudonym} has not answered yet and is left out.")
    people = [data.people[i] for i in people_with_answers]
    answers = data.answers[people_with_answers]

    table2 = [scorer.single(m.name, "model", None, "model", m.answers) for m in data.models]
    readers_against_model = [(m.name, "model", None, m.answers) for m in data.models[1:]]
    cohorts = _cohorts_in_order(tuple(people))
    ensembles = []
    for cohort in cohorts:
        members = [i for i, p in enumerate(people) if p.cohort == cohort]
        cohort_answers = answers[members]
        # A cohort's mean or ensemble that includes a simulated reader is marked as simulated.
        any_simulated = any(people[i].simulated for i in members)
        if cohort == EXPERT_COHORT:
            table2 += [
                scorer.single(people[i].pseudonym, cohort, people[i].simulated, "reader", answers[i]) for i in members
            ]
        else:
            table2.append(scorer.cohort_mean(cohort, cohort_answers, any_simulated))
        readers_against_model += [(people[i].pseudonym, cohort, people[i].simulated, answers[i]) for i in members]
        if len(members) >= 2:
            ensembles.append((cohort, cohort_answers, any_simulated))

    table3 = _table3_rows(data, readers_against_model) if data.models else []
    for cohort, cohort_answers, any_simulated in ensembles:
        ensemble = majority_vote_ensemble(
            cohort_answers,
            data.truth,
            data.n_classes,
            n_repetitions=repetitions,
            seed=seed,
            keep_predictions=bool(data.models),
            unanswered=scorer.unanswered,
        )
        name = f"Ensemble of {cohort}"
        table2.append(
            Table2Row(
                reader=name,
                cohort=cohort,
                simulated=any_simulated,
                kind="ensemble",
                **ensemble.mean.to_dict(),
                n_answered=int(ensemble.repetitions.n_answered[0]),
                n_readers=ensemble.n_readers,
            )
        )
        if data.models:
            table3.append(
                _ensemble_table3(name, cohort, any_simulated, data.models[0].answers, ensemble.predictions, data.truth)
            )
    if not data.models:
        notes.append("No model run was given: Table 3 and the cases need one (--model RUN).")

    confusions = []
    single_readers = [(m.name, "model", m.answers) for m in data.models]
    single_readers += [(p.pseudonym, p.cohort, answers[i]) for i, p in enumerate(people)]
    if single_readers:
        matrices = confusion_matrix(np.stack([a for _, _, a in single_readers]), data.truth, data.n_classes)
        normalized = matrices.row_normalized
        confusions = [
            Confusion(name, cohort, matrices.counts[i], matrices.unanswered[i], normalized[i])
            for i, (name, cohort, _) in enumerate(single_readers)
        ]

    table1, table7 = _tables_1_and_7(data.test_split, data.n_classes, data.class_names)
    if data.test_split is not None:
        for name, covered in data.test_split.incomplete.items():
            notes.append(
                f"Tables 1 and 7 leave out {name}: it has predictions for {covered} test-split samples, not all."
            )
        if len(data.test_split.runs) < 2:
            notes.append("Tables 1 and 7 need two or more runs with predictions on the whole test split.")

    return Report(
        study=data.study,
        dataset=data.dataset,
        class_names=data.class_names,
        seed=int(seed),
        repetitions=int(repetitions),
        allow_missing=bool(allow_missing),
        n_samples=data.n_samples,
        models=tuple(m.name for m in data.models),
        missing_answers=missing,
        table2=tuple(table2),
        table3=tuple(table3),
        confusions=tuple(confusions),
        table1=table1,
        table7=table7,
        cases=tuple(_cases(data)),
        notes=tuple(notes),
    )
