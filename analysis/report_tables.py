"""Every table of the report, specified once (``analysis.tables``): its CSV file with the machine names
and exact values, and its page form with headers in words, intervals in one cell, readable p-values and
rows grouped as the paper groups them (model, experts, scholars, ensembles).

The tables are made from ``report.json``'s document (``Report.to_dict``), so a built report is shown
without computing it again, and the files and the page cannot disagree. ``report_tables(document)`` is
every table in the page's order; those with ``columns`` are also CSV files (``csv_bytes``).
"""

from __future__ import annotations

import math

import numpy as np

from analysis import report_words as words
from analysis.mrmc import FIXED_READERS_RANDOM_CASES, RANDOM_READERS_RANDOM_CASES
from analysis.tables import (
    Cell,
    Figure,
    Table,
    count,
    figure,
    figure_text,
    information,
    p_value,
    seconds,
    signed_text,
    simulated,
    text,
    when_text,
    with_interval,
)

READERS_FIGURE = "readers_accuracy.png"
FOREST_FIGURE = "mrmc_forest.png"
READING_TIME_FIGURE = "reading_time.png"
ASSISTANCE_READERS_FIGURE = "assistance_readers.png"

TABLE2_COLUMNS = (
    "reader", "cohort", "simulated", "accuracy", "f1", "precision", "recall",
    "accuracy_ci_low", "accuracy_ci_high", "f1_ci_low", "f1_ci_high", "n_answered", "kind", "n_readers",
)
TABLE3_COLUMNS = (
    "reader", "cohort", "simulated", "both_correct", "model_only", "reader_only", "both_wrong", "statistic",
    "p_value", "p_value_exact",
)
TABLE1_COLUMNS = ("model", "f1", "f1_std", "p_value", "precision", "recall", "auc", "auc_std", "n_samples")
MRMC_COLUMNS = (
    "model", "cohort", "simulated", "fom", "variant", "n_readers", "n_cases", "n_cases_dropped", "model_fom",
    "mean_reader_fom", "effect", "se", "df", "ci_low", "ci_high", "p_value",
)
NONINFERIORITY_COLUMNS = ("margin", "p_noninferiority")
AGREEMENT_COLUMNS = ("kind", "cohort_a", "reader_a", "cohort_b", "reader_b", "class", "value", "n_samples", "simulated")
READER_COLUMNS = (
    "reader", "cohort", "simulated", "n_answered", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "median_seconds",
)
ANCHORING_COLUMNS = (
    "kind", "cohort", "reader", "simulated", "n_looked_up", "n_not_looked_up", "accuracy_looked_up",
    "accuracy_not_looked_up", "difference", "n_readers", "ci_low", "ci_high", "p_value", "classes_looked_up",
)
TEST_RETEST_COLUMNS = (
    "kind", "cohort", "reader", "simulated", "n_readers", "n_repeats", "kappa", "pooled_kappa", "accuracy_first",
    "accuracy_second", "kappa_first_truth", "kappa_second_truth",
)
READING_TIME_COLUMNS = (
    "cohort", "simulated", "n_readers", "quartile", "n_cases", "median_seconds", "accuracy", "spearman_rho",
    "p_value", "n_untimed",
)

ASSISTANCE_ORH_COLUMNS = (
    "cohort", "simulated", "fom", "variant", "n_readers", "n_cases", "unaided_fom", "aided_fom", "effect", "se", "df",
    "ci_low", "ci_high", "p_value", "var_tr",
)
ASSISTANCE_READERS_COLUMNS = (
    "reader", "cohort", "simulated", "n_cases", "unaided_accuracy", "aided_accuracy", "change", "helped", "harmed",
    "p_value", "std_error", "ci_low", "ci_high", "verdict",
)
ASSISTANCE_SWITCHES_COLUMNS = (
    "level", "name", "cohort", "simulated", "suggestion_source", "n_cases", "n_suggestion_right", "n_suggestion_wrong",
    "rair", "rsr", "harmful_switch_rate", "wrong_adopted", "agree_before", "agree_after", "n_rair_cases",
    "n_rsr_cases", "unaided_change_rate", "n_retest_pairs",
)
ASSISTANCE_BY_SUGGESTION_COLUMNS = (
    "cohort", "simulated", "suggestion_source", "suggestion_correct", "n_cases", "n_readings", "unaided_accuracy",
    "aided_accuracy",
)
ASSISTANCE_TIME_COLUMNS = (
    "comparison", "cohort", "simulated", "first", "second", "n_readers", "n_first", "n_second", "median_first_seconds",
    "median_second_seconds", "median_difference_seconds", "statistic", "p_value",
)
ASSISTANCE_CROSSOVER_COLUMNS = (
    "cohort", "simulated", "effect", "n_readers", "estimate", "std_error", "df", "statistic", "p_value", "ci_low",
    "ci_high", "unaided_session_1", "unaided_session_2", "aided_session_1", "aided_session_2",
)


