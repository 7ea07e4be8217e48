"""The comparison of a reading study, computed from arrays: the paper's Tables 1, 2, 3 and 7, Figure 4
and the cases of its appendix (Rumetshofer et al., ICLR 2019, section 4 and appendix 7.4-7.5), and
beyond the paper each model against the population of readers of each cohort (ORH multi-reader
multi-case analysis) and the agreement between readers.

The input is a ``StudyAnswers`` (``analysis.report_inputs``); the output is a ``Report`` of named rows
(``analysis.report_content``). Nothing here touches Django or the file system, so the same code serves
the command, the analyst page and the benchmark.

Conventions:

- The readers of cohort ``expert`` get a Table 2 row each; every other cohort gets the mean of its
  readers. Every cohort of two or more readers gets a majority-vote ensemble, ties drawn ``repetitions``
  times from ``seed``.
- Table 3 tests every person, every other model and every ensemble against the first model.
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
- Without missing answers an unanswered sample cannot occur. With ``allow_missing`` each reader is
  scored on the samples they answered (``unanswered="exclude"``), McNemar's test on the samples both
  answered.
"""

from __future__ import annotations

import numpy as np

from analysis.agreement import cohens_kappa_matrix, fleiss_kappa, per_class_accuracy
from analysis.ensembles import majority_vote_ensemble
from analysis.intervals import bootstrap_intervals, cohort_mean_bootstrap_intervals, ensemble_bootstrap_intervals
from analysis.metrics import confusion_matrix, readers_metrics
from analysis.mrmc import FIXED_READERS_RANDOM_CASES, RANDOM_READERS_RANDOM_CASES, model_vs_readers_on_answers
from analysis.report_content import (
    Agreement,
    Case,
    ClassAccuracyRow,
    CohenRow,
    Confusion,
    FleissRow,
    MRMCRow,
    Report,
    Table1Row,
    Table2Row,
    Table3Row,
    Table7,
)
from analysis.report_inputs import MissingAnswersError, Person, ReportError, StudyAnswers, TestSplit
from analysis.report_readers import reader_sections
from analysis.significance import mcnemar_each, paired_table, wilcoxon_best_against_others
from models_zoo.metrics import NO_ANSWER, MetricInputError, model_performance, multilabel_metrics

EXPERT_COHORT = "expert"
DEFAULT_SEED = 0
DEFAULT_REPETITIONS = 1000
BOOTSTRAP_RESAMPLES = 2000
# A cohort's mean is resampled reader by reader: its cost grows as readers x samples x classes x
# resamples (about 0.3 s for 250 readers x 2,000 samples on one core), so a larger cohort goes without.
COHORT_BOOTSTRAP_MAX_ANSWERS = 500_000
# Cohen's kappa of every pair of people above this many would be tens of thousands of rows.
MAX_PAIRWISE_PEOPLE = 100
MRMC_FOMS = ("accuracy", "f1")
MRMC_VARIANTS = (RANDOM_READERS_RANDOM_CASES, FIXED_READERS_RANDOM_CASES)
MRMC_LEVEL = 0.95
FOM_WORDS = {"accuracy": "accuracy", "f1": "macro F1"}


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

    def cohort_mean(self, cohort: str, answers: np.ndarray, simulated: bool, notes: list[str]) -> Table2Row:
        mean = readers_metrics(answers, self.data.truth, self.data.n_classes, unanswered=self.unanswered).mean()
        intervals = {}
        if answers.size <= COHORT_BOOTSTRAP_MAX_ANSWERS:
            bootstrap = cohort_mean_bootstrap_intervals(
                answers, self.data.truth, self.data.n_classes, n_resamples=BOOTSTRAP_RESAMPLES, seed=self.seed,
                unanswered=self.unanswered,
            )
            intervals = _interval_fields(bootstrap)
        else:
            notes.append(
                f"Table 2 gives the mean of {cohort} without confidence intervals: its {answers.shape[0]:,} readers x "
                f"{answers.shape[1]:,} samples are more than the {COHORT_BOOTSTRAP_MAX_ANSWERS:,} answers the report "
                "resamples."
            )
        return Table2Row(
            reader=f"Mean of {cohort}",
            cohort=cohort,
            simulated=simulated,
            kind="mean",
            **mean.to_dict(),
            **intervals,
            n_answered=int(np.sum(answers != NO_ANSWER)),
            n_readers=int(answers.shape[0]),
        )


