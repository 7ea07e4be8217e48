import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings

from analysis.agreement import cohens_kappa, fleiss_kappa, per_class_accuracy
from analysis.ensembles import majority_vote_ensemble
from analysis.intervals import cohort_mean_bootstrap_intervals, ensemble_bootstrap_intervals
from analysis.mrmc import model_vs_readers_on_answers
from analysis.reader_metrics import confusion_matrix, readers_metrics
from analysis.report_words import mrmc_summary
from analysis.report_inputs import StudyAnswers
from analysis.significance import mcnemar_from_counts, paired_table, wilcoxon_best_against_others
from analysis.study_arrays import study_answers
from annotator.models import Answer
from models_zoo.classification_figures import model_performance, multilabel_metrics
from tests.analysis.reader_data import add_reader_data
from tests.analysis.test_study_arrays import N_CLASSES, answered_study


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# Every test needs the test database, the shared report's included: pytest-django sets it up only
# for the databases that marked tests ask for.
pytestmark = pytest.mark.django_db

# The shared report is built once per module, outside the per-test fixtures of conftest.
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]

@dataclass
class BuiltReport:
    name: str
    truth: np.ndarray
    data: StudyAnswers
    out: Path
    data_dir: Path


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, tmp_path_factory):
    """One report of ``answered_study`` shared by the tests that only read its files; its rows are
    rolled back afterwards."""
    data_dir = tmp_path_factory.mktemp("data")
    out = tmp_path_factory.mktemp("report") / "report"
    with override_settings(DATA_DIR=data_dir, STORE_DIR=data_dir / "store", PASSWORD_HASHERS=FAST_HASHER):
        with django_db_blocker.unblock(), transaction.atomic():
            reading, truth = answered_study()
            call_command(
                "report", reading.study.name, "--out", str(out), "--seed", "3", "--repetitions", "50", "--model", "gapnet",
                stdout=io.StringIO(),
            )
            data = study_answers(reading.study)
            transaction.set_rollback(True)
    return BuiltReport(reading.study.name, truth, data, out, data_dir)


def test_it_writes_every_file_of_the_report(built):
    out = built.out
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}

    tables = (
        "table1.csv", "table2.csv", "table3.csv", "table7.csv", "mrmc.csv", "agreement.csv", "readers.csv",
        "anchoring.csv", "test_retest.csv", "reading_time.csv",
    )
    for table in (*tables, "report.json", "index.html"):
        assert table in names
    for reader in ("gapnet", "expert-01", "expert-02", "expert-03", "scholar-01", "scholar-04"):
        assert {f"confusion_{reader}.{suffix}" for suffix in ("csv", "png", "svg")} <= names
    document = json.loads((out / "report.json").read_text())
    assert sorted(document["files"]) == sorted(names)
    assert document["seed"] == 3 and document["repetitions"] == 50 and document["models"] == ["gapnet"]


def test_table_2_agrees_with_the_analysis_core(built):
    truth, data, out = built.truth, built.data, built.out
    rows = {row["reader"]: row for row in read_csv(out / "table2.csv")}
    gapnet = next(m for m in data.models if m.name == "gapnet").answers

    model = readers_metrics(gapnet, truth, N_CLASSES).reader(0)
    assert float(rows["gapnet"]["accuracy"]) == pytest.approx(model.accuracy)
    assert float(rows["gapnet"]["f1"]) == pytest.approx(model.f1)
    expert = readers_metrics(data.answers[1], truth, N_CLASSES).reader(0)
    assert float(rows["expert-02"]["recall"]) == pytest.approx(expert.recall)
    assert float(rows["expert-02"]["accuracy_ci_low"]) <= expert.accuracy <= float(rows["expert-02"]["accuracy_ci_high"])
    scholars = data.answers[3:]
    mean_accuracy = np.mean(readers_metrics(scholars, truth, N_CLASSES).accuracy)
    assert float(rows["Mean of scholar"]["accuracy"]) == pytest.approx(mean_accuracy)
    ensemble = majority_vote_ensemble(scholars, truth, N_CLASSES, n_repetitions=50, seed=3)
    assert float(rows["Ensemble of scholar"]["f1"]) == pytest.approx(ensemble.mean.f1)
    assert "scholar-01" not in rows, "scholars are reported by their mean and ensemble, as in the paper"
    assert rows["Ensemble of expert"]["n_readers"] == "3"
    assert rows["expert-01"]["simulated"] == "false"
    assert rows["Mean of scholar"]["simulated"] == "true", "the scholars include a simulated reader"