def _figure(document: dict, file: str, alt: str, caption: str) -> Figure | None:
    return Figure(file, alt, caption) if file in document.get("files", ()) else None


def _by_cohort(record: dict) -> str:
    return words.cohort_heading(record["cohort"])


def _readers_and_ensembles(models_heading: str):
    """Rows of people under their cohort's heading, models and ensembles under their own."""

    def group(record: dict) -> str:
        if record["kind"] == "model":
            return models_heading
        if record["kind"] == "ensemble":
            return "Ensembles"
        return words.cohort_heading(record["cohort"])

    return group


def table2(document: dict) -> Table:
    return Table(
        name="table2",
        title="Table 2: accuracy, and F1, precision and recall averaged over classes",
        file="table2.csv",
        records=document["table2"],
        columns=TABLE2_COLUMNS,
        cells=(
            text("reader", "Reader"),
            simulated(),
            with_interval("accuracy", "accuracy_ci_low", "accuracy_ci_high", "Accuracy (95% CI)"),
            with_interval("f1", "f1_ci_low", "f1_ci_high", "F1 (95% CI)"),
            figure("precision", "Precision"),
            figure("recall", "Recall"),
            count("n_answered", "Answered"),
            count("n_readers", "Readers"),
        ),
        group=_readers_and_ensembles("Model" if len(document["models"]) == 1 else "Models"),
        method=(words.TABLE2_METHOD,),
        figure=_figure(
            document, READERS_FIGURE, "Dot plot of every reader's accuracy with its interval, by cohort",
            words.READERS_FIGURE_CAPTION,
        ),
    )


def table3(document: dict) -> Table:
    model = document["models"][0] if document["models"] else "the model"
    return Table(
        name="table3",
        title=f"Table 3: McNemar's test against {model}",
        file="table3.csv",
        records=document["table3"],
        columns=TABLE3_COLUMNS,
        cells=(
            text("reader", "Reader"),
            simulated(),
            count("both_correct", "Both correct"),
            count("model_only", "Only the model"),
            count("reader_only", "Only the reader"),
            count("both_wrong", "Both wrong"),
            figure("statistic", "χ²"),
            p_value("p_value"),
            p_value("p_value_exact", "p (exact)"),
        ),
        group=_readers_and_ensembles("Other models"),
        method=(words.table3_method(document["repetitions"]),),
    )


def table1(document: dict) -> Table:
    return Table(
        name="table1",
        title="Table 1: models on the test split",
        file="table1.csv",
        records=document["table1"],
        columns=TABLE1_COLUMNS,
        cells=(
            text("model", "Model"),
            Cell("F1 (± SD over classes)", lambda r: _with_spread(r["f1"], r["f1_std"])),
            p_value("p_value", "p (best better)"),
            figure("precision", "Precision"),
            figure("recall", "Recall"),
            Cell("AUC (± SD over classes)", lambda r: _with_spread(r["auc"], r["auc_std"])),
            count("n_samples", "Test samples"),
        ),
        method=(words.TABLE1_METHOD,),
    )


def _with_spread(value, spread) -> str:
    if value is None or spread is None:
        return figure_text(value)
    return f"{figure_text(value)} ± {figure_text(spread)}"


def table7(document: dict) -> Table:
    """Per-class F1, a column per run, and a last row of each run's mean over the classes (its Table 1 F1)."""
    per_class = document["table7"]["per_class_f1"]
    models = list(per_class)
    records = [
        {"class": name, **{model: per_class[model][i] for model in models}}
        for i, name in enumerate(document["table7"]["class_names"])
    ]
    mean_f1 = {row["model"]: row["f1"] for row in document["table1"]}
    records.append({"class": "Mean", **{model: mean_f1[model] for model in models}})
    return Table(
        name="table7",
        title="Table 7: F1 per class",
        file="table7.csv",
        records=records,
        columns=("class", *models),
        cells=(text("class", "Class"), *(figure(model, model) for model in models)),
        method=(words.TABLE7_METHOD,),
    )


def _with_infinite_df(rows: list[dict], **extra) -> list[dict]:
    """Rows whose fixed-readers df is infinite again: JSON has no infinity, and it is the normal reference's."""
    return [
        {**row, "df": math.inf if row["df"] is None and row["variant"] == FIXED_READERS_RANDOM_CASES else row["df"],
         **extra}
        for row in rows
    ]


