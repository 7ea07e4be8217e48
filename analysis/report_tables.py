"""The report's tables laid out for reading: CSV files of Tables 1, 2, 3, 7, each confusion matrix, the
model against the population of readers (``mrmc.csv``), the agreement (``agreement.csv``), the readers
with their background (``readers.csv``), anchoring (``anchoring.csv``), test-retest consistency
(``test_retest.csv``) and reading time (``reading_time.csv``), and the tables of the report's pages
(the analyst page and the offline ``index.html``).

CSV cells are exact (``repr`` of a float, empty for none) so that the same report writes the same bytes;
page cells are rounded for the eye. The page tables are made from ``report.json``'s document, so a
cached report is shown without computing it again.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields, replace

import numpy as np

from analysis.mrmc import FIXED_READERS_RANDOM_CASES, RANDOM_READERS_RANDOM_CASES
from analysis.report import FOM_WORDS
from analysis.report_content import Report, Table1Row, Table2Row, Table3Row
from study import csv_safety

# Table 2 puts the paper's figures right after the reader, the row's kind and size last.
TABLE2_COLUMNS = [
    "reader", "cohort", "simulated", "accuracy", "f1", "precision", "recall",
    "accuracy_ci_low", "accuracy_ci_high", "f1_ci_low", "f1_ci_high", "n_answered", "kind", "n_readers",
]
TABLE3_COLUMNS = [f.name for f in fields(Table3Row)]
TABLE1_COLUMNS = [f.name for f in fields(Table1Row)]
# The model against the population of readers: one row per model, cohort, figure of merit and variant.
MRMC_COLUMNS = [
    "model", "cohort", "simulated", "fom", "variant", "n_readers", "n_cases", "n_cases_dropped", "model_fom",
    "mean_reader_fom", "effect", "se", "df", "ci_low", "ci_high", "p_value",
]
NONINFERIORITY_COLUMNS = ["margin", "p_noninferiority"]
# agreement.csv, one tidy layout for the three kinds of rows (see ``agreement_csv``).
AGREEMENT_COLUMNS = ["kind", "cohort_a", "reader_a", "cohort_b", "reader_b", "class", "value", "n_samples", "simulated"]
# The sections on the readers (``analysis.report_readers``).
READER_COLUMNS = ["reader", "cohort", "simulated", "n_answered", "accuracy", "median_seconds"]
ANCHORING_COLUMNS = [
    "kind", "cohort", "reader", "simulated", "n_looked_up", "n_not_looked_up", "accuracy_looked_up",
    "accuracy_not_looked_up", "difference", "n_readers", "ci_low", "ci_high", "p_value", "classes_looked_up",
]
TEST_RETEST_COLUMNS = [
    "kind", "cohort", "reader", "simulated", "n_readers", "n_repeats", "kappa", "pooled_kappa", "accuracy_first",
    "accuracy_second", "kappa_first_truth", "kappa_second_truth",
]
READING_TIME_COLUMNS = [
    "cohort", "simulated", "n_readers", "quartile", "n_cases", "median_seconds", "accuracy", "spearman_rho", "p_value",
    "n_untimed",
]
READING_TIME_FIGURE = "reading_time.png"
PVALUE_COLUMNS = {"p_value", "p_value_exact", "p_noninferiority"}
COUNT_COLUMNS = {
    "n_answered", "n_readers", "n_samples", "n_cases", "n_cases_dropped", "n_excluded", "n_looked_up",
    "n_not_looked_up", "n_repeats", "n_pairs", "n_untimed", "n_participants", "quartile",
}
VARIANT_WORDS = {
    RANDOM_READERS_RANDOM_CASES: "random readers, random cases",
    FIXED_READERS_RANDOM_CASES: "fixed readers, random cases",
}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if np.isnan(value) else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv_safety.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(value) for value in row] for row in rows])
    return buffer.getvalue().encode()


def _rows_csv(columns: list[str], rows) -> bytes:
    return _csv(columns, [[getattr(row, name) for name in columns] for row in rows])


def table1_csv(rows: tuple[Table1Row, ...]) -> bytes:
    return _rows_csv(TABLE1_COLUMNS, rows)


def table2_csv(rows: tuple[Table2Row, ...]) -> bytes:
    return _rows_csv(TABLE2_COLUMNS, rows)


def table3_csv(rows: tuple[Table3Row, ...]) -> bytes:
    return _rows_csv(TABLE3_COLUMNS, rows)


def mrmc_csv(report: Report) -> bytes:
    """The model against the population of readers, a row per model, cohort, FOM and variant; ``df`` is
    ``inf`` for fixed readers (the normal reference); ``margin`` and ``p_noninferiority`` only when the
    report was asked for a margin."""
    columns = MRMC_COLUMNS + (NONINFERIORITY_COLUMNS if report.margin is not None else [])
    rows = [
        [getattr(row, name) if name != "margin" else report.margin for name in columns] for row in report.mrmc
    ]
    return _csv(columns, rows)


def agreement_csv(report: Report) -> bytes:
    """Agreement as tidy rows ``kind,cohort_a,reader_a,cohort_b,reader_b,class,value,n_samples,simulated``:

    - ``fleiss_kappa``: a cohort (``cohort_a``), its kappa, the samples every reader answered;
    - ``cohens_kappa``: two readers with their cohorts (``model`` for a model), the samples both answered;
    - ``per_class_accuracy``: a cohort (its answers pooled) or a model (``cohort_a`` ``model``,
      ``reader_a`` its name), a class, the accuracy on it, the study's samples of the class.

    ``simulated`` is true when a simulated reader is part of the row.
    """
    agreement = report.agreement
    rows = [["fleiss_kappa", r.cohort, "", "", "", "", r.kappa, r.n_samples, r.simulated] for r in agreement.fleiss]
    rows += [
        [
            "cohens_kappa", r.cohort_a, r.reader_a, r.cohort_b, r.reader_b, "", r.kappa, r.n_samples,
            r.simulated_a or r.simulated_b,
        ]
        for r in agreement.cohen
    ]
    rows += [
        ["per_class_accuracy", r.cohort, r.reader, "", "", r.class_name, r.accuracy, r.n_samples, r.simulated]
        for r in agreement.per_class_accuracy
    ]
    return _csv(AGREEMENT_COLUMNS, rows)


def table7_csv(report: Report) -> bytes:
    """Per-class F1, a column per run, and a last row of each run's mean over the classes."""
    models = list(report.table7.per_class_f1)
    values = np.stack([report.table7.per_class_f1[m] for m in models], axis=1)
    rows = [[name, *map(float, row)] for name, row in zip(report.class_names, values)]
    rows.append(["Mean", *map(float, values.mean(axis=0))])
    return _csv(["class", *models], rows)


