"""Every sentence the report writes, in one place: the results in words (the model against the readers,
anchoring, reading time, the assisted arm), the notes on what was left out, and the paragraphs under each table that say
how it was computed and how to read it.

The computation (``analysis.report``, ``analysis.report_readers``) and the tables
(``analysis.report_tables``) take their words from here and from nowhere else.
"""

from __future__ import annotations

import math

from analysis.mrmc import FIXED_READERS_RANDOM_CASES, RANDOM_READERS_FIXED_CASES, RANDOM_READERS_RANDOM_CASES
from analysis.report_content import ERROR, INFORMATION, WARNING, Note

FOM_WORDS = {"accuracy": "accuracy", "f1": "macro F1"}
VARIANT_WORDS = {
    RANDOM_READERS_RANDOM_CASES: "random readers, random cases",
    FIXED_READERS_RANDOM_CASES: "fixed readers, random cases",
    RANDOM_READERS_FIXED_CASES: "random readers, fixed cases",
}


def plural(cohort: str) -> str:
    return cohort if cohort.endswith("s") else f"{cohort}s"


def cohort_heading(cohort: str) -> str:
    """A cohort as the heading of its rows: "Experts"."""
    words = plural(cohort)
    return words[:1].upper() + words[1:]


def signed(value: float) -> str:
    """A difference for a sentence, with a true minus sign."""
    return f"{value:+.2f}".replace("-", "\u2212")


def ensemble_name(cohort: str) -> str:
    return f"Ensemble of {cohort}"


def cohort_mean_name(cohort: str) -> str:
    return f"Mean of {cohort}"


# The results in words.


def mrmc_summary(
    *, model: str, cohort: str, fom: str, variant: str, n_readers: int, effect: float, ci_low: float,
    ci_high: float, level: float, margin: float | None = None, p_noninferiority: float | None = None,
    aided: bool = False,
) -> str:
    """The result of a model-against-readers row in words, from its numbers: better, worse or no
    significant difference (the interval excluding zero or not), and whom it applies to; ``aided``:
    the readers read with the machine's suggestion."""
    what = FOM_WORDS.get(fom, fom)
    with_suggestion = " reading with the suggestion" if aided else ""
    against = f"the average {cohort}{with_suggestion}"
    if not all(math.isfinite(value) for value in (effect, ci_low, ci_high)):
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
        sentence += f"; the result applies to these {n_readers} {plural(cohort)}{with_suggestion}, on samples like these"
    else:
        sentence += f"; the result applies to {plural(cohort)}{with_suggestion} and samples like these"
    if margin is not None and p_noninferiority is not None and math.isfinite(p_noninferiority):
        alpha = 1 - level
        if p_noninferiority < alpha / 2:
            sentence += f"; not worse by {margin:g} or more (non-inferior, p = {p_noninferiority:.2g})"
        else:
            sentence += f"; that it is not worse by {margin:g} or more is not shown (p = {p_noninferiority:.2g})"
    return sentence + "."


def anchoring_summary(cohort: str | None, effect) -> str:
    """The anchoring effect of a cohort (or of all readers, ``cohort`` None) in words."""
    who = "Readers" if cohort is None else f"Readers of the {cohort} cohort"
    if effect.n_readers < 2:
        return (
            f"{who}: {effect.n_readers} reader(s) answered both cases of classes they had looked up in the gallery "
            "and cases of classes they had not; an effect across readers needs two or more."
        )
    mean = effect.mean_difference
    interval = f"{effect.level:.0%} CI {signed(effect.ci_low)} to {signed(effect.ci_high)}"
    if not math.isnan(effect.ci_low) and effect.ci_low <= 0 <= effect.ci_high:
        interval += ", which includes no difference"
    p_value = "" if math.isnan(effect.pvalue) else f"; p = {effect.pvalue:.2g}"
    if mean == 0:
        how = "as accurate on cases of classes they had looked up in the gallery before answering as on the others"
    else:
        how = (
            f"{abs(mean):.2f} {'more' if mean > 0 else 'less'} accurate on cases of classes they had looked up in "
            "the gallery before answering than on the others"
        )
    return (
        f"{who} were {how} ({interval}{p_value}; {effect.n_readers} readers). Looking a class up goes with, but "
        "is not shown to cause, the difference: readers look up the classes they find hard."
    )


