"""The assisted arm's inputs, its aided-against-unaided ORH rows and its accuracy by suggestion
(analysis.assistance)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.assistance import assisted_readings, orh_aided_vs_unaided, suggestion_strata
from analysis.mrmc import VARIANTS, accuracy_jackknife, compare_modalities, macro_f1_jackknife
from models_zoo.classification_figures import MetricInputError

REPOSITORY = Path(__file__).resolve().parents[2]
ROW_KEYS = [
    "cohort", "fom", "variant", "n_readers", "n_cases", "unaided_fom", "aided_fom", "effect", "se", "df",
    "ci_low", "ci_high", "p_value", "var_tr",
]


def simulated_study(seed, n_readers=6, n_cases=80, n_classes=5, follow=0.5):
    """Truth, a suggestion right 80% of the time, unaided answers right 60% of the time, and aided
    answers that take the suggestion with probability ``follow`` and keep the unaided answer otherwise."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_cases)
    wrong = (truth + rng.integers(1, n_classes, n_cases)) % n_classes
    suggestion = np.where(rng.random(n_cases) < 0.8, truth, wrong)
    shape = (n_readers, n_cases)
    unaided = np.where(rng.random(shape) < 0.6, truth, (truth + rng.integers(1, n_classes, shape)) % n_classes)
    aided = np.where(rng.random(shape) < follow, suggestion, unaided)
    return unaided, aided, suggestion, truth