def confusion_csv(counts: np.ndarray, normalized: np.ndarray, unanswered: np.ndarray, class_names) -> bytes:
    """A row per true class: the row-normalized fractions per answer, then the unanswered and the total."""
    header = ["true_class", *class_names, "unanswered", "n_samples"]
    rows = [
        [name, *map(float, normalized_row), int(missing), int(count_row.sum() + missing)]
        for name, normalized_row, count_row, missing in zip(class_names, normalized, counts, unanswered)
    ]
    return _csv(header, rows)


def _background_columns(keys) -> list[str]:
    """A background question's column in ``readers.csv``: its key, prefixed ``background_`` should the
    key be one of the columns before it."""
    return [f"background_{key}" if key in READER_COLUMNS else key for key in keys]


def _background_keys(readers) -> list[str]:
    return list(readers[0].background) if readers else []


def readers_csv(report: Report) -> bytes:
    """A row per person: accuracy on their first readings, median active seconds per case, then one
    column per question of the study's background form."""
    keys = _background_keys(report.readers)
    rows = [
        [getattr(row, name) for name in READER_COLUMNS] + [row.background.get(key) for key in keys]
        for row in report.readers
    ]
    return _csv(READER_COLUMNS + _background_columns(keys), rows)


def anchoring_csv(report: Report) -> bytes:
    """``kind`` ``reader``: a reader's accuracy on cases of classes looked up before answering and on the
    others, and the classes looked up (``;``-separated); ``kind`` ``effect``: the mean difference over the
    readers of a cohort (``cohort`` empty: over all readers), its interval and p-value."""
    rows = [
        [
            "reader", r.cohort, r.reader, r.simulated, r.n_looked_up, r.n_not_looked_up, r.accuracy_looked_up,
            r.accuracy_not_looked_up, r.difference, 1, None, None, None,
            "; ".join(lookup.class_name for lookup in r.classes_looked_up),
        ]
        for r in report.anchoring.readers
    ]
    rows += [
        [
            "effect", e.cohort, "", e.simulated, None, None, None, None, e.mean_difference, e.n_readers, e.ci_low,
            e.ci_high, e.p_value, "",
        ]
        for e in report.anchoring.effects
    ]
    return _csv(ANCHORING_COLUMNS, rows)