def test_table_3_agrees_with_mcnemars_test_of_each_reader_against_the_model(built):
    truth, data, out = built.truth, built.data, built.out
    gapnet = next(m for m in data.models if m.name == "gapnet").answers
    rows = {row["reader"]: row for row in read_csv(out / "table3.csv")}

    for i, person in enumerate(data.people):
        expected = mcnemar_from_counts(*paired_table(gapnet == truth, data.answers[i] == truth).cells())
        row = rows[person.pseudonym]
        assert (int(row["both_correct"]), int(row["model_only"]), int(row["reader_only"]), int(row["both_wrong"])) == (
            expected.both_correct, expected.model_only, expected.reader_only, expected.both_wrong,
        )
        assert float(row["p_value"]) == pytest.approx(expected.pvalue)
    assert {"Ensemble of expert", "Ensemble of scholar"} <= set(rows)
    assert rows["scholar-04"]["simulated"] == "true" and rows["scholar-03"]["simulated"] == "false"


def test_figure_4_is_the_row_normalized_confusion_matrix(built):
    truth, data, out = built.truth, built.data, built.out
    expected = confusion_matrix(data.answers[0], truth, N_CLASSES).row_normalized

    rows = read_csv(out / "confusion_expert-01.csv")
    names = data.class_names
    written = np.array([[float(row[name]) for name in names] for row in rows])
    assert np.allclose(written, expected)
    svg = (out / "confusion_expert-01.svg").read_text()
    assert "<dc:date>" not in svg


def test_tables_1_and_7_compare_the_runs_on_the_test_split(built):
    out, split = built.out, built.data.test_split
    by_name = {run.name: run for run in split.runs}
    gapnet = model_performance(by_name["gapnet"].probabilities, split.truth, N_CLASSES)
    baseline = model_performance(by_name["baseline"].probabilities, split.truth, N_CLASSES)
    expected = wilcoxon_best_against_others({"baseline": baseline.metrics.per_class_f1, "gapnet": gapnet.metrics.per_class_f1})

    rows = {row["model"]: row for row in read_csv(out / "table1.csv")}
    assert float(rows["gapnet"]["f1"]) == pytest.approx(gapnet.metrics.f1)
    assert float(rows["baseline"]["p_value"]) == pytest.approx(expected["baseline"].pvalue)
    assert rows["gapnet"]["p_value"] == ""
    table7 = {row["class"]: row for row in read_csv(out / "table7.csv")}
    assert float(table7["Cytosol"]["gapnet"]) == pytest.approx(gapnet.metrics.per_class_f1[2])
    assert float(table7["Mean"]["baseline"]) == pytest.approx(multilabel_metrics(by_name["baseline"].predicted, split.truth, N_CLASSES).f1)


def test_the_cases_are_those_every_expert_got_wrong_with_their_four_panels(built):
    truth, data, out = built.truth, built.data, built.out
    gapnet = next(m for m in data.models if m.name == "gapnet").answers
    experts_wrong = (data.answers[:3] != truth).all(axis=0)

    cases = json.loads((out / "report.json").read_text())["cases"]
    expected_both = sorted(np.flatnonzero(experts_wrong & (gapnet != truth)).tolist())
    expected_only_model = sorted(np.flatnonzero(experts_wrong & (gapnet == truth)).tolist())
    assert sorted(c["position"] for c in cases if c["kind"] == "both_wrong") == expected_both
    assert sorted(c["position"] for c in cases if c["kind"] == "model_only") == expected_only_model
    assert cases, "the fixture's readers have cases"
    for case in cases:
        for panel in ("protein", "nucleus", "microtubules", "er"):
            assert (out / "cases" / f"{case['kind']}-{case['position']:04d}-{panel}.png").is_file()


