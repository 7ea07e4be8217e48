"""A crossover study's assisted arm in the report: the period, sequence and carry-over effects on accuracy,
counted by hand on 4 readers and 4 cases read in blocks of 2."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from scipy.stats import ttest_1samp

from tests.analysis.assisted_studies import assisted_study, read

pytestmark = pytest.mark.django_db
TRUTH = [0, 1, 2, 3]
# Sequence group 0 reads cases 0-1 alone and 2-3 with the suggestion in session 1, the other way in session 2;
# group 1 the opposite. (answer alone, final answer, sessions (alone, with the suggestion) per case)
GROUP_0 = ([9, 1, 2, 3], TRUTH, [(1, 2), (1, 2), (2, 1), (2, 1)])  # wrong alone once in session 1
GROUP_1 = ([0, 1, 9, 9], TRUTH, [(2, 1), (2, 1), (1, 2), (1, 2)])  # wrong alone twice in session 1
READERS = {"expert-01": 0, "expert-02": 1, "scholar-01": 0, "scholar-02": 1}


@pytest.fixture
def report(tmp_path):
    study = assisted_study("crossed", design="crossover", suggestions=TRUTH, block_size=2)
    for pseudonym, group in READERS.items():
        alone, final, sessions = GROUP_0 if group == 0 else GROUP_1
        read(study, pseudonym, alone, final, sessions=sessions, sequence_group=group)
    out = tmp_path / "report"
    call_command("report", study.name, "--out", str(out), "--seed", "1", "--repetitions", "20", stdout=io.StringIO())
    return out, json.loads((out / "report.json").read_text())


def effect(rows, cohort, name):
    return next(row for row in rows if row["cohort"] == cohort and row["effect"] == name)


def test_a_crossover_reports_its_period_sequence_and_carryover_effects(report):
    out, document = report
    rows = document["assistance"]["crossover"]

    # Per reader, session 2 - 1 accuracy (mean of the two arms): group 0 (1/2 + 0)/2, group 1 (1 + 0)/2.
    period = effect(rows, None, "period")
    assert period["estimate"] == pytest.approx(0.375) and period["n_readers"] == 4
    assert period["p_value"] == pytest.approx(ttest_1samp([0.25, 0.5, 0.25, 0.5], 0).pvalue)
    # Every reader of a group alike (7/8 right in group 0, 6/8 in group 1): an estimate without a test.
    sequence = effect(rows, None, "sequence")
    assert sequence["estimate"] == pytest.approx(-0.125) and sequence["p_value"] is None
    # The suggestion's effect in session 1 less in session 2: 1/2 for group 0, 1 for group 1.
    assert effect(rows, "expert", "carryover")["estimate"] == pytest.approx(0.75)
    assert (period["unaided_session_1"], period["aided_session_1"], period["unaided_session_2"]) == (0.25, 1.0, 1.0)
    with open(out / "assistance_crossover.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 3 * 3, "experts, scholars and all readers x three effects"


def test_a_crossovers_words_and_times_are_those_of_readings_apart(report):
    out, document = report
    section = document["assistance"]

    assert "supports claims about aided against unaided reading (concurrent use)" in section["summary"][0]
    assert [row["comparison"] for row in section["reading_time"]] == ["arms"] * 3
    arms = section["reading_time"][-1]
    assert (arms["median_first_seconds"], arms["median_second_seconds"]) == (10.0, 4.0)
    page = (out / "index.html").read_text()
    assert "the crossover&#x27;s period and sequence" in page
    assert "measure agreement across sessions, not switches seen as they happened" in page