def reading_time_summary(cohort: str, result) -> str:
    """A cohort's accuracy of its fastest and slowest quarters of answers, and Spearman's rho, in words."""
    if not result.quartiles:
        return f"{cohort}: no answer has a time."
    fastest, slowest = result.quartiles[0], result.quartiles[-1]
    words = (
        f"{cohort}: the fastest quarter of answers (median {fastest.median_seconds:.0f} s) were "
        f"{fastest.accuracy:.0%} right, the slowest quarter (median {slowest.median_seconds:.0f} s) "
        f"{slowest.accuracy:.0%}; "
    )
    if math.isnan(result.spearman_rho):
        return words + f"Spearman's rho is undefined (all times or all outcomes alike; {result.n_cases} answers)."
    p_value = "" if math.isnan(result.pvalue) else f", p = {result.pvalue:.2g}"
    return words + f"Spearman's rho of time with correctness {signed(result.spearman_rho)} ({result.n_cases} answers{p_value})."


def _readers_of(cohort: str | None) -> str:
    return "readers" if cohort is None else plural(cohort)


APPLIES_TO = {
    RANDOM_READERS_RANDOM_CASES: "{readers} and cases like these",
    FIXED_READERS_RANDOM_CASES: "these {n} {readers}, on cases like these",
    RANDOM_READERS_FIXED_CASES: "{readers} like these, on these cases",
}


def aided_orh_summary(
    *, cohort: str | None, fom: str, variant: str, n_readers: int, effect: float, se: float, ci_low: float,
    ci_high: float, level: float,
) -> str:
    """Aided against unaided in words: more or less accurate with the suggestion, or no significant
    difference (the interval excluding zero or not), and whom it applies to."""
    who, what = f"{_readers_of(cohort)[:1].upper()}{_readers_of(cohort)[1:]}", FOM_WORDS.get(fom, fom)
    applies = APPLIES_TO[variant].format(readers=_readers_of(cohort), n=n_readers)
    if not all(math.isfinite(value) for value in (effect, se, ci_low, ci_high)) or se == 0:
        return (
            f"{who} with the suggestion against alone in {what}: the difference is {signed(effect)} and cannot be "
            "tested (the figures do not vary from case to case)."
        )
    interval = f"{level:.0%} CI {signed(ci_low)} to {signed(ci_high)}"
    if ci_low > 0:
        sentence = f"{who} scored {effect:.2f} higher {what} with the suggestion than alone ({interval})"
    elif ci_high < 0:
        sentence = f"{who} scored {-effect:.2f} lower {what} with the suggestion than alone ({interval})"
    else:
        sentence = f"No significant difference in {what} between {_readers_of(cohort)} with the suggestion and alone ({signed(effect)}, {interval})"
    return f"{sentence}; the result applies to {applies}."


DESIGN_SUPPORTS = {
    "sequential": (
        "The study was read sequentially: each reader answered a case alone, that answer was locked, then the "
        "suggestion of {source} appeared and the reader gave a final answer. It supports claims about the model "
        "as a second reader, consulted after one's own reading; not about reading with the suggestion from the "
        "start (concurrent use), which a crossover design measures."
    ),
    "crossover": (
        "The study was read in a crossover: every case once alone and once with the suggestion of {source} "
        "shown from the start, in two sessions apart, blocks of cases alternating between the two and the "
        "sequence groups in opposite order. It supports claims about aided against unaided reading (concurrent "
        "use); the change from the answer alone to the answer with the suggestion is one between readings "
        "weeks apart, not a switch seen as it happened."
    ),
}


def assistance_design_sentence(design: str, source: str) -> str:
    return DESIGN_SUPPORTS[design].format(source=source or "the model")


def wrong_suggestions_sentence(n_wrong: int, n_cases: int, n_readings: int, n_rsr_readings: int) -> str:
    """How many wrong suggestions the measures of reliance on a wrong suggestion rest on."""
    if n_wrong == 0:
        return (
            f"The model's suggestion was right on every one of the {n_cases} cases: nothing here says what readers "
            "do with a wrong suggestion (the relative self-reliance and the harmful switch rate are undefined)."
        )
    return (
        f"The model's suggestion was wrong on {n_wrong} of {n_cases} cases ({n_readings} readings): what readers do "
        f"with a wrong suggestion rests on those, and the relative self-reliance and the harmful switch rate on "
        f"the {n_rsr_readings} readings in which the reader was right alone. With few wrong suggestions these "
        "rates are imprecise; a study of automation bias enriches its cases with wrong suggestions or adds "
        "controlled ones."
    )


