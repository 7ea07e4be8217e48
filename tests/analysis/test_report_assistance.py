"""The report's assisted arm (``report.json`` key ``assistance``, the ``assistance_*.csv`` files and the
page): a sequential study of 5 readers and 8 cases (``tests.analysis.assisted_studies``) whose every figure
is counted here by hand from the answers listed there."""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from annotator.models import Answer, Participant, Suggestion
from tests.analysis.assisted_studies import assisted_study, read, sequential_study
from tests.analysis.test_study_arrays import answered_study

pytestmark = pytest.mark.django_db
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Built:
    out: Path
    document: dict


def build(name: str, out: Path) -> dict:
    call_command("report", name, "--out", str(out), "--seed", "1", "--repetitions", "20", stdout=io.StringIO())
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, tmp_path_factory):
    """The report of ``sequential_study``, built once; its rows are rolled back afterwards."""
    data_dir = tmp_path_factory.mktemp("data")
    out = tmp_path_factory.mktemp("report") / "report"
    with override_settings(DATA_DIR=data_dir, STORE_DIR=data_dir / "store", PASSWORD_HASHERS=FAST_HASHER):
        with django_db_blocker.unblock(), transaction.atomic():
            study = sequential_study()
            document = build(study.name, out)
            transaction.set_rollback(True)
    return Built(out, document)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def by(rows, **wanted):
    return next(row for row in rows if all(row[key] == value for key, value in wanted.items()))


def test_each_reader_is_counted_helped_where_wrong_alone_and_right_with_the_suggestion_and_harmed_the_reverse(built):
    readers = {row["reader"]: row for row in built.document["assistance"]["readers"]}

    assert [(readers[r]["helped"], readers[r]["harmed"]) for r in sorted(readers)] == [
        (1, 1), (0, 0), (2, 0), (0, 0), (0, 3)
    ]
    assert readers["scholar-03"]["unaided_accuracy"] == 1.0 and readers["scholar-03"]["aided_accuracy"] == 5 / 8
    assert readers["scholar-03"]["change"] == pytest.approx(-3 / 8)
    # McNemar's exact test of 0 helped against 3 harmed: 2 x 1/8.
    assert readers["scholar-03"]["p_value"] == pytest.approx(0.25)
    assert readers["scholar-01"]["p_value"] == pytest.approx(0.5)
    # -0.375 with the paired standard error sd(d)/sqrt(8) = 0.183: the interval lies below 0.
    assert readers["scholar-03"]["ci_high"] < 0 and readers["scholar-03"]["verdict"] == "harmed"
    assert readers["scholar-01"]["verdict"] == "no detectable change"
    assert readers["expert-01"]["change"] == 0.0 and readers["expert-01"]["verdict"] == "no detectable change"


def test_the_switch_and_reliance_rates_are_counted_per_reader_and_pooled_per_cohort(built):
    rows = built.document["assistance"]["switches"]
    expert_01 = by(rows, level="reader", name="expert-01")
    expert_02 = by(rows, level="reader", name="expert-02")
    scholars = by(rows, level="cohort", name="scholar")

    # expert-01: wrong alone and the suggestion right on case 5, then right; right alone and the suggestion
    # wrong on cases 6 and 7, kept right on 7 and switched to the suggestion on 6.
    assert (expert_01["rair"], expert_01["rsr"], expert_01["harmful_switch_rate"]) == (1.0, 0.5, 0.5)
    assert expert_01["wrong_adopted"] == 1
    assert (expert_01["agree_before"], expert_01["agree_after"]) == (5 / 8, 7 / 8)
    assert (expert_01["n_suggestion_right"], expert_01["n_suggestion_wrong"]) == (6, 2)
    # expert-02 was never wrong alone: relative AI reliance has no case to rest on, and is null, not 0.
    assert expert_02["rair"] is None and expert_02["n_rair_cases"] == 0
    assert (expert_02["rsr"], expert_02["harmful_switch_rate"]) == (1.0, 0.0)
    # The scholars' readings pooled: RAIR 2 of 3, RSR 1 of 3, harmful switches 2 of 3, 2 + 1 + 2 wrong adopted.
    assert (scholars["rair"], scholars["rsr"], scholars["harmful_switch_rate"]) == (2 / 3, 1 / 3, 2 / 3)
    assert scholars["wrong_adopted"] == 5
    assert (scholars["agree_before"], scholars["agree_after"]) == (15 / 24, 21 / 24)
    assert {row["suggestion_source"] for row in rows} == {"model"}
    # No case is read twice: no change without a suggestion to read the rates beside.
    assert expert_01["unaided_change_rate"] is None and expert_01["n_retest_pairs"] == 0


