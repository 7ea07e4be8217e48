"""The report's sections on the readers: each reader's accuracy beside their background, anchoring on the
gallery, test-retest consistency, reading time and the instructions seen, from the database to the files."""

import csv
import io
import json
import math
from datetime import timedelta

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from django.core.management import call_command

from analysis.biases import anchoring, effect_across_readers, reading_time, retest_agreement
from analysis.agreement import cohens_kappa
from analysis.report import compute_report
from analysis.report_inputs import ReportOptions
from analysis.study_arrays import report_inputs, study_answers
from annotator.models import Answer, GalleryVisit, Participant, StudyConfig, config_of
from annotator.simulation import simulate_readers
from tests.analysis.reader_data import START, add_reader_data, visit
from tests.analysis.test_study_arrays import N_CLASSES, answered_study
from study.models import Study
from tests.factories import reading_study

pytestmark = pytest.mark.django_db

N_SAMPLES = 26


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def study():
    reading, truth = answered_study("readers", n_samples=N_SAMPLES)
    added = add_reader_data(reading.study, truth)
    return reading.study, truth, added


@pytest.fixture
def written(study, tmp_path):
    out = tmp_path / "report"
    call_command(
        "report", study[0].name, "--out", str(out), "--seed", "1", "--repetitions", "10", "--model", "gapnet",
        stdout=io.StringIO(),
    )
    return out, json.loads((out / "report.json").read_text())


def row_of(data, pseudonym):
    return [p.pseudonym for p in data.people].index(pseudonym)


def test_the_arrays_say_which_cases_were_looked_up_before_the_answer_and_hold_times_repeats_and_background(study):
    reading_study_, truth, added = study
    data = study_answers(reading_study_)

    expert = row_of(data, "expert-01")
    looked = set(np.flatnonzero(data.looked_up[expert]).tolist())
    # Class 0 before every answer; class 1 after all of them; class 2 between its cases at 2 and 15.
    assert looked == {0, 13, 15}
    assert set(np.flatnonzero(data.looked_up[row_of(data, "expert-02")]).tolist()) == {3, 16}
    assert not data.looked_up[row_of(data, "expert-03")].any()
    lookups = {(g.pseudonym, data.class_names[g.class_index]): g for g in data.gallery}
    assert lookups["expert-01", data.class_names[0]].n_views == 2
    assert lookups["expert-01", data.class_names[0]].first_viewed_at == "2025-03-01T08:00:00Z"

    answered = data.answers[expert] != -1
    expected = np.where(data.answers[expert] == truth, 10.0 + np.arange(N_SAMPLES), 3 * (10.0 + np.arange(N_SAMPLES)))
    assert np.array_equal(data.seconds[expert][answered], expected[answered])

    repeats = data.repeats
    assert repeats.n_configured == 3 and repeats.columns.tolist() == added["repeated"]
    assert np.array_equal(repeats.second[row_of(data, "scholar-01")], truth[repeats.columns])
    assert np.array_equal(repeats.first[expert], repeats.second[expert])
    assert (repeats.second[row_of(data, "expert-02")] != -1).sum() == 1
    assert (repeats.first[row_of(data, "expert-03")] == -1).all()

    assert data.covariate_keys == ("years", "field")
    assert data.covariates["expert-01"] == {"years": 12, "field": "pathology"}
    assert data.covariates["expert-03"] == {"years": None, "field": None}
    assert {(r.pseudonym, r.first_seen_at) for r in data.instructions} == {
        ("expert-01", "2025-03-01T07:00:00Z"), ("expert-01", "2025-03-01T08:00:00Z"),
        ("scholar-01", "2025-03-01T08:30:00Z"),
    }
    assert set(data.instructions_texts.values()) == {"Read carefully.", "Read carefully, please."}


def test_an_answer_changed_after_a_look_counts_as_looked_up():
    reading, truth = answered_study("changed", n_samples=13)
    Answer.objects.filter(participant__study=reading.study).update(answered_at=START)
    visit(reading.study, "expert-03", 5, START + timedelta(minutes=1))
    assert not study_answers(reading.study).looked_up.any()

    Answer.objects.filter(participant__pseudonym="expert-03", item__position=5).update(
        answered_at=START + timedelta(minutes=2)
    )
    data = study_answers(reading.study)
    assert np.flatnonzero(data.looked_up[row_of(data, "expert-03")]).tolist() == [5]