def mrmc(document: dict) -> Table:
    """The model against the population of readers, its results in words under the table."""
    rows = document.get("mrmc", [])
    margin = document.get("margin")
    records = _with_infinite_df(rows, margin=margin)
    method = [words.MRMC_METHOD]
    if margin is not None:
        method.append(words.mrmc_margin_method(margin))
    dropped = {(r["model"], r["cohort"]): (r["n_cases_dropped"], r["n_cases"]) for r in rows if r["n_cases_dropped"]}
    findings = [row["summary"] for row in rows]
    findings += [
        words.mrmc_cases_dropped_sentence(model, cohort, n_dropped, n_dropped + n_cases)
        for (model, cohort), (n_dropped, n_cases) in dropped.items()
    ]
    if rows and not dropped:
        method.append(words.MRMC_NONE_DROPPED)
    cells = [
        Cell("Figure of merit", lambda r: words.FOM_WORDS.get(r["fom"], r["fom"]), numeric=False),
        Cell("Readers taken as", lambda r: words.VARIANT_WORDS.get(r["variant"], r["variant"]), numeric=False),
        count("n_readers", "Readers"),
        count("n_cases", "Samples"),
        figure("model_fom", "Model"),
        figure("mean_reader_fom", "Readers' mean"),
        with_interval("effect", "ci_low", "ci_high", "Difference (95% CI)", signed=True),
        figure("se", "SE"),
        Cell("df", lambda r: _degrees_of_freedom(r["df"])),
        p_value("p_value"),
    ]
    if margin is not None:
        cells.append(p_value("p_noninferiority", "p non-inferior"))
    return Table(
        name="mrmc",
        title="Model against the population of readers",
        file="mrmc.csv",
        records=records,
        columns=MRMC_COLUMNS + (NONINFERIORITY_COLUMNS if margin is not None else ()),
        cells=tuple(cells),
        group=lambda r: f"{r['model']} against the {words.plural(r['cohort'])}"
        + (" (simulated readers)" if r["simulated"] else ""),
        findings=tuple(findings),
        method=tuple(method),
        notes=() if rows else information(words.MRMC_NONE),
        figure=_figure(
            document, FOREST_FIGURE, "Forest plot of the model's difference from each cohort's readers",
            words.MRMC_FIGURE_CAPTION,
        ),
    )


def _degrees_of_freedom(df) -> str:
    if df is None:
        return "–"
    return "∞" if df == math.inf else f"{df:.1f}"


def _agreement(document: dict) -> dict:
    return document.get("agreement") or {"fleiss_kappa": [], "cohens_kappa": [], "per_class_accuracy": []}


def agreement_file(document: dict) -> Table:
    """``agreement.csv``, one tidy table of three kinds of rows (``fleiss_kappa``, ``cohens_kappa``,
    ``per_class_accuracy``); the page shows each kind as a table of its own."""
    agreement = _agreement(document)
    records = [
        {"kind": "fleiss_kappa", "cohort_a": r["cohort"], "value": r["kappa"], "n_samples": r["n_samples"],
         "simulated": r["simulated"]}
        for r in agreement["fleiss_kappa"]
    ]
    records += [
        {"kind": "cohens_kappa", **{key: r[key] for key in ("cohort_a", "reader_a", "cohort_b", "reader_b")},
         "value": r["kappa"], "n_samples": r["n_samples"], "simulated": r["simulated_a"] or r["simulated_b"]}
        for r in agreement["cohens_kappa"]
    ]
    records += [
        {"kind": "per_class_accuracy", "cohort_a": r["cohort"], "reader_a": r["reader"], "class": r["class"],
         "value": r["accuracy"], "n_samples": r["n_samples"], "simulated": r["simulated"]}
        for r in agreement["per_class_accuracy"]
    ]
    for record in records:
        for column in ("cohort_a", "reader_a", "cohort_b", "reader_b", "class"):
            record.setdefault(column, "")
    return Table(name="agreement", title="Agreement", file="agreement.csv", records=records,
                 columns=AGREEMENT_COLUMNS, on_page=False)


def fleiss(document: dict) -> Table:
    return Table(
        name="fleiss",
        title="Agreement within each cohort: Fleiss' kappa",
        file="agreement.csv",
        records=_agreement(document)["fleiss_kappa"],
        cells=(
            text("cohort", "Cohort"),
            simulated(),
            figure("kappa", "Kappa"),
            count("n_readers", "Readers"),
            count("n_samples", "Samples"),
            count("n_excluded", "Samples left out"),
        ),
        method=(words.FLEISS_METHOD,),
    )