def test_index_html_opens_offline_with_its_figures_inline(built):
    out = built.out
    html = (out / "index.html").read_text()

    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html
    assert 'src="confusion' not in html


def test_the_same_study_and_seed_give_byte_identical_tables_and_json(tmp_path):
    reading, truth = answered_study("twice", n_samples=26)
    add_reader_data(reading.study, truth)
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        call_command(
            "report", "twice", "--out", str(out), "--seed", "3", "--repetitions", "50", "--margin", "0.05",
            stdout=io.StringIO(),
        )

    assert len(read_csv(first / "mrmc.csv")) == 2 * 2 * 2 * 2, "two models x two cohorts x two FOMs x two variants"
    assert read_csv(first / "agreement.csv")
    for section in ("readers.csv", "anchoring.csv", "test_retest.csv", "reading_time.csv"):
        assert read_csv(first / section), section
    files = (
        "table1.csv", "table2.csv", "table3.csv", "table7.csv", "mrmc.csv", "agreement.csv", "report.json",
        "confusion_gapnet.csv", "confusion_gapnet.svg", "readers.csv", "anchoring.csv", "test_retest.csv",
        "reading_time.csv", "reading_time.svg", "reading_time.png",
    )
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_it_refuses_missing_answers_saying_how_many_per_reader(tmp_path):
    reading, _ = answered_study("gappy", n_samples=13)
    Answer.objects.filter(participant__pseudonym="expert-02", item__position__in=[0, 1, 2]).delete()

    with pytest.raises(CommandError, match=r"expert-02: 3\b.*--allow-missing"):
        call_command("report", "gappy", "--out", str(tmp_path / "out"), "--repetitions", "5")
    assert not (tmp_path / "out").exists()


def test_with_allow_missing_it_scores_each_reader_on_what_they_answered_and_says_so(tmp_path):
    reading, truth = answered_study("gappy", n_samples=13)
    Answer.objects.filter(participant__pseudonym="expert-02", item__position__in=[0, 1, 2]).delete()
    out = tmp_path / "out"

    call_command("report", "gappy", "--out", str(out), "--repetitions", "5", "--allow-missing", "--model", "gapnet")

    document = json.loads((out / "report.json").read_text())
    assert document["missing_answers"] == {"expert-02": 3}
    assert document["allow_missing"] is True
    assert any("missing" in note["text"] for note in document["notes"])
    row = next(r for r in read_csv(out / "table2.csv") if r["reader"] == "expert-02")
    answers = study_answers(reading.study).answers[1][3:]
    assert row["n_answered"] == "10"
    assert float(row["accuracy"]) == pytest.approx(np.mean(answers == truth[3:]))
    assert "missing" in (out / "index.html").read_text()


def test_an_unknown_model_run_is_refused_by_name(tmp_path):
    answered_study("named", n_samples=13)

    with pytest.raises(CommandError, match="--model nope: no such model run"):
        call_command("report", "named", "--out", str(tmp_path / "out"), "--model", "nope")


def test_an_ensembles_mcnemar_cells_are_averaged_over_its_tie_breaking_repetitions(built):
    truth, data, out = built.truth, built.data, built.out
    gapnet = next(m for m in data.models if m.name == "gapnet").answers
    scholars = data.answers[3:]
    ensemble = majority_vote_ensemble(scholars, truth, N_CLASSES, n_repetitions=50, seed=3, keep_predictions=True)
    model_correct = gapnet == truth
    reader_correct = ensemble.predictions == truth

    row = next(r for r in read_csv(out / "table3.csv") if r["reader"] == "Ensemble of scholar")
    assert float(row["model_only"]) == pytest.approx(np.mean(np.sum(model_correct & ~reader_correct, axis=1)))
    assert float(row["reader_only"]) == pytest.approx(np.mean(np.sum(~model_correct & reader_correct, axis=1)))
    assert 0 < float(row["p_value"]) <= 1


