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

from analysis.ensembles import majority_vote_ensemble
from analysis.metrics import confusion_matrix, readers_metrics
from analysis.report_inputs import StudyAnswers
from analysis.significance import mcnemar_from_counts, paired_table, wilcoxon_best_against_others
from analysis.study_arrays import study_answers
from annotator.models import Answer
from models_zoo.metrics import model_performance, multilabel_metrics
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

    for table in ("table1.csv", "table2.csv", "table3.csv", "table7.csv", "report.json", "index.html"):
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
            expected.both_correct, expected.only_model, expected.only_reader, expected.neither,
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
    assert sorted(c["position"] for c in cases if c["kind"] == "only_model") == expected_only_model
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
    answered_study("twice", n_samples=26)
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        call_command("report", "twice", "--out", str(out), "--seed", "3", "--repetitions", "50", stdout=io.StringIO())

    for name in ("table1.csv", "table2.csv", "table3.csv", "table7.csv", "report.json", "confusion_gapnet.csv", "confusion_gapnet.svg"):
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
    assert any("missing" in note for note in document["notes"])
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
    assert any("expert-01 has not answered yet" in note for note in document["notes"])
    assert any("No model run" in note for note in document["notes"])
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