def readings_of(unaided, aided, suggestion, truth, n_classes=5, cohorts=None):
    n_readers = np.shape(unaided)[0]
    cohorts = cohorts or ["expert"] * (n_readers // 2) + ["scholar"] * (n_readers - n_readers // 2)
    return assisted_readings(
        unaided, aided, suggestion, truth, n_classes, readers=[f"r{j}" for j in range(n_readers)], cohorts=cohorts
    )


def test_each_cohort_and_all_readers_get_three_variants_of_accuracy_and_macro_f1():
    readings = readings_of(*simulated_study(1))

    rows = orh_aided_vs_unaided(readings).rows

    assert [(row.cohort, row.fom, row.variant) for row in rows] == [
        (cohort, fom, variant)
        for cohort in ("expert", "scholar", None)
        for fom in ("accuracy", "f1")
        for variant in VARIANTS
    ]
    assert list(rows[0].to_dict()) == ROW_KEYS


def test_the_rows_are_the_two_modality_orh_with_aided_first():
    unaided, aided, suggestion, truth = simulated_study(2)
    readings = readings_of(unaided, aided, suggestion, truth)

    result = orh_aided_vs_unaided(readings)

    experts = slice(0, 3)
    for fom, jackknife in (("accuracy", accuracy_jackknife), ("f1", macro_f1_jackknife)):
        expected = compare_modalities(jackknife(np.stack([aided[experts], unaided[experts]]), truth, 5))
        rows = [row for row in result.rows if row.cohort == "expert" and row.fom == fom]
        for row, test in zip(rows, expected.tests):
            assert row.effect == pytest.approx(expected.fom_a - expected.fom_b)
            assert (row.aided_fom, row.unaided_fom) == (pytest.approx(expected.fom_a), pytest.approx(expected.fom_b))
            assert (row.se, row.df, row.p_value) == pytest.approx((test.std_error, test.df2, test.p_value))
            assert (row.ci_low, row.ci_high) == pytest.approx((test.ci_low, test.ci_high))
            assert row.var_tr == pytest.approx(expected.components.var_tr)
            assert (row.n_readers, row.n_cases) == (3, 80)


def test_following_a_good_suggestion_shows_as_a_positive_effect():
    readings = readings_of(*simulated_study(3, n_readers=8, n_cases=200, follow=0.7))

    row = orh_aided_vs_unaided(readings, foms=["accuracy"]).rows[-3]

    assert (row.cohort, row.variant) == (None, "random_readers_random_cases")
    assert row.effect == pytest.approx(row.aided_fom - row.unaided_fom)
    assert row.effect > 0.1 and row.ci_low > 0 and row.p_value < 0.001


def test_the_fixed_readers_df_is_infinite_and_null_in_json():
    rows = orh_aided_vs_unaided(readings_of(*simulated_study(4))).rows

    fixed = next(row for row in rows if row.variant == "fixed_readers_random_cases")

    assert fixed.df == np.inf and fixed.to_dict()["df"] is None


def test_cases_a_reader_of_the_cohort_lacks_in_either_arm_are_left_out_of_that_cohort_only():
    unaided, aided, suggestion, truth = simulated_study(5)
    unaided[0, 10] = -1  # an expert without an unaided answer
    aided[4, 20] = -1  # a scholar without an aided answer
    aided[5, 20] = -1

    result = orh_aided_vs_unaided(readings_of(unaided, aided, suggestion, truth))

    assert result.n_cases_dropped == {"expert": 1, "scholar": 1, None: 2}
    assert {row.n_cases for row in result.rows if row.cohort == "expert"} == {79}
    assert {row.n_cases for row in result.rows if row.cohort is None} == {78}
    assert any("cohort expert: left out 1 of 80 cases" in note for note in result.notes)


def test_a_cohort_of_one_reader_gets_no_rows_and_a_note():
    readings = readings_of(*simulated_study(6, n_readers=4), cohorts=["expert", "scholar", "scholar", "scholar"])

    result = orh_aided_vs_unaided(readings)

    assert {row.cohort for row in result.rows} == {"scholar", None}
    assert result.notes == ("cohort expert: 1 reader(s) and 80 case(s) answered by all of them unaided and aided; "
                            "the ORH analysis needs two or more of each",)


def test_with_aided_answers_that_change_nothing_the_null_is_rejected_at_the_nominal_rate():
    # Aided and unaided answers drawn alike (reader skill and case difficulty shared): the random-readers
    # random-cases test should reject 5% of 600 studies; three standard errors are 2.7 points.
    rng = np.random.default_rng(7)
    rejected = []
    for _ in range(600):
        difficulty = rng.normal(0, 1, 60)
        skill = rng.normal(0.4, 0.5, (5, 1))
        right = 1 / (1 + np.exp(-(skill - difficulty)))
        truth = np.zeros(60, dtype=np.int64)
        unaided = (rng.random((5, 60)) >= right).astype(np.int64)
        aided = (rng.random((5, 60)) >= right).astype(np.int64)
        comparison = compare_modalities(accuracy_jackknife(np.stack([aided, unaided]), truth, 2))
        rejected.append(comparison.random_readers_random_cases.p_value < 0.05)
    assert np.mean(rejected) == pytest.approx(0.05, abs=0.027)


def test_an_unknown_fom_or_level_is_refused():
    readings = readings_of(*simulated_study(8))
    with pytest.raises(MetricInputError, match="foms: expected some of"):
        orh_aided_vs_unaided(readings, foms=["auc"])
    with pytest.raises(MetricInputError, match="level"):
        orh_aided_vs_unaided(readings, level=95)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(aided=np.zeros((3, 4), dtype=int)), r"aided: expected the shape of unaided \(2, 4\)"),
        (dict(suggestion=np.zeros(5, dtype=int)), r"suggestion: expected shape \(4,\) or \(2, 4\)"),
        (dict(unaided=[[0, 1, 2, 12], [0, 0, 0, 0]]), r"unaided\[0, 3\] = 12 is neither a class index"),
        (dict(suggestion=[0.5, 1, 1, 1]), "suggestion: expected integer class indices"),
        (dict(truth=[0, 1, 2]), "truth: has 3 samples"),
        (dict(readers=["a"]), r"readers: expected one per reader \(2\), got 1"),
        (dict(readers=["a", "a"]), "readers: a name appears twice"),
        (dict(cohorts=["e", "e", "s"]), r"cohorts: expected one per reader \(2\), got 3"),
    ],
)
def test_bad_arrays_are_refused_with_the_array_named(change, message):
    arguments = dict(
        unaided=np.zeros((2, 4), dtype=int), aided=np.zeros((2, 4), dtype=int), suggestion=np.zeros(4, dtype=int),
        truth=np.zeros(4, dtype=int), readers=["a", "b"], cohorts=["e", "s"],
    )
    arguments.update(change)
    readers, cohorts = arguments.pop("readers"), arguments.pop("cohorts")
    with pytest.raises(MetricInputError, match=message):
        assisted_readings(*arguments.values(), 10, readers=readers, cohorts=cohorts)