def test_a_study_nobody_answered_yet_reports_with_allow_missing_and_says_who_is_left_out(tmp_path):
    from tests.factories import reading_study

    reading_study("fresh", test_samples=4, train_samples=1)
    out = tmp_path / "out"

    call_command("report", "fresh", "--out", str(out), "--allow-missing", "--repetitions", "5", stdout=io.StringIO())

    document = json.loads((out / "report.json").read_text())
    assert document["missing_answers"] == {"expert-01": 4, "scholar-01": 4}
    assert document["table2"] == [] and document["models"] == []
    assert any("expert-01 has not answered yet" in note["text"] for note in document["notes"])
    assert any("No model run" in note["text"] for note in document["notes"])
    assert read_csv(out / "table2.csv") == []


def test_a_new_report_in_the_same_folder_removes_only_the_files_of_the_earlier_one(tmp_path):
    answered_study("again", n_samples=26)
    out = tmp_path / "report"
    call_command("report", "again", "--out", str(out), "--repetitions", "10", "--model", "gapnet", stdout=io.StringIO())
    (out / "notes.txt").write_text("the analyst's own file")
    assert (out / "table1.csv").exists()

    call_command("report", "again", "--out", str(out), "--repetitions", "10", "--model", "baseline", stdout=io.StringIO())

    assert not (out / "confusion_gapnet.png").exists() and (out / "confusion_baseline.png").exists()
    assert (out / "notes.txt").read_text() == "the analyst's own file"
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"notes.txt"}
    assert names == set(json.loads((out / "report.json").read_text())["files"])


def test_each_model_is_compared_with_the_population_of_readers_of_each_cohort_as_the_mrmc_core_computes_it(built):
    truth, data, out = built.truth, built.data, built.out
    gapnet = next(m for m in data.models if m.name == "gapnet").answers
    cohorts = {"expert": data.answers[:3], "scholar": data.answers[3:]}

    rows = read_csv(out / "mrmc.csv")
    assert [(r["model"], r["cohort"], r["fom"], r["variant"]) for r in rows] == [
        ("gapnet", cohort, fom, variant)
        for cohort in ("expert", "scholar")
        for fom in ("accuracy", "f1")
        for variant in ("random_readers_random_cases", "fixed_readers_random_cases")
    ]
    for row in rows:
        expected = model_vs_readers_on_answers(gapnet, cohorts[row["cohort"]], truth, N_CLASSES, fom=row["fom"])
        test = getattr(expected, row["variant"])
        assert float(row["effect"]) == pytest.approx(test.effect)
        assert float(row["se"]) == pytest.approx(test.std_error)
        assert float(row["df"]) == pytest.approx(test.df)
        assert (float(row["ci_low"]), float(row["ci_high"])) == pytest.approx((test.ci_low, test.ci_high))
        assert float(row["p_value"]) == pytest.approx(test.p_value)
        assert float(row["model_fom"]) == pytest.approx(expected.model_fom)
        assert float(row["mean_reader_fom"]) == pytest.approx(expected.mean_reader_fom)
        n_readers = str(len(cohorts[row["cohort"]]))
        assert (row["n_readers"], row["n_cases"], row["n_cases_dropped"]) == (n_readers, "39", "0")
    assert {r["df"] for r in rows if r["variant"] == "fixed_readers_random_cases"} == {"inf"}
    assert "p_noninferiority" not in rows[0], "without --margin there is no non-inferiority test"

    document = json.loads((out / "report.json").read_text())
    required = {
        "model", "cohort", "fom", "variant", "n_readers", "n_cases", "model_fom", "mean_reader_fom", "effect", "se",
        "df", "ci_low", "ci_high", "p_value",
    }
    assert len(document["mrmc"]) == 8 and all(required <= set(row) for row in document["mrmc"])
    fixed = next(r for r in document["mrmc"] if r["variant"] == "fixed_readers_random_cases")
    assert fixed["df"] is None, "an infinite df (the normal reference) is null in JSON"
    assert document["margin"] is None


def test_the_page_says_the_result_beside_the_numbers(built):
    html = (built.out / "index.html").read_text()
    document = json.loads((built.out / "report.json").read_text())

    assert "Model against the population of readers" in html
    for row in document["mrmc"]:
        assert row["summary"] in html.replace("&#x27;", "'")
    random_readers = next(r for r in document["mrmc"] if r["variant"] == "random_readers_random_cases")
    assert "the result applies to experts and samples like these" in random_readers["summary"]