def cohen(document: dict) -> Table:
    """Cohen's kappa pairs as a symmetric matrix: every reader a row, a column for each reader paired
    with every other (all of them, or the models only when people were not paired)."""
    pairs = _agreement(document)["cohens_kappa"]
    names, cohort_of, simulated_of = [], {}, {}
    for pair in pairs:
        for side in ("a", "b"):
            name = pair[f"reader_{side}"]
            if name not in cohort_of:
                names.append(name)
                cohort_of[name] = pair[f"cohort_{side}"]
                simulated_of[name] = pair[f"simulated_{side}"]
    kappa = {}
    for pair in pairs:
        kappa[pair["reader_a"], pair["reader_b"]] = kappa[pair["reader_b"], pair["reader_a"]] = pair["kappa"]
    partners = [n for n in names if all(other == n or (n, other) in kappa for other in names)]
    records = [{"reader": n, "cohort": cohort_of[n], "simulated": simulated_of[n]} for n in names]
    return Table(
        name="cohen",
        title="Agreement of pairs of readers: Cohen's kappa",
        file="agreement.csv",
        records=records,
        cells=(
            text("reader", "Reader"),
            simulated(),
            *(Cell(m, lambda r, m=m: "" if r["reader"] == m else figure_text(kappa.get((r["reader"], m))))
              for m in partners),
        ),
        group=lambda r: "Models" if r["cohort"] == "model" else words.cohort_heading(r["cohort"]),
        method=(words.COHEN_METHOD,),
    )


def per_class_accuracy(document: dict) -> Table:
    columns, by_class = [], {}
    for row in _agreement(document)["per_class_accuracy"]:
        label = row["reader"] or words.cohort_heading(row["cohort"])
        if label not in columns:
            columns.append(label)
        by_class.setdefault(row["class"], {"class": row["class"], "n_samples": row["n_samples"]})[label] = row[
            "accuracy"
        ]
    return Table(
        name="per_class_accuracy",
        title="Accuracy per true class",
        file="agreement.csv",
        records=list(by_class.values()),
        cells=(text("class", "Class"), count("n_samples", "Samples"), *(figure(c, c) for c in columns)),
        method=(words.PER_CLASS_ACCURACY_METHOD,),
    )


def _background_columns(keys) -> list[str]:
    """A background question's column in ``readers.csv``: its key, prefixed ``background_`` should the
    key be one of the columns before it."""
    return [f"background_{key}" if key in READER_COLUMNS else key for key in keys]


def readers(document: dict) -> Table:
    questions = document.get("background_questions") or {}
    keys = list(questions)
    names = _background_columns(keys)
    records = [
        {**row, **{name: row["background"].get(key) for name, key in zip(names, keys)}}
        for row in document.get("readers") or []
    ]
    return Table(
        name="readers",
        title="The readers: accuracy beside their background",
        file="readers.csv",
        records=records,
        columns=READER_COLUMNS + tuple(names),
        cells=(
            text("reader", "Reader"),
            simulated(),
            count("n_answered", "Answered"),
            with_interval("accuracy", "accuracy_ci_low", "accuracy_ci_high", "Accuracy (95% CI)"),
            seconds("median_seconds", "Median time per case"),
            *(text(name, questions[key]) for name, key in zip(names, keys)),
        ),
        group=_by_cohort,
        method=(words.READERS_METHOD,),
    )


def _anchoring(document: dict) -> dict:
    return document.get("anchoring") or {"readers": [], "effects": [], "note": None}


def anchoring_file(document: dict) -> Table:
    """``kind`` ``reader``: a reader's accuracy on cases of classes looked up before answering and on the
    others, and the classes looked up (``;``-separated); ``kind`` ``effect``: the mean difference over the
    readers of a cohort (``cohort`` empty: over all readers), its interval and p-value."""
    section = _anchoring(document)
    records = [
        {**row, "kind": "reader", "n_readers": 1,
         "classes_looked_up": "; ".join(lookup["class"] for lookup in row["classes_looked_up"])}
        for row in section["readers"]
    ]
    records += [
        {"kind": "effect", "cohort": row["cohort"], "reader": "", "simulated": row["simulated"],
         "difference": row["mean_difference"], "n_readers": row["n_readers"], "ci_low": row["ci_low"],
         "ci_high": row["ci_high"], "p_value": row["p_value"], "classes_looked_up": ""}
        for row in section["effects"]
    ]
    return Table(name="anchoring_file", title="Anchoring", file="anchoring.csv", records=records,
                 columns=ANCHORING_COLUMNS, on_page=False)