# A small constructed study, its cells counted by hand in the switch tests (test_assistance_switches.py).
TRUTH = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
SUGGESTION = [0, 1, 2, 3, 0, 1, 1, 0, 3, 2]  # right on cases 0-5, wrong on 6-9
HAND_COUNTED = dict(
    unaided=[
        [0, 2, 3, 3, 1, 1, 2, 3, 0, 3],  # A, expert: right on 0, 3, 5, 6, 7, 8
        [0, 1, 2, 3, 0, 1, 2, 3, 3, 1],  # B, expert: right on all but 8 (where u = a = 3, wrong)
        [-1, 1, 2, 3, 0, 1, 2, 3, 0, 1],  # C, scholar: right on all, case 0 unanswered
    ],
    aided=[
        [0, 1, 3, 3, 0, 1, 1, 3, 0, 2],  # A: right on 0, 1, 3, 4, 5, 7, 8
        [0, 1, 2, 3, 0, 1, 2, 3, 3, 2],  # B: as unaided but case 9 takes the wrong suggestion
        [0, 1, 2, 3, 0, 1, 1, 0, 3, 2],  # C: takes every suggestion
    ],
)


def hand_counted_readings():
    return assisted_readings(
        HAND_COUNTED["unaided"], HAND_COUNTED["aided"], SUGGESTION, TRUTH, 4,
        readers=["A", "B", "C"], cohorts=["expert", "expert", "scholar"],
    )


def test_accuracy_by_suggestion_counts_the_readings_of_each_kind_by_hand():
    strata = {(row.cohort, row.suggestion_correct): row for row in suggestion_strata(hand_counted_readings())}

    right, wrong = strata[("expert", True)], strata[("expert", False)]
    # Suggestion right, cases 0-5: A right unaided on 0, 3, 5 and B on all six; aided A on 0, 1, 3, 4, 5, B all six.
    assert (right.n_cases, right.n_readings) == (6, 12)
    assert (right.unaided_accuracy, right.aided_accuracy) == (pytest.approx(9 / 12), pytest.approx(11 / 12))
    # Suggestion wrong, cases 6-9: unaided A on 6, 7, 8 and B on 6, 7, 9; aided A on 7, 8 and B on 6, 7.
    assert (wrong.n_cases, wrong.n_readings) == (4, 8)
    assert (wrong.unaided_accuracy, wrong.aided_accuracy) == (6 / 8, 4 / 8)
    # C's case 0 has no unaided answer, so the scholar's right-suggestion stratum holds cases 1-5.
    scholar = strata[("scholar", True)]
    assert (scholar.n_cases, scholar.unaided_accuracy, scholar.aided_accuracy) == (5, 1.0, 1.0)
    assert strata[("scholar", False)].aided_accuracy == 0.0
    assert strata[(None, False)].n_readings == 12


def test_readings_without_a_suggestion_are_left_out_of_the_strata():
    suggestion = np.array([SUGGESTION] * 3)
    suggestion[:, 6:] = -1  # no suggestion shown on the cases where it would have been wrong
    readings = assisted_readings(
        HAND_COUNTED["unaided"], HAND_COUNTED["aided"], suggestion, TRUTH, 4,
        readers=["A", "B", "C"], cohorts=["expert", "expert", "scholar"],
    )

    strata = {(row.cohort, row.suggestion_correct): row for row in suggestion_strata(readings)}

    empty = strata[("expert", False)]
    assert (empty.n_cases, empty.n_readings, empty.unaided_accuracy, empty.aided_accuracy) == (0, 0, None, None)


def test_the_assistance_modules_import_without_django():
    code = (
        "import sys\n"
        "import analysis.assistance, analysis.assistance_readers, analysis.assistance_switches\n"
        "import analysis.assistance_time\n"
        "assert 'django' not in sys.modules, 'django was imported'\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY)

    assert completed.returncode == 0, completed.stderr
