"""The comparison of a reading study, computed from arrays: the paper's Tables 1, 2, 3 and 7, Figure 4
and the cases of its appendix (Rumetshofer et al., ICLR 2019, section 4 and appendix 7.4-7.5).

The input is a ``StudyAnswers`` (``analysis.readers`` builds it from the database); the output is a
``Report`` of named rows. Nothing here touches Django or the file system, so the same code serves the
command, the analyst page and the benchmark.

Conventions (see DESIGN.md, "Statistics"):

- The readers of cohort ``expert`` get a Table 2 row each; every other cohort gets the mean of its
  readers. Every cohort of two or more readers gets a majority-vote ensemble, ties drawn ``repetitions``
  times from ``seed``.
- Table 3 tests every person, every other model and every ensemble against the first model.
- Without missing answers an unanswered sample cannot occur. With ``allow_missing`` each reader is
  scored on the samples they answered (``unanswered="exclude"``), McNemar's test on the samples both
  answered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analysis.ensembles import majority_vote_ensemble
from analysis.intervals import bootstrap_intervals
from analysis.metrics import confusion_matrix, readers_metrics
from models_zoo.metrics import NO_ANSWER, MetricInputError, jsonable, model_performance, multilabel_metrics
from analysis.significance import mcnemar_from_counts, wilcoxon_best_against_others

EXPERT_COHORT = "expert"
DEFAULT_SEED = 0
DEFAULT_REPETITIONS = 1000
BOOTSTRAP_RESAMPLES = 2000


class ReportError(ValueError):
    """The study cannot be reported as asked; the message says why and what to do."""


class MissingAnswersError(ReportError):
    """Some readers left samples unanswered and ``allow_missing`` was not given."""

    def __init__(self, missing: dict[str, int], n_samples: int):
        self.missing = missing
        self.n_samples = n_samples
        listing = ", ".join(f"{name}: {count}" for name, count in missing.items())
        super().__init__(
            f"{len(missing)} reader(s) have not answered every one of the {n_samples} samples "
            f"(unanswered per reader: {listing}). Wait for the answers, or compute on the answers "
            "there are with --allow-missing."
        )


@dataclass(frozen=True)
class Person:
    """A human reader, known by pseudonym only."""

    pseudonym: str
    cohort: str
    simulated: bool


@dataclass(frozen=True, eq=False)
class ModelAnswers:
    """A model run as a reader of the study: its top class per study sample (-1 where it has none)."""

    name: str
    kind: str
    answers: np.ndarray


@dataclass(frozen=True, eq=False)
class TestSplitRun:
    """A run's predictions on the whole test split: thresholded classes, and probabilities if it has them."""

    name: str
    predicted: np.ndarray
    probabilities: np.ndarray | None


@dataclass(frozen=True, eq=False)
class TestSplit:
    """Multi-label truth ``(n_samples, n_classes)`` of the data set's test split and the runs that cover it."""

    truth: np.ndarray
    runs: tuple[TestSplitRun, ...]
    incomplete: dict[str, int]


@dataclass(frozen=True, eq=False)
class StudyAnswers:
    """Everything the report needs, as arrays in the study's sample order.

    ``answers`` is ``(n_people, n_samples)`` with -1 for a missing answer; ``truth`` the single class of
    each study sample; ``models`` in the order asked for (the first is "the model").
    """

    study: str
    dataset: str
    class_names: tuple[str, ...]
    sample_ids: tuple[str, ...]
    positions: np.ndarray
    truth: np.ndarray
    people: tuple[Person, ...]
    answers: np.ndarray
    models: tuple[ModelAnswers, ...]
    test_split: TestSplit | None = None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_samples(self) -> int:
        return int(self.truth.size)

    def missing_answers(self) -> dict[str, int]:
        """Unanswered study samples per reader (people and models) that has any."""
        missing = {}
        for person, row in zip(self.people, self.answers):
            missing[person.pseudonym] = int(np.sum(row == NO_ANSWER))
        for model in self.models:
            missing[model.name] = int(np.sum(model.answers == NO_ANSWER))
        return {name: count for name, count in missing.items() if count}


@dataclass(frozen=True, kw_only=True)
class Table2Row:
    """A row of the paper's Table 2. Confidence intervals are bootstrapped for single readers only;
    a cohort's mean and an ensemble have none."""

    reader: str
    cohort: str
    simulated: bool | None
    kind: str
    accuracy: float
    f1: float
    precision: float
    recall: float
    accuracy_ci_low: float | None = None
    accuracy_ci_high: float | None = None
    f1_ci_low: float | None = None
    f1_ci_high: float | None = None
    n_answered: int
    n_readers: int


@dataclass(frozen=True)
class Table3Row:
    """A reader against the model. An ensemble's cells are means over its tie-breaking repetitions and
    its p-values the medians of the repetitions' tests."""

    reader: str
    cohort: str
    simulated: bool | None
    both_correct: float
    model_only: float
    reader_only: float
    both_wrong: float
    statistic: float
    p_value: float
    p_value_exact: float


@dataclass(frozen=True, eq=False)
class Confusion:
    """A reader's confusion matrix (the paper's Figure 4): rows the true class, columns the answer."""

    reader: str
    cohort: str
    counts: np.ndarray
    unanswered: np.ndarray
    row_normalized: np.ndarray