def retest_csv(report: Report) -> bytes:
    """``kind`` ``cohort``: the mean of its readers' kappas (``kappa``) and the pooled kappa, ``n_repeats``
    its pairs of readings; ``kind`` ``reader``: a reader's kappa between first and second reading. Both
    with the accuracy and the kappa with the truth of each reading."""
    rows = [
        [
            "cohort", c.cohort, "", c.simulated, c.n_readers, c.n_pairs, c.mean_kappa, c.pooled_kappa, c.accuracy_first,
            c.accuracy_second, c.kappa_first_truth, c.kappa_second_truth,
        ]
        for c in report.test_retest.cohorts
    ]
    rows += [
        [
            "reader", r.cohort, r.reader, r.simulated, 1, r.n_repeats, r.kappa, None, r.accuracy_first,
            r.accuracy_second, r.kappa_first_truth, r.kappa_second_truth,
        ]
        for r in report.test_retest.readers
    ]
    return _csv(TEST_RETEST_COLUMNS, rows)


def reading_time_csv(report: Report) -> bytes:
    """A row per cohort and quartile of time (1 the fastest); a cohort without timed answers has one
    row without a quartile. Spearman's rho and its p-value repeat on each row of the cohort."""
    rows = []
    for r in report.reading_time:
        common = [r.cohort, r.simulated, r.n_readers]
        tail = [r.spearman_rho, r.p_value, r.n_untimed]
        rows += [common + [q.quartile, q.n_cases, q.median_seconds, q.accuracy] + tail for q in r.quartiles]
        if not r.quartiles:
            rows.append(common + [None, 0, None, None] + tail)
    return _csv(READING_TIME_COLUMNS, rows)