def _interval_fields(bootstrap) -> dict[str, float]:
    return {
        "accuracy_ci_low": bootstrap.accuracy.low,
        "accuracy_ci_high": bootstrap.accuracy.high,
        "f1_ci_low": bootstrap.f1.low,
        "f1_ci_high": bootstrap.f1.high,
    }


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
        model_only=float(np.mean(tables.model_only)),
        reader_only=float(np.mean(tables.reader_only)),
        both_wrong=float(np.mean(tables.both_wrong)),
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
            model_only=test.model_only,
            reader_only=test.reader_only,
            both_wrong=test.both_wrong,
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


def _plural(cohort: str) -> str:
    return cohort if cohort.endswith("s") else f"{cohort}s"


def mrmc_summary(
    *, model: str, cohort: str, fom: str, variant: str, n_readers: int, effect: float, ci_low: float,
    ci_high: float, level: float, margin: float | None = None, p_noninferiority: float | None = None,
) -> str:
    """The result of a model-against-readers row in words, from its numbers: better, worse or no
    significant difference (the interval excluding zero or not), and whom it applies to."""
    what = FOM_WORDS.get(fom, fom)
    against = f"the average {cohort}"
    if not all(np.isfinite([effect, ci_low, ci_high])):
        return (
            f"The model {model} against {against} in {what}: the difference is {effect:+.2f} and cannot be tested "
            "(the readers' figures do not vary from sample to sample)."
        )
    interval = f"{level:.0%} CI"
    if ci_low > 0:
        sentence = (
            f"The model {model} is better than {against} by {effect:.2f} {what}, "
            f"{interval} {ci_low:.2f} to {ci_high:.2f}"
        )
    elif ci_high < 0:
        sentence = (
            f"The model {model} is worse than {against} by {-effect:.2f} {what}, "
            f"{interval} {-ci_high:.2f} to {-ci_low:.2f}"
        )
    else:
        sentence = (
            f"No significant difference between the model {model} and {against} in {what}: "
            f"{effect:+.2f}, {interval} {ci_low:+.2f} to {ci_high:+.2f}"
        )
    if variant == FIXED_READERS_RANDOM_CASES:
        sentence += f"; the result applies to these {n_readers} {_plural(cohort)}, on samples like these"
    else:
        sentence += f"; the result applies to {_plural(cohort)} and samples like these"
    if margin is not None and p_noninferiority is not None and np.isfinite(p_noninferiority):
        alpha = 1 - level
        if p_noninferiority < alpha / 2:
            sentence += f"; not worse by {margin:g} or more (non-inferior, p = {p_noninferiority:.2g})"
        else:
            sentence += f"; that it is not worse by {margin:g} or more is not shown (p = {p_noninferiority:.2g})"
    return sentence + "."