@dataclass(frozen=True)
class Table1Row:
    model: str
    f1: float
    f1_std: float
    p_value: float | None
    precision: float
    recall: float
    auc: float | None
    auc_std: float | None
    n_samples: int


@dataclass(frozen=True, eq=False)
class Table7:
    """Per-class F1 of every run on the test split, ``per_class_f1[model]`` in class order."""

    class_names: tuple[str, ...]
    per_class_f1: dict[str, np.ndarray]


@dataclass(frozen=True)
class Case:
    """A study sample the experts all got wrong: also the model (``both_wrong``) or not (``only_model``)."""

    kind: str
    position: int
    sample_id: str
    truth: str
    model_answer: str
    expert_answers: dict[str, str]


@dataclass(frozen=True, eq=False)
class Report:
    study: str
    dataset: str
    class_names: tuple[str, ...]
    seed: int
    repetitions: int
    allow_missing: bool
    n_samples: int
    models: tuple[str, ...]
    missing_answers: dict[str, int]
    table2: tuple[Table2Row, ...]
    table3: tuple[Table3Row, ...]
    confusions: tuple[Confusion, ...]
    table1: tuple[Table1Row, ...]
    table7: Table7 | None
    cases: tuple[Case, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "study": self.study,
                "dataset": self.dataset,
                "class_names": list(self.class_names),
                "seed": self.seed,
                "repetitions": self.repetitions,
                "allow_missing": self.allow_missing,
                "n_samples": self.n_samples,
                "models": list(self.models),
                "missing_answers": self.missing_answers,
                "notes": list(self.notes),
                "table2": [asdict(row) for row in self.table2],
                "table3": [asdict(row) for row in self.table3],
                "figure4": [
                    {
                        "reader": c.reader,
                        "cohort": c.cohort,
                        "counts": c.counts,
                        "unanswered": c.unanswered,
                        "row_normalized": c.row_normalized,
                    }
                    for c in self.confusions
                ],
                "table1": [asdict(row) for row in self.table1],
                "table7": None
                if self.table7 is None
                else {"class_names": list(self.table7.class_names), "per_class_f1": self.table7.per_class_f1},
                "cases": [asdict(case) for case in self.cases],
            }
        )


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
    model_correct = model == truth
    answered = (model != NO_ANSWER) & (predictions != NO_ANSWER)
    reader_correct = predictions == truth
    cells = np.stack(
        [
            np.sum(answered & model_correct & reader_correct, axis=1),
            np.sum(answered & model_correct & ~reader_correct, axis=1),
            np.sum(answered & ~model_correct & reader_correct, axis=1),
            np.sum(answered & ~model_correct & ~reader_correct, axis=1),
        ],
        axis=1,
    )
    # Repetitions share few distinct tables, so each distinct one is tested once.
    distinct, inverse = np.unique(cells, axis=0, return_inverse=True)
    chi_square = [mcnemar_from_counts(*map(int, row)) for row in distinct]
    exact = [mcnemar_from_counts(*map(int, row), exact=True) for row in distinct]
    inverse = inverse.ravel()
    statistics = np.array([r.statistic for r in chi_square])[inverse]
    pvalues = np.array([r.pvalue for r in chi_square])[inverse]
    exact_pvalues = np.array([r.pvalue for r in exact])[inverse]
    means = cells.mean(axis=0)
    return Table3Row(
        reader=name,
        cohort=cohort,
        simulated=simulated,
        both_correct=float(means[0]),
        model_only=float(means[1]),
        reader_only=float(means[2]),
        both_wrong=float(means[3]),
        statistic=float(np.median(statistics)),
        p_value=float(np.median(pvalues)),
        p_value_exact=float(np.median(exact_pvalues)),
    )


def _table3_rows(data: StudyAnswers, readers: list[tuple[str, str, bool | None, np.ndarray]]) -> list[Table3Row]:
    """One row per single reader against the model, on the samples both answered."""
    if not readers:
        return []
    model = data.models[0].answers
    matrix = np.stack([answers for *_, answers in readers])
    answered = (matrix != NO_ANSWER) & (model != NO_ANSWER)
    model_correct = (model == data.truth) & answered
    reader_correct = (matrix == data.truth) & answered
    cells = np.stack(
        [
            np.sum(model_correct & reader_correct, axis=1),
            np.sum(model_correct & ~reader_correct, axis=1),
            np.sum(~model_correct & reader_correct & answered, axis=1),
            np.sum(~model_correct & ~reader_correct & answered, axis=1),
        ],
        axis=1,
    )
    distinct, inverse = np.unique(cells, axis=0, return_inverse=True)
    tests = [(mcnemar_from_counts(*map(int, row)), mcnemar_from_counts(*map(int, row), exact=True)) for row in distinct]
    rows = []
    for (name, cohort, simulated, _), row_cells, which in zip(readers, cells, inverse.ravel()):
        chi_square, exact = tests[which]
        rows.append(
            Table3Row(
                reader=name,
                cohort=cohort,
                simulated=simulated,
                both_correct=int(row_cells[0]),
                model_only=int(row_cells[1]),
                reader_only=int(row_cells[2]),
                both_wrong=int(row_cells[3]),
                statistic=chi_square.statistic,
                p_value=chi_square.pvalue,
                p_value_exact=exact.pvalue,
            )
        )
    return rows


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