def test_accuracy_is_split_by_whether_the_suggestion_was_right(built):
    rows = built.document["assistance"]["by_suggestion"]
    right = by(rows, cohort="scholar", suggestion_correct=True)
    wrong = by(rows, cohort="scholar", suggestion_correct=False)

    assert (right["n_cases"], right["n_readings"]) == (6, 18)
    assert (right["unaided_accuracy"], right["aided_accuracy"]) == (15 / 18, 16 / 18)
    assert (wrong["n_cases"], wrong["n_readings"]) == (2, 6)
    assert (wrong["unaided_accuracy"], wrong["aided_accuracy"]) == (3 / 6, 1 / 6)
    everyone = by(rows, cohort=None, suggestion_correct=False)
    assert (everyone["n_readings"], everyone["unaided_accuracy"], everyone["aided_accuracy"]) == (10, 7 / 10, 4 / 10)


def test_aided_against_unaided_is_analysed_per_cohort_and_over_all_readers_in_three_variants(built):
    rows = built.document["assistance"]["orh"]

    assert len(rows) == 3 * 2 * 3, "experts, scholars and all readers x two FOMs x three variants"
    assert {row["variant"] for row in rows} == {
        "random_readers_random_cases", "fixed_readers_random_cases", "random_readers_fixed_cases"
    }
    scholars = by(rows, cohort="scholar", fom="accuracy", variant="random_readers_random_cases")
    assert (scholars["n_readers"], scholars["n_cases"]) == (3, 8)
    assert scholars["unaided_fom"] == pytest.approx((4 / 8 + 6 / 8 + 8 / 8) / 3)
    assert scholars["aided_fom"] == pytest.approx((6 / 8 + 6 / 8 + 5 / 8) / 3)
    assert scholars["effect"] == pytest.approx(scholars["aided_fom"] - scholars["unaided_fom"])
    everyone = by(rows, cohort=None, fom="accuracy", variant="fixed_readers_random_cases")
    assert everyone["n_readers"] == 5 and everyone["df"] is None
    assert by(rows, cohort="expert", fom="f1", variant="random_readers_fixed_cases")["var_tr"] is not None


def test_the_model_is_compared_with_the_readers_reading_with_its_suggestion(built):
    rows = built.document["assistance"]["model_vs_aided"]
    scholars = by(rows, cohort="scholar", fom="accuracy", variant="random_readers_random_cases")

    assert scholars["model"] == "gapnet" and scholars["model_fom"] == 6 / 8
    assert scholars["mean_reader_fom"] == pytest.approx(17 / 24)
    assert "the average scholar reading with the suggestion" in scholars["summary"]


def test_reading_time_compares_the_answer_alone_with_the_whole_second_reading(built):
    rows = built.document["assistance"]["reading_time"]
    arms = by(rows, comparison="arms", cohort=None)

    # 10 s alone, then 4 s after the suggestion: the final answer took 14 s in all.
    assert (arms["first"], arms["second"]) == ("unaided", "aided")
    assert (arms["median_first_seconds"], arms["median_second_seconds"]) == (10.0, 14.0)
    assert arms["median_difference_seconds"] == 4.0 and arms["n_readers"] == 5
    after = by(rows, comparison="after_suggestion", cohort=None)
    assert (after["first"], after["second"], after["median_first_seconds"]) == ("agreed", "disagreed", 4.0)


def test_the_words_say_what_the_design_supports_whom_it_harmed_and_how_many_wrong_suggestions(built):
    section = built.document["assistance"]
    summary = section["summary"]
    page = (built.out / "index.html").read_text()

    assert "supports claims about the model as a second reader" in summary[0]
    assert "wrong on 2 of 8 cases (10 readings)" in summary[1]
    assert "the 7 readings in which the reader was right alone" in summary[1]
    assert section["readers_summary"].startswith("Harmed (their interval of the change lies below 0): scholar-03.")
    assert "about 0.25 would be marked helped or harmed by chance alone" in section["readers_summary"]
    for sentence in (*summary, section["readers_summary"]):
        assert sentence.replace("'", "&#x27;") in page
    assert "Readers with the machine: switches and reliance" in page


def test_every_part_is_a_csv_file_with_the_issues_keys_and_the_slope_plot_is_drawn(built):
    files = built.document["files"]
    columns = {name: list(read_csv(built.out / name)[0]) for name in files if name.startswith("assistance_") and name.endswith(".csv")}

    assert {"assistance_readers.png", "assistance_readers.svg"} <= set(files)
    keys = {
        "assistance_orh.csv": "cohort fom variant n_readers n_cases unaided_fom aided_fom effect se df ci_low ci_high "
        "p_value var_tr",
        "assistance_readers.csv": "reader cohort unaided_accuracy aided_accuracy change helped harmed p_value ci_low "
        "ci_high verdict",
        "assistance_switches.csv": "level name cohort n_cases n_suggestion_right n_suggestion_wrong rair rsr "
        "harmful_switch_rate wrong_adopted agree_before agree_after",
        "assistance_by_suggestion.csv": "cohort suggestion_correct n_cases unaided_accuracy aided_accuracy",
        "assistance_time.csv": "comparison cohort first second median_first_seconds median_second_seconds",
        "assistance_model.csv": "model cohort fom variant n_readers n_cases model_fom mean_reader_fom effect se df "
        "ci_low ci_high p_value",
    }
    assert set(columns) == set(keys)
    for name, wanted in keys.items():
        assert [column for column in columns[name] if column in wanted.split()] == wanted.split(), name
    switches = read_csv(built.out / "assistance_switches.csv")
    assert by(switches, name="expert-02")["rair"] == "", "a null rate is an empty cell, never 0"
    assert by(read_csv(built.out / "assistance_orh.csv"), cohort="", fom="accuracy", variant="fixed_readers_random_cases")["df"] == "inf"