def test_the_words_follow_the_interval_better_worse_or_no_significant_difference():
    common = {"model": "gapnet", "cohort": "expert", "n_readers": 3, "level": 0.95}
    random_readers, fixed_readers = "random_readers_random_cases", "fixed_readers_random_cases"

    better = mrmc_summary(fom="accuracy", variant=random_readers, effect=0.12, ci_low=0.05, ci_high=0.19, **common)
    worse = mrmc_summary(fom="f1", variant=fixed_readers, effect=-0.12, ci_low=-0.19, ci_high=-0.05, **common)
    neither = mrmc_summary(fom="accuracy", variant=random_readers, effect=0.02, ci_low=-0.03, ci_high=0.07, **common)

    assert better == (
        "The model gapnet is better than the average expert by 0.12 accuracy, 95% CI 0.05 to 0.19; "
        "the result applies to experts and samples like these."
    )
    assert worse == (
        "The model gapnet is worse than the average expert by 0.12 macro F1, 95% CI 0.05 to 0.19; "
        "the result applies to these 3 experts, on samples like these."
    )
    assert neither.startswith(
        "No significant difference between the model gapnet and the average expert in accuracy: +0.02"
    )
    shown = mrmc_summary(
        fom="accuracy", variant="random_readers_random_cases", effect=0.02, ci_low=-0.03, ci_high=0.07, margin=0.05,
        p_noninferiority=0.004, **common,
    )
    assert "not worse by 0.05 or more (non-inferior, p = 0.004)" in shown


def test_a_margin_adds_the_non_inferiority_p_value(tmp_path):
    reading, truth = answered_study("margin", n_samples=26)
    out = tmp_path / "out"

    call_command(
        "report", "margin", "--out", str(out), "--repetitions", "10", "--model", "gapnet", "--margin", "0.05",
        stdout=io.StringIO(),
    )

    data = study_answers(reading.study)
    gapnet = next(m for m in data.models if m.name == "gapnet").answers
    expected = model_vs_readers_on_answers(gapnet, data.answers[:3], truth, N_CLASSES, margin=0.05)
    row = read_csv(out / "mrmc.csv")[0]
    assert (row["cohort"], row["fom"], row["variant"], row["margin"]) == (
        "expert", "accuracy", "random_readers_random_cases", "0.05"
    )
    assert float(row["p_noninferiority"]) == pytest.approx(expected.random_readers_random_cases.non_inferiority.p_value)
    document = json.loads((out / "report.json").read_text())
    assert document["margin"] == 0.05 and all("p_noninferiority" in r for r in document["mrmc"])
    with pytest.raises(CommandError, match="--margin -1.0"):
        call_command("report", "margin", "--out", str(out), "--margin", "-1")


def test_with_missing_answers_the_mrmc_rows_count_the_samples_analysed_and_say_which_were_left_out(tmp_path):
    reading, truth = answered_study("dropped", n_samples=26)
    Answer.objects.filter(participant__pseudonym="expert-02", item__position__in=[0, 1, 2]).delete()
    out = tmp_path / "out"

    call_command("report", "dropped", "--out", str(out), "--repetitions", "5", "--allow-missing", "--model", "gapnet")

    rows = [r for r in read_csv(out / "mrmc.csv") if r["cohort"] == "expert"]
    assert {(r["n_cases"], r["n_cases_dropped"]) for r in rows} == {("23", "3")}
    data = study_answers(reading.study)
    expected = model_vs_readers_on_answers(data.models[0].answers, data.answers[:3], truth, N_CLASSES)
    assert float(rows[0]["p_value"]) == pytest.approx(expected.random_readers_random_cases.p_value)
    assert {r["n_cases_dropped"] for r in read_csv(out / "mrmc.csv") if r["cohort"] == "scholar"} == {"0"}
    document = json.loads((out / "report.json").read_text())
    assert any("3 of 26 samples are left out" in note["text"] for note in document["notes"])
    assert "gapnet against the expert cohort: 3 of 26 samples are left out" in (out / "index.html").read_text()