def test_anchoring_in_the_report_is_the_cores_per_reader_per_cohort_and_over_all_readers(study, written):
    data = study_answers(study[0])
    out, document = written
    section = document["anchoring"]

    expected = anchoring(data.answers, data.truth, data.looked_up, N_CLASSES)
    rows = {row["reader"]: row for row in section["readers"]}
    assert list(rows) == [p.pseudonym for p in data.people]
    for person, reader in zip(data.people, expected.readers):
        row = rows[person.pseudonym]
        assert (row["n_looked_up"], row["n_not_looked_up"]) == (reader.n_looked_up, reader.n_not_looked_up)
        if math.isnan(reader.difference):
            assert row["difference"] is None
        else:
            assert row["difference"] == pytest.approx(reader.difference)
    expert = rows["expert-01"]
    assert [(c["class"], c["n_views"], c["n_cases_looked_up"]) for c in expert["classes_looked_up"]] == [
        (data.class_names[0], 2, 2), (data.class_names[1], 1, 0), (data.class_names[2], 1, 1),
    ]
    assert expert["classes_looked_up"][1]["first_viewed_at"] == "2025-03-01T10:26:00Z"

    effects = {row["cohort"]: row for row in section["effects"]}
    assert set(effects) == {"expert", "scholar", None}
    overall = effects[None]
    assert overall["n_readers"] == expected.effect.n_readers == 3
    assert (overall["ci_low"], overall["ci_high"]) == pytest.approx((expected.effect.ci_low, expected.effect.ci_high))
    assert overall["p_value"] == pytest.approx(expected.effect.pvalue)
    experts = effect_across_readers([r.difference for r in expected.readers[:3]])
    assert effects["expert"]["mean_difference"] == pytest.approx(experts.mean_difference)
    assert effects["expert"]["n_readers"] == 2
    assert effects["scholar"]["n_readers"] == 1 and effects["scholar"]["ci_low"] is None
    assert "an effect across readers needs two or more" in effects["scholar"]["summary"]
    assert overall["summary"].startswith("Readers were ")
    assert "accurate on cases of classes they had looked up in the gallery before answering" in overall["summary"]
    assert "is not shown to cause" in overall["summary"]
    assert section["n_gallery_views"] == 6

    table = read_csv(out / "anchoring.csv")
    assert [r["kind"] for r in table] == ["reader"] * 7 + ["effect"] * 3
    assert table[0]["classes_looked_up"] == "; ".join(data.class_names[:3])
    assert table[-1]["cohort"] == "" and float(table[-1]["ci_low"]) == pytest.approx(expected.effect.ci_low)
    html = (out / "index.html").read_text().replace("&#x27;", "'")
    assert "Anchoring on the gallery" in html and overall["summary"] in html


def test_test_retest_gives_each_readers_kappa_and_the_cohorts_mean_and_pooled_kappa(study, written):
    data = study_answers(study[0])
    out, document = written
    section = document["test_retest"]
    repeats = data.repeats
    truth = data.truth[repeats.columns]

    assert section["n_repeated_cases"] == 3 and section["note"] is None
    rows = {row["reader"]: row for row in section["readers"]}
    assert set(rows) == {"expert-01", "expert-02", "scholar-01"}, "only the readers who read a case twice"
    expected = retest_agreement(repeats.first, repeats.second, truth, N_CLASSES)
    for name, row in rows.items():
        core = expected[row_of(data, name)]
        assert row["n_repeats"] == core.n_repeats
        assert row["accuracy_first"] == pytest.approx(core.accuracy_first)
        assert row["accuracy_second"] == pytest.approx(core.accuracy_second)
    assert rows["scholar-01"]["accuracy_second"] == 1.0 and rows["scholar-01"]["kappa_second_truth"] == 1.0
    scholar = row_of(data, "scholar-01")
    assert rows["scholar-01"]["kappa_first_truth"] == pytest.approx(
        cohens_kappa(repeats.first[scholar], truth, N_CLASSES).kappa
    )
    assert rows["expert-02"]["n_repeats"] == 1

    cohorts = {row["cohort"]: row for row in section["cohorts"]}
    experts = cohorts["expert"]
    assert (experts["n_readers"], experts["n_pairs"]) == (2, 4)
    kappas = [k for k in (rows["expert-01"]["kappa"], rows["expert-02"]["kappa"]) if k is not None]
    assert experts["mean_kappa"] == pytest.approx(np.mean(kappas))
    pairs = [(row_of(data, "expert-01"), c) for c in range(3)] + [(row_of(data, "expert-02"), 0)]
    pooled_first = np.array([repeats.first[r, c] for r, c in pairs])
    pooled_second = np.array([repeats.second[r, c] for r, c in pairs])
    assert experts["pooled_kappa"] == pytest.approx(cohens_kappa(pooled_first, pooled_second, N_CLASSES).kappa)

    table = read_csv(out / "test_retest.csv")
    assert [r["kind"] for r in table] == ["cohort", "cohort", "reader", "reader", "reader"]
    assert "Test-retest consistency per cohort" in (out / "index.html").read_text()