def controlled_sentence(n_controlled: int) -> str:
    return (
        f"{n_controlled} case(s) showed a controlled suggestion, a chosen wrong class in place of the model's: "
        "they are left out of the comparison of aided with unaided reading (the analysis of aided against "
        "unaided, each reader's change, the reading time and the crossover effects), which holds the model's "
        "own suggestions only, and reported apart in the switches and by suggestion, as 'controlled'."
    )


def harmed_readers_sentence(harmed: list[str], helped: list[str], caveat: str) -> str:
    """Which readers the suggestion harmed (and helped), with the caveat of one test per reader."""
    if harmed:
        sentence = f"Harmed (their interval of the change lies below 0): {', '.join(harmed)}. "
    else:
        sentence = "No reader's interval of the change lies below 0: none is marked harmed. "
    if helped:
        sentence += f"Helped (interval above 0): {', '.join(helped)}. "
    return sentence + caveat


# Notes: what a report leaves out, and why.


def missing_answers_note(n_missing: int, n_readers: int) -> Note:
    return Note(
        WARNING,
        f"Computed on the answers there are: {n_missing} answers are missing ({n_readers} reader(s)); each reader "
        "is scored on the samples they answered.",
    )


def not_answered_note(pseudonym: str) -> Note:
    return Note(WARNING, f"{pseudonym} has not answered yet and is left out.")


def no_model_note() -> Note:
    return Note(
        WARNING,
        "No model run was given: Table 3, the model against the population of readers and the cases need one "
        "(--model RUN).",
    )


def cohort_mean_without_interval_note(cohort: str, n_readers: int, n_samples: int, limit: int) -> Note:
    return Note(
        INFORMATION,
        f"Table 2 gives the mean of {cohort} without confidence intervals: its {n_readers:,} readers x "
        f"{n_samples:,} samples are more than the {limit:,} answers the report resamples.",
    )


def mrmc_left_out_note(model: str, cohort: str, fom: str, error: Exception) -> Note:
    return Note(WARNING, f"{model} against the {cohort} cohort ({FOM_WORDS[fom]}) is left out: {error}.")


def mrmc_cases_dropped_sentence(model: str, cohort: str, n_dropped: int, n_samples: int) -> str:
    return (
        f"{model} against the {cohort} cohort: {n_dropped} of {n_samples} samples are left out, unanswered by "
        "the model or some reader (the analysis needs every reader on every sample)."
    )


def mrmc_cases_dropped_note(model: str, cohort: str, n_dropped: int, n_samples: int) -> Note:
    return Note(WARNING, mrmc_cases_dropped_sentence(model, cohort, n_dropped, n_samples))


def fleiss_left_out_note(cohort: str, error: Exception) -> Note:
    return Note(WARNING, f"Fleiss' kappa of the {cohort} cohort is left out: {error}.")


def cohen_with_models_only_note(n_people: int, limit: int) -> Note:
    return Note(
        INFORMATION,
        f"Cohen's kappa is given for each reader with each model only: {n_people:,} people would make "
        f"{n_people * (n_people - 1) // 2:,} pairs (the report pairs people up to {limit}).",
    )


def test_split_incomplete_note(run: str, covered: int, n_test: int) -> Note:
    return Note(
        INFORMATION,
        f"Tables 1 and 7 leave out {run}: it has predictions for {covered} of the {n_test} test-split samples, "
        "not all.",
    )


def tables_1_and_7_need_two_runs_note() -> Note:
    return Note(INFORMATION, "Tables 1 and 7 need two or more runs with predictions on the whole test split.")


def instruction_versions_sentence(versions) -> str:
    listing = "; ".join(f"{v.digest[:12]} by {v.n_participants}" for v in versions)
    return (
        f"Participants saw {len(versions)} different versions of the instructions ({listing}): their readings "
        "may differ by the wording they read."
    )


