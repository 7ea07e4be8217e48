import math

import numpy as np
import pytest
from scipy.stats import spearmanr, ttest_1samp

from analysis.agreement import cohens_kappa
from analysis.biases import anchoring, reading_time, retest_agreement
from models_zoo.classification_figures import MetricInputError

TRUTH = np.array([0, 1, 2, 0, 1, 2, 0, 1])


def test_anchoring_splits_each_readers_accuracy_by_whether_they_had_looked_the_class_up():
    answers = np.array([
        [0, 1, 2, 1, 1, 0, 0, 2],  # looked-up cases all right, the others half
        [0, 2, 2, 0, 0, 2, 1, 1],
    ])
    looked = np.array([
        [True, True, True, False, False, False, False, False],
        [False, False, True, True, True, True, False, False],
    ])
    result = anchoring(answers, TRUTH, looked, 3)

    first, second = result.readers
    assert (first.n_looked_up, first.accuracy_looked_up) == (3, 1.0)
    assert first.accuracy_not_looked_up == pytest.approx(2 / 5)
    assert second.accuracy_looked_up == pytest.approx(3 / 4) and second.accuracy_not_looked_up == pytest.approx(2 / 4)
    differences = [first.difference, second.difference]
    expected = ttest_1samp(differences, 0.0)
    assert result.effect.mean_difference == pytest.approx(np.mean(differences))
    assert result.effect.pvalue == pytest.approx(expected.pvalue)
    interval = expected.confidence_interval(0.95)
    assert (result.effect.ci_low, result.effect.ci_high) == pytest.approx((interval.low, interval.high))


def test_a_reader_with_cases_of_one_kind_only_has_no_difference_and_is_left_out_of_the_effect():
    answers = np.array([[0, 1, 2, 0, 1, 2, 0, 1], [0, 1, 2, 0, 1, 2, 0, 1], [0, 0, 2, 0, 1, 2, 0, 1]])
    looked = np.array([[True] * 8, [True] * 4 + [False] * 4, [False, True] * 4])
    result = anchoring(answers, TRUTH, looked, 3)
    assert math.isnan(result.readers[0].difference)
    assert result.effect.n_readers == 2


def test_unanswered_cases_count_on_neither_side():
    answers = np.array([[0, -1, 2, -1, 1, 2, 0, 1]])
    result = anchoring(answers, TRUTH, np.array([[True, True, True, True, False, False, False, False]]), 3)
    assert (result.readers[0].n_looked_up, result.readers[0].n_not_looked_up) == (2, 4)


def test_retest_agreement_is_cohens_kappa_of_the_two_readings_per_reader():
    first = np.array([[0, 1, 2, 0, 1], [0, 1, 2, 2, 2]])
    second = np.array([[0, 1, 2, 0, 2], [0, 1, 2, 2, 2]])
    truth = np.array([0, 1, 2, 0, 1])
    rows = retest_agreement(first, second, truth, 3)
    assert rows[0].kappa == pytest.approx(cohens_kappa(first[0], second[0], 3).kappa)
    assert rows[1].kappa == pytest.approx(1.0)
    assert (rows[0].accuracy_first, rows[0].accuracy_second) == (1.0, 0.8)
    assert rows[0].n_repeats == 5


def test_a_reader_who_read_no_case_twice_has_no_kappa():
    rows = retest_agreement(np.array([[0, -1]]), np.array([[-1, 1]]), np.array([0, 1]), 2)
    assert rows[0].n_repeats == 0 and math.isnan(rows[0].kappa)


def test_reading_time_gives_the_accuracy_of_each_quartile_of_time_and_spearmans_rho():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 200)
    seconds = rng.uniform(1, 60, (3, 200))
    # The slower the answer, the likelier it is wrong.
    wrong = rng.random((3, 200)) < seconds / 60
    answers = np.where(wrong, (truth + 1) % 4, truth)
    result = reading_time(answers, truth, seconds, 4)

    assert [q.quartile for q in result.quartiles] == [1, 2, 3, 4] and sum(q.n_cases for q in result.quartiles) == 600
    assert result.quartiles[0].accuracy > result.quartiles[-1].accuracy
    assert result.quartiles[0].median_seconds < result.quartiles[-1].median_seconds
    expected = spearmanr(seconds.ravel(), (answers == truth).ravel())
    assert result.spearman_rho == pytest.approx(expected.statistic) and result.pvalue == pytest.approx(expected.pvalue)


def test_mismatched_shapes_are_refused_naming_the_argument():
    with pytest.raises(MetricInputError, match="looked_up"):
        anchoring(np.zeros((2, 3), int), np.zeros(3, int), np.zeros((2, 4), bool), 2)
    with pytest.raises(MetricInputError, match="seconds"):
        reading_time(np.zeros((2, 3), int), np.zeros(3, int), np.zeros((3, 2)), 2)
    with pytest.raises(MetricInputError, match="second"):
        retest_agreement(np.zeros((2, 3), int), np.zeros((2, 2), int), np.zeros(3, int), 2)


def test_cases_tied_in_time_across_a_quartiles_edge_are_shared_in_proportion_whatever_their_order():
    truth = np.zeros(8, dtype=int)
    # Eight answers, six of them at 10 s: the first quartile's edge cuts through the tie.
    seconds = np.array([[1.0, 10, 10, 10, 10, 10, 10, 50]])
    answers = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])
    result = reading_time(answers, truth, seconds, 2)

    # Quartiles of 2 cases: [1 s, one of the six at 10 s], ... The tie holds 3 right of 6.
    assert [q.n_cases for q in result.quartiles] == [2, 2, 2, 2]
    assert [q.accuracy for q in result.quartiles] == pytest.approx([0.75, 0.5, 0.5, 0.25])
    reordered = reading_time(answers[:, ::-1], truth, seconds[:, ::-1], 2)
    assert [q.accuracy for q in reordered.quartiles] == [q.accuracy for q in result.quartiles]
    expected = spearmanr(seconds.ravel(), (answers == truth).ravel())
    assert result.spearman_rho == pytest.approx(expected.statistic)
    assert result.pvalue == pytest.approx(expected.pvalue)


def test_reading_time_refuses_negative_seconds_and_leaves_out_nan_ones():
    with pytest.raises(MetricInputError, match="seconds"):
        reading_time(np.zeros((1, 3), int), np.zeros(3, int), np.array([[1.0, -2.0, 3.0]]), 2)
    result = reading_time(np.zeros((1, 3), int), np.zeros(3, int), np.array([[1.0, np.nan, 3.0]]), 2)
    assert result.n_cases == 2