def _mrmc_rows(
    data: StudyAnswers, people: list[Person], answers: np.ndarray, margin: float | None, notes: list[str]
) -> list[MRMCRow]:
    """Every model against every cohort of two or more readers, in both FOMs and both variants."""
    rows = []
    for model in data.models:
        for cohort in _cohorts_in_order(tuple(people)):
            members = [i for i, p in enumerate(people) if p.cohort == cohort]
            if len(members) < 2:
                continue
            simulated = any(people[i].simulated for i in members)
            for fom in MRMC_FOMS:
                try:
                    result = model_vs_readers_on_answers(
                        model.answers, answers[members], data.truth, data.n_classes, fom=fom, margin=margin,
                        level=MRMC_LEVEL,
                    )
                except MetricInputError as error:
                    notes.append(f"{model.name} against the {cohort} cohort ({FOM_WORDS[fom]}) is left out: {error}.")
                    continue
                if result.n_cases_dropped and fom == MRMC_FOMS[0]:
                    notes.append(
                        f"{model.name} against the {cohort} cohort: {result.n_cases_dropped} of {data.n_samples} "
                        "samples are left out, unanswered by the model or some reader (the analysis needs every "
                        "reader on every sample)."
                    )
                for variant in MRMC_VARIANTS:
                    test = getattr(result, variant)
                    p_noninferiority = None if test.non_inferiority is None else test.non_inferiority.p_value
                    rows.append(
                        MRMCRow(
                            model=model.name,
                            cohort=cohort,
                            simulated=simulated,
                            fom=fom,
                            variant=variant,
                            n_readers=len(members),
                            n_cases=result.components.n_cases,
                            n_cases_dropped=result.n_cases_dropped,
                            model_fom=result.model_fom,
                            mean_reader_fom=result.mean_reader_fom,
                            effect=test.effect,
                            se=test.std_error,
                            df=test.df,
                            ci_low=test.ci_low,
                            ci_high=test.ci_high,
                            level=test.level,
                            p_value=test.p_value,
                            p_noninferiority=p_noninferiority,
                            summary=mrmc_summary(
                                model=model.name, cohort=cohort, fom=fom, variant=variant, n_readers=len(members),
                                effect=test.effect, ci_low=test.ci_low, ci_high=test.ci_high, level=test.level,
                                margin=margin, p_noninferiority=p_noninferiority,
                            ),
                        )
                    )
    return rows


def _agreement(
    data: StudyAnswers, people: list[Person], answers: np.ndarray, unanswered: str, notes: list[str]
) -> Agreement:
    """Fleiss' kappa per cohort, Cohen's kappa of pairs of readers, per-class accuracy of cohorts and models."""
    cohorts = _cohorts_in_order(tuple(people))
    fleiss = []
    for cohort in cohorts:
        members = [i for i, p in enumerate(people) if p.cohort == cohort]
        if len(members) < 2:
            continue
        try:
            kappa = fleiss_kappa(answers[members], data.n_classes)
        except MetricInputError as error:
            notes.append(f"Fleiss' kappa of the {cohort} cohort is left out: {error}.")
            continue
        fleiss.append(
            FleissRow(
                cohort=cohort,
                simulated=any(people[i].simulated for i in members),
                kappa=kappa.kappa,
                n_readers=kappa.n_readers,
                n_samples=kappa.n_samples,
                n_excluded=kappa.n_excluded,
            )
        )

    # Readers in Table 2's order: the models, then the people cohort by cohort.
    order = [i for cohort in cohorts for i, p in enumerate(people) if p.cohort == cohort]
    names = [(m.name, "model", False) for m in data.models] + [
        (people[i].pseudonym, people[i].cohort, people[i].simulated) for i in order
    ]
    n_models = len(data.models)
    cohen = []
    if len(names) >= 2:
        pairs_of_people = len(order) <= MAX_PAIRWISE_PEOPLE
        if not pairs_of_people:
            notes.append(
                f"Cohen's kappa is given for each reader with each model only: {len(order):,} people would make "
                f"{len(order) * (len(order) - 1) // 2:,} pairs (the report pairs people up to {MAX_PAIRWISE_PEOPLE})."
            )
        models = np.stack([m.answers for m in data.models]) if n_models else None
        people_answers = answers[order]
        partners = models if not pairs_of_people else np.vstack(([models] if n_models else []) + [people_answers])
        if partners is not None:
            # kappa[a, b]: reader a of the models then the people, with partner b.
            groups = [group for group in (models, people_answers) if group is not None and len(group)]
            kappa = [cohens_kappa_matrix(group, partners, data.n_classes) for group in groups]
            values = np.vstack([k.kappa for k in kappa])
            counts = np.vstack([k.n_samples for k in kappa])
            for first in range(partners.shape[0]):
                for second in range(first + 1, len(names)):
                    cohen.append(
                        CohenRow(
                            reader_a=names[first][0],
                            cohort_a=names[first][1],
                            simulated_a=names[first][2],
                            reader_b=names[second][0],
                            cohort_b=names[second][1],
                            simulated_b=names[second][2],
                            kappa=float(values[second, first]),
                            n_samples=int(counts[second, first]),
                        )
                    )

    per_class = []
    class_names = data.class_names
    support = np.bincount(data.truth, minlength=data.n_classes)
    for model in data.models:
        accuracy = per_class_accuracy(model.answers, data.truth, data.n_classes, unanswered=unanswered).cohort
        per_class += [
            ClassAccuracyRow("model", model.name, None, class_names[c], float(accuracy[c]), int(support[c]))
            for c in range(data.n_classes)
        ]
    for cohort in cohorts:
        members = [i for i, p in enumerate(people) if p.cohort == cohort]
        simulated = any(people[i].simulated for i in members)
        accuracy = per_class_accuracy(answers[members], data.truth, data.n_classes, unanswered=unanswered).cohort
        per_class += [
            ClassAccuracyRow(cohort, "", simulated, class_names[c], float(accuracy[c]), int(support[c]))
            for c in range(data.n_classes)
        ]
    return Agreement(fleiss=tuple(fleiss), cohen=tuple(cohen), per_class_accuracy=tuple(per_class))