def test_controlled_suggestions_are_left_out_of_the_comparison_and_reported_apart(tmp_path):
    # A controlled fraction of 1/8: one case the model gets right shows its runner-up instead.
    study = assisted_study("controlled", suggestions=list(range(8)), controlled=0.125)
    controlled = Suggestion.objects.get(study=study, source="controlled")
    truth = list(range(8))
    for pseudonym in ("expert-01", "expert-02", "scholar-01", "scholar-02"):
        final = [controlled.class_index if k == controlled.item.position else t for k, t in enumerate(truth)]
        read(study, pseudonym, truth, final)

    section = build(study.name, tmp_path / "report")["assistance"]

    assert section["n_controlled_cases"] == 1 and section["n_model_cases"] == 7
    assert {row["n_cases"] for row in section["orh"]} == {7}
    assert {row["n_cases"] for row in section["readers"]} == {7}
    assert {row["harmed"] for row in section["readers"]} == {0}, "the controlled case's switches are not harms here"
    followed = by(section["switches"], level="cohort", name="expert", suggestion_source="controlled")
    assert (followed["n_cases"], followed["n_suggestion_wrong"], followed["harmful_switch_rate"]) == (2, 2, 1.0)
    assert by(section["switches"], level="cohort", name="expert", suggestion_source="model")["n_suggestion_wrong"] == 0
    apart = [row for row in section["by_suggestion"] if row["suggestion_source"] == "controlled"]
    assert [(row["cohort"], row["suggestion_correct"], row["aided_accuracy"]) for row in apart] == [
        ("expert", False, 0.0), ("scholar", False, 0.0), (None, False, 0.0)
    ]
    assert any("1 case(s) showed a controlled suggestion" in sentence for sentence in section["summary"])


def test_a_study_read_unaided_has_no_assistance_section(tmp_path):
    reading, _ = answered_study("unaided", n_samples=13)

    document = build(reading.study.name, tmp_path / "report")

    assert "assistance" not in document
    assert not [name for name in document["files"] if name.startswith("assistance")]
    assert "Readers with the machine" not in (tmp_path / "report" / "index.html").read_text()


def test_an_assisted_study_no_one_has_read_both_ways_yet_says_so(tmp_path):
    study = assisted_study("unread")
    read(study, "expert-01", [0, 1, 2, 3, 4, 5, 6, 7], [None] * 8)
    out = tmp_path / "report"

    call_command("report", study.name, "--out", str(out), "--allow-missing", "--repetitions", "20", stdout=io.StringIO())

    document = json.loads((out / "report.json").read_text())
    section = document["assistance"]
    assert section["orh"] == section["readers"] == section["switches"] == []
    assert "supports claims about the model as a second reader" in section["summary"][0]
    assert "No reader has answered a case both alone and with the suggestion yet" in str(document["notes"])


def test_the_switches_are_read_beside_the_change_of_the_cases_read_twice_alone(tmp_path):
    study = sequential_study("retest")
    reader = Participant.objects.get(study=study, pseudonym="expert-01")
    first, second = study.items.order_by("position")[:2]
    # Read again alone: case 0 the same as the first time, case 1 differently.
    Answer.readings.create(participant=reader, item=first, repeat=1, class_index=0, display_percentiles={})
    Answer.readings.create(participant=reader, item=second, repeat=1, class_index=5, display_percentiles={})

    switches = build(study.name, tmp_path / "report")["assistance"]["switches"]

    expert = by(switches, level="reader", name="expert-01")
    assert (expert["unaided_change_rate"], expert["n_retest_pairs"]) == (0.5, 2)
    assert by(switches, level="cohort", name="expert")["unaided_change_rate"] == 0.5
    assert by(switches, level="reader", name="expert-02")["unaided_change_rate"] is None


def test_the_same_assisted_study_and_seed_give_byte_identical_files(tmp_path):
    study = sequential_study("twice-assisted")

    first, second = build(study.name, tmp_path / "first"), build(study.name, tmp_path / "second")

    assert first["files"] == second["files"]
    for name in first["files"]:
        if name.startswith("assistance") or name == "report.json":
            assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name