def test_a_study_that_repeats_no_case_has_an_empty_test_retest_with_a_note(tmp_path):
    answered_study("once", n_samples=13)
    out = tmp_path / "out"

    call_command("report", "once", "--out", str(out), "--repetitions", "5", stdout=io.StringIO())

    section = json.loads((out / "report.json").read_text())["test_retest"]
    assert section["readers"] == [] and section["cohorts"] == []
    assert section["note"] == "The study repeats no case: test-retest consistency is not measured."
    assert read_csv(out / "test_retest.csv") == []
    assert "The study repeats no case" in (out / "index.html").read_text()


def test_reading_time_gives_each_cohorts_quartiles_and_rho_as_table_plot_and_csv(study, written):
    data = study_answers(study[0])
    out, document = written
    rows = {row["cohort"]: row for row in document["reading_time"]}

    assert set(rows) == {"expert", "scholar"}, "per cohort; models have no time"
    for cohort, members in (("expert", slice(0, 3)), ("scholar", slice(3, 7))):
        expected = reading_time(data.answers[members], data.truth, data.seconds[members], N_CLASSES)
        row = rows[cohort]
        assert row["spearman_rho"] == pytest.approx(expected.spearman_rho)
        assert row["p_value"] == pytest.approx(expected.pvalue)
        assert [q["accuracy"] for q in row["quartiles"]] == pytest.approx([q.accuracy for q in expected.quartiles])
        assert row["n_cases"] == expected.n_cases == data.answers[members].size and row["n_untimed"] == 0
    assert rows["expert"]["spearman_rho"] < 0, "wrong answers took three times as long"
    assert rows["expert"]["quartiles"][0]["accuracy"] > rows["expert"]["quartiles"][-1]["accuracy"]
    assert rows["expert"]["summary"].startswith("expert: the fastest quarter of answers")

    table = read_csv(out / "reading_time.csv")
    expected_rows = [(cohort, str(q)) for cohort in ("expert", "scholar") for q in range(1, 5)]
    assert [(r["cohort"], r["quartile"]) for r in table] == expected_rows
    assert (out / "reading_time.png").stat().st_size > 0 and (out / "reading_time.svg").is_file()
    assert {"reading_time.png", "reading_time.svg", "reading_time.csv"} <= set(document["files"])
    html = (out / "index.html").read_text()
    assert "Reading time against correctness" in html and 'src="reading_time.png"' not in html


def test_every_reader_has_a_row_with_accuracy_beside_their_background(study, written):
    data = study_answers(study[0])
    out, document = written

    readers = {row["reader"]: row for row in document["readers"]}
    assert list(readers) == [p.pseudonym for p in data.people]
    assert readers["expert-01"]["background"] == {"years": 12, "field": "pathology"}
    assert readers["scholar-02"]["background"] == {"years": 1, "field": None}
    assert readers["scholar-02"]["accuracy"] == pytest.approx(np.mean(data.answers[4] == data.truth))
    assert readers["scholar-04"]["simulated"] is True
    seconds = data.seconds[row_of(data, "expert-02")]
    assert readers["expert-02"]["median_seconds"] == pytest.approx(np.median(seconds))

    low, high = proportion_confint(np.sum(data.answers[4] == data.truth), N_SAMPLES, method="wilson")
    assert (readers["scholar-02"]["accuracy_ci_low"], readers["scholar-02"]["accuracy_ci_high"]) == pytest.approx(
        (low, high)
    )

    table = read_csv(out / "readers.csv")
    assert list(table[0]) == [
        "reader", "cohort", "simulated", "n_answered", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
        "median_seconds", "years", "field",
    ]
    assert (table[0]["reader"], table[0]["years"], table[0]["field"]) == ("expert-01", "12", "pathology")
    assert table[1]["years"] == ""
    assert "The readers: accuracy beside their background" in (out / "index.html").read_text()