def anchoring_effects(document: dict) -> Table:
    section = _anchoring(document)
    return Table(
        name="anchoring_effects",
        title="Anchoring on the gallery: across readers",
        file="anchoring.csv",
        records=[{**row, "cohort": row["cohort"] or "all readers"} for row in section["effects"]],
        cells=(
            text("cohort", "Cohort"),
            simulated(),
            count("n_readers", "Readers"),
            with_interval("mean_difference", "ci_low", "ci_high", "Mean difference (95% CI)", signed=True),
            p_value("p_value"),
        ),
        findings=tuple(row["summary"] for row in section["effects"]),
        method=(words.ANCHORING_METHOD,),
        notes=information(section.get("note")),
    )


def anchoring_readers(document: dict) -> Table:
    records = [
        {
            **row,
            "classes_looked_up": "; ".join(
                f"{lookup['class']} (first {when_text(lookup['first_viewed_at'])}, {lookup['n_views']} views, "
                f"{lookup['n_cases_looked_up']} cases after)"
                for lookup in row["classes_looked_up"]
            ),
        }
        for row in _anchoring(document)["readers"]
    ]
    return Table(
        name="anchoring",
        title="Anchoring on the gallery: each reader",
        file="anchoring.csv",
        records=records,
        cells=(
            text("reader", "Reader"),
            simulated(),
            count("n_looked_up", "Cases looked up"),
            count("n_not_looked_up", "Other cases"),
            figure("accuracy_looked_up", "Accuracy, looked up"),
            figure("accuracy_not_looked_up", "Accuracy, other"),
            Cell("Difference", lambda r: signed_text(r["difference"])),
            Cell("Classes looked up", lambda r: r["classes_looked_up"], numeric=False),
        ),
        group=_by_cohort,
        method=(words.ANCHORING_READERS_METHOD,),
    )


def _retest(document: dict) -> dict:
    return document.get("test_retest") or {"cohorts": [], "readers": [], "note": None, "n_repeated_cases": 0}


def retest_file(document: dict) -> Table:
    """``kind`` ``cohort``: the mean of its readers' kappas (``kappa``) and the pooled kappa, ``n_repeats``
    its pairs of readings; ``kind`` ``reader``: a reader's kappa between first and second reading. Both
    with the accuracy and the kappa with the truth of each reading."""
    section = _retest(document)
    records = [
        {**row, "kind": "cohort", "reader": "", "n_repeats": row["n_pairs"], "kappa": row["mean_kappa"]}
        for row in section["cohorts"]
    ]
    records += [{**row, "kind": "reader", "n_readers": 1} for row in section["readers"]]
    return Table(name="test_retest_file", title="Test-retest", file="test_retest.csv", records=records,
                 columns=TEST_RETEST_COLUMNS, on_page=False)


_RETEST_READINGS = (
    figure("accuracy_first", "Accuracy, 1st reading"),
    figure("accuracy_second", "Accuracy, 2nd reading"),
    figure("kappa_first_truth", "Kappa with truth, 1st"),
    figure("kappa_second_truth", "Kappa with truth, 2nd"),
)


def retest_cohorts(document: dict) -> Table:
    section = _retest(document)
    return Table(
        name="test_retest_cohorts",
        title="Test-retest consistency per cohort",
        file="test_retest.csv",
        records=section["cohorts"],
        cells=(
            text("cohort", "Cohort"),
            simulated(),
            count("n_readers", "Readers"),
            count("n_pairs", "Pairs of readings"),
            figure("mean_kappa", "Mean kappa"),
            figure("pooled_kappa", "Pooled kappa"),
            *_RETEST_READINGS,
        ),
        method=(words.retest_method(section.get("n_repeated_cases", 0)),),
        notes=information(section.get("note")),
    )


def retest_readers(document: dict) -> Table:
    return Table(
        name="test_retest",
        title="Test-retest consistency of each reader",
        file="test_retest.csv",
        records=_retest(document)["readers"],
        cells=(text("reader", "Reader"), simulated(), count("n_repeats", "Cases read twice"),
               figure("kappa", "Kappa"), *_RETEST_READINGS),
        group=_by_cohort,
    )


def reading_time_file(document: dict) -> Table:
    """A row per cohort and quartile of time (1 the fastest); a cohort without timed answers has one
    row without a quartile. Spearman's rho and its p-value repeat on each row of the cohort."""
    records = []
    for row in document.get("reading_time") or []:
        common = {key: row[key] for key in ("cohort", "simulated", "n_readers", "spearman_rho", "p_value", "n_untimed")}
        records += [{**common, **quartile} for quartile in row["quartiles"]]
        if not row["quartiles"]:
            records.append({**common, "n_cases": 0})
    return Table(name="reading_time_file", title="Reading time", file="reading_time.csv", records=records,
                 columns=READING_TIME_COLUMNS, on_page=False)