def test_agreement_holds_fleiss_kappa_per_cohort_cohens_kappa_of_every_pair_and_accuracy_per_class(built):
    truth, data, out = built.truth, built.data, built.out
    gapnet = next(m for m in data.models if m.name == "gapnet").answers
    answers_of = {p.pseudonym: data.answers[i] for i, p in enumerate(data.people)} | {"gapnet": gapnet}

    rows = read_csv(out / "agreement.csv")
    assert list(rows[0]) == [
        "kind", "cohort_a", "reader_a", "cohort_b", "reader_b", "class", "value", "n_samples", "simulated"
    ]
    fleiss = {r["cohort_a"]: r for r in rows if r["kind"] == "fleiss_kappa"}
    assert float(fleiss["expert"]["value"]) == pytest.approx(fleiss_kappa(data.answers[:3], N_CLASSES).kappa)
    assert float(fleiss["scholar"]["value"]) == pytest.approx(fleiss_kappa(data.answers[3:], N_CLASSES).kappa)
    assert fleiss["scholar"]["simulated"] == "true" and fleiss["expert"]["simulated"] == "false"
    pairs = [r for r in rows if r["kind"] == "cohens_kappa"]
    assert len(pairs) == 8 * 7 // 2, "every pair of the model and the seven people"
    for pair in pairs:
        expected = cohens_kappa(answers_of[pair["reader_a"]], answers_of[pair["reader_b"]], N_CLASSES)
        assert float(pair["value"]) == pytest.approx(expected.kappa), (pair["reader_a"], pair["reader_b"])
    assert pairs[0]["cohort_a"] == "model" and pairs[0]["reader_a"] == "gapnet"
    per_class = {(r["cohort_a"], r["reader_a"], r["class"]): r for r in rows if r["kind"] == "per_class_accuracy"}
    scholars = per_class_accuracy(data.answers[3:], truth, N_CLASSES)
    assert float(per_class["scholar", "", "Cytosol"]["value"]) == pytest.approx(scholars.cohort[2])
    assert per_class["scholar", "", "Cytosol"]["n_samples"] == str(int(scholars.support[2]))
    model = per_class_accuracy(gapnet, truth, N_CLASSES)
    assert float(per_class["model", "gapnet", "Cytosol"]["value"]) == pytest.approx(model.cohort[2])

    document = json.loads((out / "report.json").read_text())
    assert set(document["agreement"]) == {"fleiss_kappa", "cohens_kappa", "per_class_accuracy"}
    assert len(document["agreement"]["cohens_kappa"]) == len(pairs)
    html = (out / "index.html").read_text()
    assert "Fleiss&#x27; kappa" in html and "Cohen&#x27;s kappa" in html and "Accuracy per true class" in html


def test_table_2_gives_intervals_for_cohort_means_and_ensembles_and_keeps_their_figures(built):
    truth, data, out = built.truth, built.data, built.out
    scholars = data.answers[3:]
    rows = {row["reader"]: row for row in read_csv(out / "table2.csv")}

    mean = cohort_mean_bootstrap_intervals(scholars, truth, N_CLASSES, n_resamples=2000, seed=3)
    row = rows["Mean of scholar"]
    assert (float(row["accuracy_ci_low"]), float(row["accuracy_ci_high"])) == (mean.accuracy.low, mean.accuracy.high)
    assert (float(row["f1_ci_low"]), float(row["f1_ci_high"])) == (mean.f1.low, mean.f1.high)
    assert float(row["accuracy"]) == pytest.approx(np.mean(readers_metrics(scholars, truth, N_CLASSES).accuracy))
    ensemble = ensemble_bootstrap_intervals(data.answers[:3], truth, N_CLASSES, n_resamples=2000, seed=3)
    row = rows["Ensemble of expert"]
    assert (float(row["f1_ci_low"]), float(row["f1_ci_high"])) == (ensemble.f1.low, ensemble.f1.high)
    assert float(row["accuracy"]) == pytest.approx(
        majority_vote_ensemble(data.answers[:3], truth, N_CLASSES, n_repetitions=50, seed=3).mean.accuracy
    )
    for row in rows.values():
        assert float(row["accuracy_ci_low"]) <= float(row["accuracy"]) <= float(row["accuracy_ci_high"]), row["reader"]