def _shown(column: str, value) -> str:
    """A cell as the page shows it: p-values in two significant digits, figures in three decimals."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "simulated" if value else ""
    if isinstance(value, float):
        if column in PVALUE_COLUMNS:
            return f"{value:.2g}"
        return f"{value:.3f}" if not value.is_integer() or column not in COUNT_COLUMNS else str(int(value))
    return str(value)


@dataclass(frozen=True)
class DisplayTable:
    """A table as a page shows it, with the CSV file that holds its exact figures and the paragraphs
    (``lead``) that say how to read it."""

    name: str
    title: str
    file: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lead: tuple[str, ...] = ()
    figure: str = ""  # a figure shown with the table: a file of the report, or a data: URI offline


def _display(
    name: str, title: str, file: str, records: list[dict], columns: list[str], lead: tuple[str, ...] = ()
) -> DisplayTable:
    rows = tuple(tuple(_shown(column, record.get(column)) for column in columns) for record in records)
    return DisplayTable(name, title, file, tuple(columns), rows, lead)


def _mrmc_table(document: dict) -> DisplayTable:
    """The model against the population of readers, each row with its result in words."""
    rows = document.get("mrmc", [])
    margin = document.get("margin")
    lead = [
        "Each model against the readers of each cohort of two or more, by the Obuchowski-Rockette-Hillis "
        "method: effect = the model's figure of merit minus the mean of its readers' (model_fom − "
        "mean_reader_fom), its standard error (se) from the jackknife over samples. Random readers, random "
        "cases: the result applies to other readers like these and other samples (Hillis' df). Fixed readers, "
        "random cases: to these readers, on other samples (df ∞, the normal distribution)."
    ]
    if margin is not None:
        lead.append(
            f"p_noninferiority: the one-sided test that the model is worse than the readers by {margin:g} or more; "
            "a small value says it is not (non-inferior by that margin)."
        )
    dropped = {
        (row["model"], row["cohort"]): (row["n_cases_dropped"], row["n_cases"])
        for row in rows
        if row["n_cases_dropped"]
    }
    for (model, cohort), (n_dropped, n_cases) in dropped.items():
        lead.append(
            f"{model} against the {cohort} cohort: {n_dropped} of {n_dropped + n_cases} samples are left out, "
            f"unanswered by the model or some reader; n_cases counts the {n_cases} analysed."
        )
    if rows and not dropped:
        lead.append("Every sample was answered by the model and every reader: none is left out.")
    if not rows:
        lead.append("None: this needs a model and a cohort of two or more readers.")
    records = [
        {
            **row,
            "fom": FOM_WORDS.get(row["fom"], row["fom"]),
            "variant": VARIANT_WORDS.get(row["variant"], row["variant"]),
            "df": "∞" if row["df"] is None and row["variant"] == FIXED_READERS_RANDOM_CASES else row["df"],
        }
        for row in rows
    ]
    columns = [c for c in MRMC_COLUMNS if c != "n_cases_dropped"]
    columns += ["p_noninferiority"] if margin is not None else []
    return _display(
        "mrmc", "Model against the population of readers", "mrmc.csv", records, columns + ["summary"], tuple(lead)
    )


def _pair_matrix(pairs: list[dict]) -> tuple[list[str], list[dict], list[str]]:
    """Cohen's kappa pairs as a symmetric matrix: every reader a row, a column for each reader paired
    with every other (all of them, or the models only when people were not paired)."""
    names, cohort_of, simulated = [], {}, {}
    for pair in pairs:
        for side in ("a", "b"):
            name = pair[f"reader_{side}"]
            if name not in cohort_of:
                names.append(name)
                cohort_of[name] = pair[f"cohort_{side}"]
                simulated[name] = pair[f"simulated_{side}"]
    kappa = {}
    for pair in pairs:
        kappa[pair["reader_a"], pair["reader_b"]] = kappa[pair["reader_b"], pair["reader_a"]] = pair["kappa"]
    partners = [n for n in names if all(other == n or (n, other) in kappa for other in names)]
    records = [
        {
            "reader": n,
            "cohort": cohort_of[n],
            "simulated": simulated[n],
            **{m: ("" if m == n else kappa.get((n, m))) for m in partners},
        }
        for n in names
    ]
    return names, records, partners


def _agreement_tables(document: dict) -> list[DisplayTable]:
    agreement = document.get("agreement") or {"fleiss_kappa": [], "cohens_kappa": [], "per_class_accuracy": []}
    tables = [
        _display(
            "fleiss", "Agreement within each cohort: Fleiss' kappa", "agreement.csv", agreement["fleiss_kappa"],
            ["cohort", "simulated", "kappa", "n_readers", "n_samples", "n_excluded"],
            (
                "Chance-corrected agreement of the readers of each cohort of two or more (Fleiss 1971): 1 is "
                "perfect agreement, 0 what chance gives. On the samples every reader of the cohort answered; "
                "n_excluded counts the others.",
            ),
        )
    ]
    _, records, partners = _pair_matrix(agreement["cohens_kappa"])
    tables.append(
        _display(
            "cohen", "Agreement of pairs of readers: Cohen's kappa", "agreement.csv", records,
            ["reader", "cohort", "simulated", *partners],
            ("Cohen's kappa (Cohen 1960) of two readers, models included, on the samples both answered.",),
        )
    )
    columns, by_class = [], {}
    for row in agreement["per_class_accuracy"]:
        label = row["reader"] or row["cohort"]
        if label not in columns:
            columns.append(label)
        by_class.setdefault(row["class"], {"class": row["class"], "n_samples": row["n_samples"]})[label] = row[
            "accuracy"
        ]
    tables.append(
        _display(
            "per_class_accuracy", "Accuracy per true class", "agreement.csv", list(by_class.values()),
            ["class", "n_samples", *columns],
            (
                "The fraction of each class's samples answered correctly: by each model, and by each cohort with "
                "its readers' answers pooled.",
            ),
        )
    )
    return tables


def _when(moment: str | None) -> str:
    """An ISO 8601 UTC moment as the page shows it, to the minute."""
    return "" if not moment else moment.replace("T", " ")[:16] + " UTC"


def _reader_tables(document: dict) -> list[DisplayTable]:
    """The readers with their background, anchoring, test-retest, reading time and instructions."""
    tables = []
    readers = document.get("readers") or []
    keys = list(readers[0]["background"]) if readers else []
    tables.append(
        _display(
            "readers", "The readers: accuracy beside their background", "readers.csv",
            [{**row, **{f"background {key}": value for key, value in row["background"].items()}} for row in readers],
            READER_COLUMNS + [f"background {key}" for key in keys],
            (
                "Every person of the study (each cohort's readers one by one, not only the experts of Table 2): their "
                "accuracy on the first readings they gave, the median of their active seconds per case, and their "
                "answers to the study's background form, to relate accuracy to experience.",
            ),
        )
    )

    anchoring = document.get("anchoring") or {"readers": [], "effects": [], "note": None}
    lead = [
        "Whether readers answered better the cases of classes they had looked up in the gallery before answering: "
        "a case counts as looked up when the reader had opened the gallery page of its true class before their "
        "(last) answer to it. Each reader's accuracy on those cases and on the others, and the difference; across "
        "the readers with cases of both kinds, the mean difference with its t interval (readers random)."
    ]
    lead += [row["summary"] for row in anchoring["effects"]]
    lead += [anchoring["note"]] if anchoring.get("note") else []
    effects = [{**row, "cohort": row["cohort"] or "all readers"} for row in anchoring["effects"]]
    tables.append(
        _display(
            "anchoring_effects", "Anchoring on the gallery: across readers", "anchoring.csv", effects,
            ["cohort", "simulated", "n_readers", "mean_difference", "ci_low", "ci_high", "p_value"], tuple(lead),
        )
    )
    records = [
        {
            **row,
            "classes_looked_up": "; ".join(
                f"{lookup['class']} (first {_when(lookup['first_viewed_at'])}, {lookup['n_views']} views, "
                f"{lookup['n_cases_looked_up']} cases after)"
                for lookup in row["classes_looked_up"]
            ),
        }
        for row in anchoring["readers"]
    ]
    tables.append(
        _display(
            "anchoring", "Anchoring on the gallery: each reader", "anchoring.csv", records,
            [
                "reader", "cohort", "simulated", "n_looked_up", "n_not_looked_up", "accuracy_looked_up",
                "accuracy_not_looked_up", "difference", "classes_looked_up",
            ],
            (
                "Each class a reader looked at, when first, how many of its examples, and how many of the reader's "
                "cases of that class they answered after that first look.",
            ),
        )
    )

    retest = document.get("test_retest") or {"cohorts": [], "readers": [], "note": None}
    lead = [
        "Cases shown twice to every reader, far apart in their order and unmarked "
        f"({retest.get('n_repeated_cases', 0)} in this study): Cohen's kappa between a reader's first and second reading (1: the same answer both "
        "times; 0: what chance gives), beside their agreement with the truth at each reading (accuracy and "
        "Cohen's kappa with the true class). Per cohort, the mean of its readers' kappas and the kappa of all "
        "its pairs of readings pooled."
    ]
    lead += [retest["note"]] if retest.get("note") else []
    tables.append(
        _display(
            "test_retest_cohorts", "Test-retest consistency per cohort", "test_retest.csv", retest["cohorts"],
            [
                "cohort", "simulated", "n_readers", "n_pairs", "mean_kappa", "pooled_kappa", "accuracy_first",
                "accuracy_second", "kappa_first_truth", "kappa_second_truth",
            ],
            tuple(lead),
        )
    )
    tables.append(
        _display(
            "test_retest", "Test-retest consistency of each reader", "test_retest.csv", retest["readers"],
            [
                "reader", "cohort", "simulated", "n_repeats", "kappa", "accuracy_first", "accuracy_second",
                "kappa_first_truth", "kappa_second_truth",
            ],
        )
    )

    timing = document.get("reading_time") or []
    lead = [
        "Active seconds on a case (the page visible and in use) against whether the first reading was right, per "
        "cohort: its answers split into quarters by time (1: the fastest), the accuracy and median seconds of each, "
        "and Spearman's rank correlation of time with correctness. Models have no reading time."
    ]
    lead += [row["summary"] for row in timing]
    untimed = [f"{row['cohort']}: {row['n_untimed']}" for row in timing if row["n_untimed"]]
    if untimed:
        lead.append("Answers without a time (left out): " + ", ".join(untimed) + ".")
    if not timing:
        lead.append("None: the report was given no reading times.")
    records = [
        {"cohort": row["cohort"], "simulated": row["simulated"], **quartile}
        for row in timing
        for quartile in row["quartiles"]
    ]
    tables.append(
        _display(
            "reading_time", "Reading time against correctness", "reading_time.csv", records,
            ["cohort", "simulated", "quartile", "n_cases", "median_seconds", "accuracy"], tuple(lead),
        )
    )
    if READING_TIME_FIGURE in document.get("files", []):
        tables[-1] = replace(tables[-1], figure=READING_TIME_FIGURE)

    instructions = document.get("instructions") or {"versions": [], "participants": [], "note": None}
    lead = ["Every wording of the study's instructions that a participant was shown, by its SHA-256 (its first 12 "
            "characters here; all of it in report.json)."]
    lead += [instructions["note"]] if instructions.get("note") else []
    versions = [
        {**row, "digest": row["digest"][:12], "first_seen_at": _when(row["first_seen_at"])}
        for row in instructions["versions"]
    ]
    tables.append(
        _display(
            "instructions_versions", "Instructions: the versions participants saw", "report.json", versions,
            ["digest", "first_seen_at", "n_participants", "text"], tuple(lead),
        )
    )
    seen = [
        {
            **row,
            "seen": "; ".join(f"{v['digest'][:12]} (first {_when(v['first_seen_at'])})" for v in row["seen"]) or "none",
        }
        for row in instructions["participants"]
    ]
    tables.append(
        _display(
            "instructions", "Instructions each participant saw", "report.json", seen,
            ["reader", "cohort", "simulated", "seen"],
        )
    )
    return tables


def display_tables(document: dict) -> list[DisplayTable]:
    """Tables 2 and 3, the model against the population of readers, the agreement, Tables 1 and 7, and
    the sections on the readers of a ``report.json`` document, formatted for a page."""
    tables = [
        _display(
            "table2", "Table 2: accuracy, and F1, precision and recall averaged over classes", "table2.csv",
            document["table2"], TABLE2_COLUMNS,
            (
                "95% confidence intervals by the percentile bootstrap over samples (2,000 seeded resamples): of each "
                "reader, of each ensemble (its ties drawn inside each resample) and of each cohort's mean over its "
                "readers.",
            ),
        ),
        _display(
            "table3", f"Table 3: McNemar's test against {document['models'][0] if document['models'] else 'the model'}",
            "table3.csv", document["table3"], TABLE3_COLUMNS,
        ),
        _mrmc_table(document),
        *_agreement_tables(document),
    ]
    if document["table1"]:
        tables.append(
            _display("table1", "Table 1: models on the test split", "table1.csv", document["table1"], TABLE1_COLUMNS)
        )
        per_class = document["table7"]["per_class_f1"]
        records = [
            {"class": name, **{model: values[i] for model, values in per_class.items()}}
            for i, name in enumerate(document["table7"]["class_names"])
        ]
        tables.append(_display("table7", "Table 7: F1 per class", "table7.csv", records, ["class", *per_class]))
    return tables + _reader_tables(document)