def reading_time(document: dict) -> Table:
    timing = document.get("reading_time") or []
    untimed = [(row["cohort"], row["n_untimed"]) for row in timing if row["n_untimed"]]
    method = [words.READING_TIME_METHOD] + ([words.untimed_sentence(untimed)] if untimed else [])
    return Table(
        name="reading_time",
        title="Reading time against correctness",
        file="reading_time.csv",
        records=[{"cohort": row["cohort"], "simulated": row["simulated"], **q} for row in timing for q in row["quartiles"]],
        cells=(
            Cell("Quarter by time", lambda r: f"{r['quartile']}" + {1: " (fastest)", 4: " (slowest)"}.get(r["quartile"], "")),
            simulated(),
            count("n_cases", "Answers"),
            seconds("median_seconds", "Median time"),
            figure("accuracy", "Accuracy"),
        ),
        group=_by_cohort,
        findings=tuple(row["summary"] for row in timing),
        method=tuple(method),
        notes=() if timing else information(words.NO_READING_TIMES),
        figure=_figure(document, READING_TIME_FIGURE, "Accuracy by quarter of reading time, a line per cohort",
                       words.READING_TIME_FIGURE_CAPTION),
    )


def _group_heading(cohort: str | None) -> str:
    return "All readers" if cohort is None else words.cohort_heading(cohort)


def _with_all_readers(rows: list[dict]) -> list[dict]:
    """Rows whose ``cohort`` None stands for all readers, so named on the page."""
    return [{**row, "cohort_name": "all readers" if row["cohort"] is None else row["cohort"]} for row in rows]


def assistance_orh(document: dict) -> Table:
    section = document["assistance"]
    rows = section["orh"]
    return Table(
        name="assistance_orh",
        title="Readers with the machine: aided against unaided",
        file="assistance_orh.csv",
        records=_with_infinite_df(rows),
        columns=ASSISTANCE_ORH_COLUMNS,
        cells=(
            Cell("Figure of merit", lambda r: words.FOM_WORDS.get(r["fom"], r["fom"]), numeric=False),
            Cell("Readers taken as", lambda r: words.VARIANT_WORDS.get(r["variant"], r["variant"]), numeric=False),
            simulated(),
            count("n_readers", "Readers"),
            count("n_cases", "Cases"),
            figure("unaided_fom", "Alone"),
            figure("aided_fom", "With the suggestion"),
            with_interval("effect", "ci_low", "ci_high", "Difference (95% CI)", signed=True),
            figure("se", "SE"),
            Cell("df", lambda r: _degrees_of_freedom(r["df"])),
            p_value("p_value"),
            Cell("Var(TR)", lambda r: "–" if r["var_tr"] is None else f"{r['var_tr']:.5f}".replace("-", "\u2212")),
        ),
        group=lambda r: _group_heading(r["cohort"]),
        findings=tuple(section["summary"])
        + tuple(r["summary"] for r in rows if r["variant"] == RANDOM_READERS_RANDOM_CASES),
        method=(words.ASSISTANCE_ORH_METHOD,),
        notes=() if rows else information(words.ASSISTANCE_ORH_NONE),
    )


def assistance_model(document: dict) -> Table:
    rows = document["assistance"]["model_vs_aided"]
    return Table(
        name="assistance_model",
        title="Readers with the machine against the model alone",
        file="assistance_model.csv",
        records=_with_infinite_df(rows),
        columns=MRMC_COLUMNS,
        cells=(
            Cell("Figure of merit", lambda r: words.FOM_WORDS.get(r["fom"], r["fom"]), numeric=False),
            Cell("Readers taken as", lambda r: words.VARIANT_WORDS.get(r["variant"], r["variant"]), numeric=False),
            count("n_readers", "Readers"),
            count("n_cases", "Cases"),
            figure("model_fom", "Model"),
            figure("mean_reader_fom", "Readers' mean with the suggestion"),
            with_interval("effect", "ci_low", "ci_high", "Difference (95% CI)", signed=True),
            figure("se", "SE"),
            Cell("df", lambda r: _degrees_of_freedom(r["df"])),
            p_value("p_value"),
        ),
        group=lambda r: f"{r['model']} against the {words.plural(r['cohort'])} with the suggestion"
        + (" (simulated readers)" if r["simulated"] else ""),
        findings=tuple(r["summary"] for r in rows),
        method=(words.ASSISTANCE_MODEL_METHOD,),
        notes=() if rows else information(words.MRMC_NONE),
    )


