"""Each reader aided against unaided (analysis.assistance_readers): MRMCaov's reader-specific intervals of the
Van Dyke data, hand-counted helped and harmed, McNemar's exact test, the verdict and its caveat."""


import numpy as np
import pytest
from scipy.stats import sem

from analysis.assistance import assisted_readings
from analysis.assistance_readers import exact_mcnemar_p, reader_changes, reader_differences
from analysis.mrmc import JackknifeFOM, auc_jackknife
from analysis.mrmc_files import read_imrmc
from analysis.significance import mcnemar_from_counts
from models_zoo.classification_figures import MetricInputError
from tests.analysis.test_assistance import hand_counted_readings
from tests.fixture_files import VAN_DYKE


# MRMCaov (Smith & Hillis), docs/jss/MRMCaov.tex at d79e49b, "Reader-specific 95% CIs and tests for
# empirical_auc pairwise differences" of the fixed-readers analysis of the Van Dyke data: treatment 1 − 2
# (modality 0 − 1), its standard error and p-value, readers 1 to 5.
MRMCAOV_READER_DIFFERENCES = [
    (-0.02818035, 0.02551213, 0.26933885),
    (-0.04653784, 0.02630183, 0.07683102),
    (-0.01787440, 0.03120965, 0.56683414),
    (-0.02624799, 0.01729129, 0.12901715),
    (-0.10016103, 0.04405746, 0.02300099),
]


def test_it_reproduces_mrmcaovs_reader_specific_auc_differences_of_the_van_dyke_data():
    data = read_imrmc(VAN_DYKE, fom="auc")

    result = reader_differences(auc_jackknife(data.values, data.truth))

    difference, std_error, p_value = np.array(MRMCAOV_READER_DIFFERENCES).T
    np.testing.assert_allclose(result.difference, difference, atol=5e-9)
    np.testing.assert_allclose(result.std_error, std_error, atol=5e-9)
    np.testing.assert_allclose(result.p_value, p_value, atol=5e-9)
    np.testing.assert_allclose(result.ci_high - result.ci_low, 2 * 1.959963985 * std_error, atol=1e-8)
    assert (result.n_cases == 114).all()


def test_a_case_outside_a_readers_sample_is_left_out_of_its_jackknife():
    data = read_imrmc(VAN_DYKE, fom="auc")
    foms = auc_jackknife(data.values, data.truth)
    jackknife = foms.jackknife.copy()
    jackknife[:, 2, :] = np.nan  # reader 3 "read" none of the cases: undefined, the others unchanged
    jackknife[:, 4, 10:] = np.nan

    result = reader_differences(JackknifeFOM(foms.fom, jackknife))

    assert np.isnan(result.std_error[2]) and result.n_cases[2] == 0
    kept = foms.jackknife[:, 4, :10]
    d = kept[0] - kept[1]
    assert result.std_error[4] == pytest.approx(np.sqrt(9 / 10 * np.sum((d - d.mean()) ** 2)))
    published = np.array(MRMCAOV_READER_DIFFERENCES)[[0, 1, 3], 1]
    np.testing.assert_allclose(result.std_error[[0, 1, 3]], published, atol=5e-9)


def test_modalities_covering_different_cases_are_refused():
    jackknife = np.zeros((2, 2, 4))
    jackknife[0, 0, 1] = np.nan
    with pytest.raises(MetricInputError, match="same cases"):
        reader_differences(JackknifeFOM(np.zeros((2, 2)), jackknife))


def test_each_readers_change_is_counted_by_hand():
    rows = {row.reader: row for row in reader_changes(hand_counted_readings()).rows}

    a = rows["A"]
    # A unaided right on 0, 3, 5, 6, 7, 8 (6 of 10); aided right on 0, 1, 3, 4, 5, 7, 8 (7 of 10).
    assert (a.cohort, a.n_cases, a.unaided_accuracy, a.aided_accuracy) == ("expert", 10, 0.6, 0.7)
    # Helped on 1 and 4 (wrong, then right), harmed on 6 (right, then the wrong suggestion).
    assert (a.helped, a.harmed, a.change) == (2, 1, pytest.approx(0.1))
    # Exact McNemar of 2 against 1: 2 · P(Binomial(3, 1/2) ≤ 1) = 1.
    assert a.p_value == 1.0
    # Per-case differences 1, 1, −1 and seven 0: sd(d) / √10.
    d = np.array([0, 1, 0, 0, 1, 0, -1, 0, 0, 0])
    assert a.std_error == pytest.approx(d.std(ddof=1) / np.sqrt(10))
    half_width = 1.959964 * a.std_error
    assert (a.ci_low, a.ci_high) == (pytest.approx(0.1 - half_width), pytest.approx(0.1 + half_width))
    assert a.verdict == "no detectable change"
    # C: case 0 unanswered unaided, so 9 cases; right on all unaided, wrong on the four wrong suggestions aided.
    c = rows["C"]
    assert (c.n_cases, c.unaided_accuracy, c.aided_accuracy, c.helped, c.harmed) == (9, 1.0, pytest.approx(5 / 9), 0, 4)