def instruction_versions_note(versions) -> Note:
    return Note(WARNING, instruction_versions_sentence(versions))


def instructions_never_opened_sentence(n_never: int, n_people: int, n_simulated: int) -> str:
    if n_never == n_people:
        sentence = "No participant has opened the instructions page"
    else:
        sentence = f"{n_never} of {n_people} participants never opened the instructions page"
    if n_simulated == n_never:
        sentence += " (simulated readers do not)"
    elif n_simulated:
        sentence += f" ({n_simulated} of them simulated readers, who do not)"
    return sentence + "."


def case_without_panels_note(position: int, error: Exception) -> Note:
    return Note(ERROR, f"Case {position}: no panels, the sample's pixels cannot be read ({error}).")


NO_GALLERY_VISITS_GIVEN = "The report was given no gallery visits: anchoring is not measured."
NO_READER_ANSWERED = "No reader has answered yet."
NO_GALLERY_OPENED = (
    "No reader opened the gallery: every case counts as not looked up, and there is no effect to measure."
)
NO_LOOK_BEFORE_ANSWER = "Readers opened the gallery, but none before answering a case of the class they looked at."
NO_REPEATED_CASES = "The study repeats no case: test-retest consistency is not measured."


def repeats_not_read_twice(n_configured: int) -> str:
    return f"The study shows {n_configured} case(s) twice; no reader has answered one both times yet."


# The paragraphs under each table: how it was computed and how to read it.

TABLE2_METHOD = (
    "Accuracy, and F1, precision and recall of each class one against the rest, averaged over the classes, as "
    "in the paper's Table 2. 95% confidence intervals by the percentile bootstrap over samples (2,000 seeded "
    "resamples): of each reader, of each ensemble (its ties drawn again inside each resample) and of each "
    "cohort's mean over its readers. An ensemble is the majority vote of a cohort's readers on each sample, "
    "ties broken at random; its figures are the means over its tie-breaking repetitions."
)
READERS_FIGURE_CAPTION = (
    "Every reader's accuracy with its 95% interval, by cohort; the models and the ensembles as lines."
)


def table3_method(n_repetitions: int) -> str:
    return (
        "The samples both the model and the reader got right, only the model, only the reader, and neither, with "
        "McNemar's test of the discordant samples (chi-square with continuity correction, as the paper; the exact "
        "binomial test beside it). An ensemble's cells are the expected counts over its "
        f"{n_repetitions:,} tie-breaking repetitions, the means of their tables, hence not whole numbers; its "
        "p-values are the medians of the repetitions' tests."
    )


TABLE1_METHOD = (
    "The runs that predicted every sample of the data set's test split, each class scored as a yes/no task "
    "(threshold 0.5): F1 averaged over the classes with its standard deviation over them, precision, recall, "
    "and the area under the ROC curve of the probabilities, averaged over the classes. p: the one-sided "
    "Wilcoxon signed-rank test, over the classes' F1, that the best run is better than this one (normal "
    "approximation without continuity correction, as the paper)."
)
TABLE7_METHOD = "F1 of each class on the test split, by run; the last row is the mean over the classes."
FIGURE4_METHOD = (
    "Each reader's answers (columns) for the samples of each true class (rows), as fractions of the class's "
    "samples; a row sums to the fraction answered."
)
MRMC_METHOD = (
    "Each model against the readers of each cohort of two or more, by the Obuchowski-Rockette-Hillis method: the "
    "difference is the model's figure of merit minus the mean of its readers', its standard error from the "
    "jackknife over samples. Random readers, random cases: the result applies to other readers like these and "
    "other samples (Hillis' degrees of freedom). Fixed readers, random cases: to these readers, on other "
    "samples (df ∞, the normal distribution)."
)
MRMC_FIGURE_CAPTION = (
    "Each model's difference from the mean of a cohort's readers with its 95% interval, by figure of merit; "
    "filled: random readers, open: fixed readers. The line at 0 is no difference."
)


def mrmc_margin_method(margin: float) -> str:
    return (
        f"p non-inferior: the one-sided test that the model is worse than the readers by {margin:g} or more; a "
        f"small value says it is not (non-inferior by that margin, the dashed line at −{margin:g})."
    )