def test_the_instructions_each_participant_saw_are_listed_and_different_versions_are_noted(study, written):
    out, document = written
    section = document["instructions"]

    assert [(v["text"], v["n_participants"]) for v in section["versions"]] == [
        ("Read carefully.", 2), ("Read carefully, please.", 1)
    ]
    seen = {row["reader"]: row["seen"] for row in section["participants"]}
    assert [s["first_seen_at"] for s in seen["expert-01"]] == ["2025-03-01T07:00:00Z", "2025-03-01T08:00:00Z"]
    assert seen["expert-02"] == []
    assert "Participants saw 2 different versions of the instructions" in section["note"]
    assert "5 of 7 participants never opened the instructions page (1 of them simulated readers" in section["note"]
    assert any(note["kind"] == "warning" and "2 different versions" in note["text"] for note in document["notes"])
    assert section["versions"][0]["digest"][:12] in (out / "index.html").read_text()


def test_the_reports_inputs_differ_when_second_readings_gallery_visits_or_background_answers_change(study):
    reading_study_ = study[0]
    options = ReportOptions(repetitions=10)

    def fingerprint():
        return report_inputs(Study.objects.get(pk=reading_study_.pk), options).digest()

    changes = [
        lambda: Answer.readings.filter(participant__study=reading_study_, repeat=1).first().delete(),
        lambda: visit(reading_study_, "expert-03", 7, START),
        lambda: Participant.objects.filter(pseudonym="expert-03").update(background={"years": 3}),
        lambda: Answer.objects.filter(participant__pseudonym="expert-03", item__position=0).update(active_seconds=99.0),
        lambda: StudyConfig.objects.filter(study=reading_study_).update(repeated_cases=4),
    ]
    before = fingerprint()
    for change in changes:
        change()
        after = fingerprint()
        assert after != before
        before = after


def test_simulated_readers_look_up_classes_in_the_gallery_before_some_answers_and_after_others(tmp_path):
    reading = reading_study("simulated", test_samples=26, train_samples=26)
    simulate_readers(reading.study, "expert", 4, 0.7, seed=5)

    visits = GalleryVisit.objects.filter(participant__simulated=True)
    assert visits.exists() and visits.values("participant").distinct().count() >= 3
    data = study_answers(reading.study)
    simulated = [i for i, p in enumerate(data.people) if p.simulated]
    looked = data.looked_up[simulated]
    assert looked.any() and not looked.all()
    # Some looks come after some of the reader's answers of the class.
    answered = Answer.objects.filter(participant__simulated=True)
    last_answer = max(a.answered_at for a in answered)
    first_answer = min(a.answered_at for a in answered)
    moments = list(visits.values_list("visited_at", flat=True))
    assert min(moments) < last_answer and max(moments) > first_answer

    report = compute_report(data, repetitions=5, allow_missing=True)
    assert sum(row.n_looked_up for row in report.anchoring.readers) == int(looked.sum())
    assert report.test_retest.note == "The study repeats no case: test-retest consistency is not measured."
    assert report.reading_time[0].n_cases == data.answers[simulated].size
    # Looking never changes the simulated answers: the same seed gives the same answers without a gallery.
    again = reading_study("closed", test_samples=26, train_samples=26)
    config = config_of(again.study)
    config.gallery_open = False
    config.save()
    simulate_readers(again.study, "expert", 4, 0.7, seed=5)
    assert not GalleryVisit.objects.filter(participant__study=again.study).exists()
    closed = study_answers(again.study)
    closed_simulated = [i for i, p in enumerate(closed.people) if p.simulated]
    assert np.array_equal(closed.answers[closed_simulated], data.answers[simulated])