def test_the_interval_is_the_standard_error_of_the_paired_differences_with_normal_quantiles():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, 60)
    unaided = np.where(rng.random((3, 60)) < 0.6, truth, (truth + 1) % 4)
    aided = np.where(rng.random((3, 60)) < 0.75, truth, (truth + 2) % 4)
    readings = assisted_readings(unaided, aided, truth, truth, 4, readers=["a", "b", "c"], cohorts=["x"] * 3)

    rows = reader_changes(readings, level=0.9).rows

    for j, row in enumerate(rows):
        differences = (aided[j] == truth).astype(int) - (unaided[j] == truth)
        assert row.std_error == pytest.approx(sem(differences))
        assert row.ci_high - row.change == pytest.approx(1.644854 * row.std_error, rel=1e-6)


def test_the_exact_mcnemar_p_values_are_statsmodels():
    helped, harmed = np.array([0, 3, 10, 7, 25]), np.array([0, 1, 2, 7, 9])

    expected = [mcnemar_from_counts(5, int(c), int(b), 5, exact=True).pvalue for b, c in zip(helped, harmed)]

    np.testing.assert_allclose(exact_mcnemar_p(helped, harmed), expected)


def test_a_reader_helped_on_most_cases_is_marked_helped_and_one_misled_harmed():
    truth = np.zeros(40, dtype=int)
    unaided = np.array([[1] * 30 + [0] * 10, [0] * 40, [0] * 20 + [1] * 20])
    aided = np.array([[0] * 40, [1] * 25 + [0] * 15, [0] * 20 + [1] * 20])
    readings = assisted_readings(unaided, aided, truth, truth, 2, readers=["a", "b", "c"], cohorts=["x"] * 3)

    result = reader_changes(readings)

    assert [row.verdict for row in result.rows] == ["helped", "harmed", "no detectable change"]
    # c changed no answer: a zero-width interval at 0, no change.
    assert (result.rows[2].ci_low, result.rows[2].ci_high, result.rows[2].p_value) == (0.0, 0.0, 1.0)


def test_a_reader_with_fewer_than_two_cases_read_both_ways_gets_no_interval_nor_verdict():
    truth = np.zeros(3, dtype=int)
    unaided = np.array([[0, -1, -1], [-1, -1, -1], [0, 1, 0]])
    aided = np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    readings = assisted_readings(unaided, aided, truth, truth, 2, readers=["a", "b", "c"], cohorts=["x"] * 3)

    one, none, three = reader_changes(readings).rows

    assert (one.n_cases, one.change, one.ci_low, one.verdict) == (1, -1.0, None, None)
    assert (none.n_cases, none.unaided_accuracy, none.change, none.verdict) == (0, None, None, None)
    assert (three.helped, three.verdict) == (1, "no detectable change")


def test_the_caveat_says_how_many_verdicts_chance_alone_gives():
    changes = reader_changes(hand_counted_readings())

    assert "among 3 readers whose accuracy did not change at all, about 0.15 would be marked" in changes.caveat
    assert changes.to_dict()["caveat"] == changes.caveat
    assert changes.to_dict()["rows"][0]["verdict"] == "no detectable change"


def test_per_reader_intervals_cover_the_true_change_at_their_level():
    # 400 readers, each a true change of 0.1 (0.6 unaided, 0.7 aided, independent per case): the 95%
    # normal intervals on 150 cases should cover 0.1 for about 95% of them (three standard errors: 3.3 points).
    rng = np.random.default_rng(11)
    truth = np.zeros(150, dtype=int)
    unaided = (rng.random((400, 150)) >= 0.6).astype(int)
    aided = (rng.random((400, 150)) >= 0.7).astype(int)
    readings = assisted_readings(unaided, aided, truth, truth, 2, readers=range(400), cohorts=["x"] * 400)

    rows = reader_changes(readings).rows

    covered = np.mean([row.ci_low <= 0.1 <= row.ci_high for row in rows])
    assert covered == pytest.approx(0.95, abs=0.033)