MRMC_NONE_DROPPED = "Every sample was answered by the model and every reader: none is left out."
MRMC_NONE = "None: this needs a model and a cohort of two or more readers."
FLEISS_METHOD = (
    "Chance-corrected agreement of the readers of each cohort of two or more (Fleiss 1971): 1 is perfect "
    "agreement, 0 what chance gives. On the samples every reader of the cohort answered; the samples left out "
    "are those some reader did not answer."
)
COHEN_METHOD = "Cohen's kappa (Cohen 1960) of two readers, models included, on the samples both answered."
PER_CLASS_ACCURACY_METHOD = (
    "The fraction of each class's samples answered correctly: by each model, and by each cohort with its readers' "
    "answers pooled."
)
READERS_METHOD = (
    "Every person of the study (each cohort's readers one by one, not only the experts of Table 2): their "
    "accuracy on the first readings they gave, the median of their active seconds per case, and their answers "
    "to the study's background form, to relate accuracy to experience."
)
ANCHORING_METHOD = (
    "Whether readers answered better the cases of classes they had looked up in the gallery before answering: a "
    "case counts as looked up when the reader had opened the gallery page of its true class before their (last) "
    "answer to it. Each reader's accuracy on those cases and on the others, and the difference; across the "
    "readers with cases of both kinds, the mean difference with its t interval (readers random)."
)
ANCHORING_READERS_METHOD = (
    "Each class a reader looked at, when first, how many of its examples, and how many of the reader's cases of "
    "that class they answered after that first look."
)


def retest_method(n_repeated_cases: int) -> str:
    return (
        "Cases shown twice to every reader, far apart in their order and unmarked "
        f"({n_repeated_cases} in this study): Cohen's kappa between a reader's first and second reading (1: the "
        "same answer both times; 0: what chance gives), beside their agreement with the truth at each reading "
        "(accuracy and Cohen's kappa with the true class). Per cohort, the mean of its readers' kappas and the "
        "kappa of all its pairs of readings pooled."
    )


READING_TIME_METHOD = (
    "Active seconds on a case (the page visible and in use) against whether the first reading was right, per "
    "cohort: its answers split into quarters by time (1: the fastest), the accuracy and median seconds of each, "
    "and Spearman's rank correlation of time with correctness. Models have no reading time."
)
READING_TIME_FIGURE_CAPTION = "Accuracy of each quarter of a cohort's answers by reading time, a line per cohort."


def untimed_sentence(counts: list[tuple[str, int]]) -> str:
    return "Answers without a time (left out): " + ", ".join(f"{cohort}: {n}" for cohort, n in counts) + "."


NO_READING_TIMES = "None: the report was given no reading times."
INSTRUCTIONS_METHOD = (
    "Every wording of the study's instructions that a participant was shown, by its SHA-256 (its first 12 "
    "characters here; all of it in report.json)."
)
CASES_METHOD = (
    "The study's samples that every expert got wrong: the model too, or only the model right (the paper's "
    "appendix). The four panels as participants saw them, in the labelling page's order."
)


# The assisted arm.