def assistance_readers(document: dict) -> Table:
    section = document["assistance"]
    return Table(
        name="assistance_readers",
        title="Readers with the machine: each reader",
        file="assistance_readers.csv",
        records=section["readers"],
        columns=ASSISTANCE_READERS_COLUMNS,
        cells=(
            text("reader", "Reader"),
            simulated(),
            count("n_cases", "Cases"),
            figure("unaided_accuracy", "Alone"),
            figure("aided_accuracy", "With the suggestion"),
            with_interval("change", "ci_low", "ci_high", "Change (95% CI)", signed=True),
            count("helped", "Helped"),
            count("harmed", "Harmed"),
            p_value("p_value", "p (McNemar, exact)"),
            text("verdict", "Verdict"),
        ),
        group=_by_cohort,
        findings=(section["readers_summary"],) if section["readers_summary"] else (),
        method=(words.ASSISTANCE_READERS_METHOD,),
        figure=_figure(
            document, ASSISTANCE_READERS_FIGURE, "Slope plot of every reader's accuracy alone and with the suggestion",
            words.ASSISTANCE_READERS_FIGURE_CAPTION,
        ),
    )


def _switch_group(record: dict) -> str:
    if record["level"] == "cohort":
        heading = "Cohorts, their readers' readings pooled"
    else:
        heading = words.cohort_heading(record["cohort"])
    if record["suggestion_source"] == "controlled":
        return f"Controlled suggestions: {heading[:1].lower()}{heading[1:]}"
    return heading


def assistance_switches(document: dict) -> Table:
    section = document["assistance"]
    method = [words.ASSISTANCE_SWITCHES_METHOD]
    if section["design"] == "crossover":
        method.append(words.ASSISTANCE_SWITCHES_CROSSOVER)
    return Table(
        name="assistance_switches",
        title="Readers with the machine: switches and reliance",
        file="assistance_switches.csv",
        records=section["switches"],
        columns=ASSISTANCE_SWITCHES_COLUMNS,
        cells=(
            text("name", "Reader or cohort"),
            simulated(),
            count("n_cases", "Cases"),
            count("n_suggestion_right", "Suggestion right"),
            count("n_suggestion_wrong", "Suggestion wrong"),
            figure("rair", "RAIR"),
            figure("rsr", "RSR"),
            figure("harmful_switch_rate", "Harmful switches"),
            count("wrong_adopted", "Wrong suggestions adopted"),
            figure("agree_before", "Agreed before"),
            figure("agree_after", "Agreed after"),
            figure("unaided_change_rate", "Changed without a suggestion"),
        ),
        group=_switch_group,
        method=tuple(method),
    )


def assistance_by_suggestion(document: dict) -> Table:
    return Table(
        name="assistance_by_suggestion",
        title="Readers with the machine: when the suggestion was right and when it was wrong",
        file="assistance_by_suggestion.csv",
        records=_with_all_readers(document["assistance"]["by_suggestion"]),
        columns=ASSISTANCE_BY_SUGGESTION_COLUMNS,
        cells=(
            text("cohort_name", "Cohort"),
            simulated(),
            Cell("Suggestion", lambda r: words.suggestion_kind(r["suggestion_source"], r["suggestion_correct"]),
                 numeric=False),
            count("n_cases", "Cases"),
            count("n_readings", "Readings"),
            figure("unaided_accuracy", "Accuracy alone"),
            figure("aided_accuracy", "Accuracy with the suggestion"),
        ),
        method=(words.ASSISTANCE_BY_SUGGESTION_METHOD,),
    )


def assistance_time(document: dict) -> Table:
    section = document["assistance"]
    rows = section["reading_time"]
    return Table(
        name="assistance_time",
        title="Readers with the machine: reading time",
        file="assistance_time.csv",
        records=_with_all_readers(rows),
        columns=ASSISTANCE_TIME_COLUMNS,
        cells=(
            text("cohort_name", "Cohort"),
            simulated(),
            Cell("Compared", lambda r: f"{r['first']} against {r['second']}", numeric=False),
            count("n_readers", "Readers"),
            seconds("median_first_seconds", "Median, first"),
            seconds("median_second_seconds", "Median, second"),
            Cell("Median difference per reader", lambda r: words.seconds_difference(r["median_difference_seconds"])),
            p_value("p_value"),
        ),
        group=lambda r: words.TIME_COMPARISON_WORDS[r["comparison"]],
        method=(words.ASSISTANCE_TIME_METHOD[section["design"]],),
        notes=() if rows else information(words.ASSISTANCE_NO_READING_TIMES),
    )