def compute_report(
    data: StudyAnswers,
    *,
    seed: int = DEFAULT_SEED,
    repetitions: int = DEFAULT_REPETITIONS,
    allow_missing: bool = False,
    margin: float | None = None,
) -> Report:
    """The study's comparison. Refuses (``MissingAnswersError``) when answers or predictions are
    missing, unless ``allow_missing``; the same data, seed and repetitions give the same report.
    ``margin`` (a positive difference of figures of merit) adds the non-inferiority test to the
    model-against-readers rows."""
    if margin is not None and not (np.isfinite(margin) and margin > 0):
        raise ReportError(f"margin: expected a positive difference of figures of merit, got {margin!r}")
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
        return _compute(data, seed, repetitions, allow_missing, margin, missing, notes)
    except MetricInputError as error:
        raise ReportError(str(error)) from None


def _compute(
    data: StudyAnswers, seed: int, repetitions: int, allow_missing: bool, margin: float | None, missing, notes
) -> Report:
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
            table2.append(scorer.cohort_mean(cohort, cohort_answers, any_simulated, notes))
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
        bootstrap = ensemble_bootstrap_intervals(
            cohort_answers, data.truth, data.n_classes, n_resamples=BOOTSTRAP_RESAMPLES, seed=seed,
            unanswered=scorer.unanswered,
        )
        table2.append(
            Table2Row(
                reader=name,
                cohort=cohort,
                simulated=any_simulated,
                kind="ensemble",
                **ensemble.mean.to_dict(),
                **_interval_fields(bootstrap),
                n_answered=int(ensemble.repetitions.n_answered[0]),
                n_readers=ensemble.n_readers,
            )
        )
        if data.models:
            table3.append(
                _ensemble_table3(name, cohort, any_simulated, data.models[0].answers, ensemble.predictions, data.truth)
            )
    if not data.models:
        notes.append(
            "No model run was given: Table 3, the model against the population of readers and the cases need "
            "one (--model RUN)."
        )
    mrmc = _mrmc_rows(data, people, answers, margin, notes)
    agreement = _agreement(data, people, answers, scorer.unanswered, notes)
    sections = reader_sections(data, people_with_answers, cohorts, notes)

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
        mrmc=tuple(mrmc),
        agreement=agreement,
        margin=None if margin is None else float(margin),
        notes=tuple(notes),
        readers=sections.readers,
        anchoring=sections.anchoring,
        test_retest=sections.test_retest,
        reading_time=sections.reading_time,
        instructions=sections.instructions,
    )