NO_ASSISTED_READINGS = "No reader has answered a case both alone and with the suggestion yet: nothing to compare."
ASSISTANCE_NO_READING_TIMES = "None: the report was given no reading times."
ASSISTANCE_ORH_METHOD = (
    "Each reader's answers with the suggestion against their answers alone, as two modalities read by the same "
    "readers on the same cases, by the Obuchowski-Rockette-Hillis method (Obuchowski & Rockette 1995; Hillis "
    "2007): the difference is the mean figure of merit aided minus unaided, its standard error from the jackknife "
    "over cases. Per cohort and over all readers, on the cases every reader of the group read both ways. Random "
    "readers, random cases: the result applies to other readers and cases like these; fixed readers: to these "
    "readers; fixed cases: to these cases. Var(TR), the reader-by-modality variance, is how much the effect "
    "differs from reader to reader."
)
ASSISTANCE_MODEL_METHOD = (
    "Each model against the readers of each cohort reading with the suggestion (their aided answers), as the "
    "model against the population of readers above does with their answers alone."
)
ASSISTANCE_READERS_METHOD = (
    "Each reader's accuracy alone and with the suggestion on the cases they read both ways: helped, the cases wrong "
    "alone and right with the suggestion; harmed, the reverse; p, McNemar's exact test of the two counts. The "
    "interval of the change is the jackknife over the reader's cases (as MRMCaov's reader-specific intervals); "
    "the verdict is 'helped' when it lies above 0, 'harmed' below, else 'no detectable change'."
)
ASSISTANCE_READERS_FIGURE_CAPTION = (
    "Every reader's accuracy alone (left) and with the suggestion (right), a line per reader coloured by cohort; "
    "readers marked harmed in red and bold, the model's accuracy alone dotted."
)
ASSISTANCE_SWITCHES_METHOD = (
    "With u the answer alone, f the answer with the suggestion, a the suggestion and t the truth: relative AI "
    "reliance (RAIR) P(f = t | u ≠ t, a = t), the share of the cases the reader got wrong alone and the suggestion "
    "right that the reader then got right; relative self-reliance (RSR) P(f = t | u = t, a ≠ t), the share of "
    "the cases the reader got right alone and the suggestion wrong that the reader kept right (Schemmer et al. "
    "2023); the harmful switch rate P(f = a | u = t, a ≠ t); wrong suggestions adopted, the final answers that "
    "took up a wrong suggestion the reader had not given alone; agreement with the suggestion before (P(u = a)) "
    "and after (P(f = a)). A cohort's row pools its readers' readings. A rate with no case to rest on is shown "
    "as –, never 0. Read them beside the change without any suggestion: the share of the cases read twice alone "
    "that the reader answered differently the second time."
)
ASSISTANCE_SWITCHES_CROSSOVER = (
    "In a crossover the answer alone and the answer with the suggestion are readings in different sessions: "
    "these figures measure agreement across sessions, not switches seen as they happened."
)
ASSISTANCE_BY_SUGGESTION_METHOD = (
    "Accuracy alone and with the suggestion on the cases whose suggestion was right and on those whose suggestion "
    "was wrong (Kiani et al. 2020), per cohort and over all readers, pooled over the readings; controlled "
    "suggestions, wrong by design, apart."
)
ASSISTANCE_TIME_METHOD = {
    "sequential": (
        "Seconds per case alone (the active seconds of the answer alone) against with the suggestion (those and "
        "the active seconds of the final answer after the suggestion appeared: the time a second reading with "
        "the machine takes in all), per cohort and over all readers; and the seconds after the suggestion "
        "appeared, when the answer alone agreed with it against when it did not. Medians of the pooled readings; "
        "the test compares each reader's medians (Wilcoxon signed-rank test over readers)."
    ),
    "crossover": (
        "Active seconds per case of the readings alone against those with the suggestion, per cohort and over all "
        "readers. Medians of the pooled readings; the test compares each reader's medians (Wilcoxon signed-rank "
        "test over readers)."
    ),
}
TIME_COMPARISON_WORDS = {"arms": "Alone against with the suggestion", "after_suggestion": "After the suggestion"}
ASSISTANCE_CROSSOVER_METHOD = (
    "The crossover's effects on accuracy, each reader one figure, tested over readers (Jones & Kenward 2014, ch. "
    "2): period, session 2 minus session 1 (the mean of the two arms; learning or fatigue); sequence, the readers "
    "who started with the suggestion minus those who started alone; carry-over, the effect of the suggestion in "
    "session 1 minus in session 2 (memory of the first reading). Beside them each arm's accuracy per session, the "
    "mean over readers."
)
CROSSOVER_EFFECT_WORDS = {"period": "Period (session 2 − 1)", "sequence": "Sequence", "carryover": "Carry-over"}


def crossover_left_out_note(error: Exception) -> str:
    return f"The crossover's period and sequence effects are left out: {error}."
ASSISTANCE_ORH_NONE = "None: this needs two or more readers who read the same cases both alone and with the suggestion."
ASSISTANCE_CROSSOVER_NONE = "None: see the report's notes."


def suggestion_kind(source: str, correct: bool) -> str:
    if source == "controlled":
        return "controlled (wrong by design)"
    return "the model's, right" if correct else "the model's, wrong"


def seconds_difference(value: float | None) -> str:
    return "–" if value is None else f"{signed(value)} s"