def assistance_crossover(document: dict) -> Table:
    rows = document["assistance"]["crossover"]
    return Table(
        name="assistance_crossover",
        title="Readers with the machine: the crossover's period and sequence",
        file="assistance_crossover.csv",
        records=rows,
        columns=ASSISTANCE_CROSSOVER_COLUMNS,
        cells=(
            Cell("Effect", lambda r: words.CROSSOVER_EFFECT_WORDS[r["effect"]], numeric=False),
            simulated(),
            count("n_readers", "Readers"),
            with_interval("estimate", "ci_low", "ci_high", "Estimate (95% CI)", signed=True),
            p_value("p_value"),
            figure("unaided_session_1", "Alone, session 1"),
            figure("aided_session_1", "With, session 1"),
            figure("unaided_session_2", "Alone, session 2"),
            figure("aided_session_2", "With, session 2"),
        ),
        group=lambda r: _group_heading(r["cohort"]),
        method=(words.ASSISTANCE_CROSSOVER_METHOD,),
        notes=() if rows else information(words.ASSISTANCE_CROSSOVER_NONE),
    )


def assistance_tables(document: dict) -> list[Table]:
    """The assisted arm's tables, none for a study read unaided."""
    if "assistance" not in document:
        return []
    tables = [
        assistance_orh(document),
        assistance_model(document),
        assistance_readers(document),
        assistance_switches(document),
        assistance_by_suggestion(document),
        assistance_time(document),
    ]
    if document["assistance"]["design"] == "crossover":
        tables.append(assistance_crossover(document))
    return tables


def _instructions(document: dict) -> dict:
    return document.get("instructions") or {"versions": [], "participants": [], "note": None}


def instruction_versions(document: dict) -> Table:
    section = _instructions(document)
    return Table(
        name="instructions_versions",
        title="Instructions: the versions participants saw",
        file="report.json",
        records=section["versions"],
        cells=(
            Cell("Version", lambda r: r["digest"][:12], numeric=False),
            Cell("First seen", lambda r: when_text(r["first_seen_at"]), numeric=False),
            count("n_participants", "Participants"),
            text("text", "Text"),
        ),
        method=(words.INSTRUCTIONS_METHOD,),
        notes=information(section.get("note")),
    )


def instructions_seen(document: dict) -> Table:
    return Table(
        name="instructions",
        title="Instructions each participant saw",
        file="report.json",
        records=_instructions(document)["participants"],
        cells=(
            text("reader", "Participant"),
            simulated(),
            Cell(
                "Versions seen",
                lambda r: "; ".join(f"{v['digest'][:12]} (first {when_text(v['first_seen_at'])})" for v in r["seen"])
                or "none",
                numeric=False,
            ),
        ),
        group=_by_cohort,
    )


def confusion_file(entry: dict, class_names: list[str]) -> Table:
    """A reader's confusion matrix: a row per true class, the fraction of its samples given each answer,
    then the unanswered and the class's samples."""
    records = []
    for name, counts, missing in zip(class_names, entry["counts"], entry["unanswered"]):
        total = int(np.sum(counts)) + missing
        fractions = {answer: (c / total if total else math.nan) for answer, c in zip(class_names, counts)}
        records.append({"true_class": name, **fractions, "unanswered": missing, "n_samples": total})
    return Table(name=f"confusion {entry['reader']}", title=entry["reader"], file="", records=records,
                 columns=("true_class", *class_names, "unanswered", "n_samples"), on_page=False)


FIGURE4 = "figure4"
# The page shows Figure 4 after this table, as the paper does after Table 3.
FIGURE4_AFTER = "table3"


def report_tables(document: dict) -> list[Table]:
    """Every table of the report, in the page's order: the readers against the model (Tables 2 and 3,
    whose page shows Figure 4 after them, ``FIGURE4_AFTER``), against the population of readers, the
    models against each other (Tables 1 and 7), the readers with the machine (an assisted study's), then
    agreement and the readers themselves."""
    tables = [table2(document), table3(document), mrmc(document)]
    if document["table1"]:
        tables += [table1(document), table7(document)]
    tables += assistance_tables(document)
    tables += [
        agreement_file(document),
        fleiss(document),
        cohen(document),
        per_class_accuracy(document),
        readers(document),
        anchoring_file(document),
        anchoring_effects(document),
        anchoring_readers(document),
        retest_file(document),
        retest_cohorts(document),
        retest_readers(document),
        reading_time_file(document),
        reading_time(document),
        instruction_versions(document),
        instructions_seen(document),
    ]
    return tables
