import math

import numpy as np
import pytest
from statsmodels.stats import inter_rater

from analysis.agreement import cohens_kappa, cohens_kappa_matrix, cohens_kappa_rows, fleiss_kappa, per_class_accuracy
from models_zoo.classification_figures import MetricInputError

# Fleiss (1971)'s example: 30 patients, each diagnosed by 6 of the psychiatrists into 5 categories
# (1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other); published kappa .430.
FLEISS_1971_DIAGNOSES = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ]
)

# The worked example of the Wikipedia article "Fleiss' kappa": 10 subjects, 14 raters, 5 categories,
# given as the number of raters per category; published kappa 0.210.
WIKIPEDIA_FLEISS_COUNTS = np.array(
    [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
)


def answers_from_category_counts(counts):
    """Readers x samples answers with the given number of readers per (sample, category)."""
    return np.column_stack([np.repeat(np.arange(counts.shape[1]), row) for row in counts])


def test_cohens_kappa_of_the_textbook_two_by_two_example_is_0_4():
    # 50 grant proposals read by two readers: both yes 20, both no 15, yes/no 5, no/yes 10
    # (the worked example of the Wikipedia article "Cohen's kappa"): p_o = 0.7, p_e = 0.5.
    first = np.repeat([0, 0, 1, 1], [20, 5, 10, 15])
    second = np.repeat([0, 1, 0, 1], [20, 5, 10, 15])

    result = cohens_kappa(first, second, 2)

    assert result.kappa == pytest.approx(0.4)
    assert (result.n_samples, result.n_excluded, result.method) == (50, 0, "Cohen's kappa")


def test_cohens_kappa_leaves_out_samples_either_reader_did_not_answer():
    first = np.array([0, 1, 2, -1, 1, 2, 0])
    second = np.array([0, 1, 2, 1, -1, 2, 1])

    result = cohens_kappa(first, second, 3)

    assert (result.n_samples, result.n_excluded) == (5, 2)
    assert result.kappa == pytest.approx(cohens_kappa(first[[0, 1, 2, 5, 6]], second[[0, 1, 2, 5, 6]], 3).kappa)


def test_perfect_agreement_has_kappa_one_and_a_single_shared_class_has_none():
    answers = np.array([0, 1, 2, 2, 1])

    assert cohens_kappa(answers, answers, 3).kappa == pytest.approx(1.0)
    assert np.isnan(cohens_kappa(np.zeros(4, dtype=int), np.zeros(4, dtype=int), 3).kappa)


def test_fleiss_kappa_of_fleiss_1971_psychiatric_diagnoses_is_0_430():
    result = fleiss_kappa(FLEISS_1971_DIAGNOSES.T - 1, 5)

    assert round(result.kappa, 3) == 0.430
    assert (result.n_readers, result.n_samples, result.n_excluded) == (6, 30, 0)


def test_fleiss_kappa_of_the_wikipedia_example_is_0_210():
    result = fleiss_kappa(answers_from_category_counts(WIKIPEDIA_FLEISS_COUNTS), 5)

    assert round(result.kappa, 3) == 0.210
    assert result.n_readers == 14


def test_fleiss_kappa_leaves_out_samples_with_a_missing_answer_and_reports_them():
    answers = FLEISS_1971_DIAGNOSES.T - 1
    with_gaps = answers.copy()
    with_gaps[2, 4] = -1
    with_gaps[0, 11] = -1

    result = fleiss_kappa(with_gaps, 5)

    assert (result.n_samples, result.n_excluded) == (28, 2)
    kept = np.setdiff1d(np.arange(30), [4, 11])
    assert result.kappa == pytest.approx(fleiss_kappa(answers[:, kept], 5).kappa)


def test_kappa_inputs_are_checked():
    with pytest.raises(MetricInputError, match="at least two readers"):
        fleiss_kappa(np.array([[0, 1]]), 2)
    with pytest.raises(MetricInputError, match="no sample was answered by every reader"):
        fleiss_kappa(np.array([[0, -1], [-1, 1]]), 2)
    with pytest.raises(MetricInputError, match=r"second\[1\] = 7"):
        cohens_kappa(np.array([0, 1]), np.array([0, 7]), 2)


def test_per_class_accuracy_of_readers_and_of_the_cohort():
    truth = np.array([0, 0, 1, 1, 1, 2])
    answers = np.array([[0, 1, 1, 1, -1, 0], [0, 0, 1, 0, 0, 0]])

    result = per_class_accuracy(answers, truth, 4)

    np.testing.assert_allclose(result.per_reader[:, :3], [[1 / 2, 2 / 3, 0.0], [1.0, 1 / 3, 0.0]])
    np.testing.assert_allclose(result.cohort[:3], [3 / 4, 3 / 6, 0.0])
    np.testing.assert_allclose(result.cohort[:3], result.per_reader[:, :3].mean(axis=0))
    assert np.isnan(result.per_reader[:, 3]).all() and np.isnan(result.cohort[3])
    np.testing.assert_array_equal(result.support, [2, 3, 1, 0])


def test_the_kappa_matrix_is_cohens_kappa_of_every_pair_on_the_samples_both_answered():
    rng = np.random.default_rng(5)
    first = rng.integers(-1, 4, (6, 40))
    second = rng.integers(-1, 4, (3, 40))
    second[0] = np.where(second[0] < 0, -1, 2)  # a reader who always answers the same class

    result = cohens_kappa_matrix(first, second, 4)

    for i in range(6):
        for j in range(3):
            expected = cohens_kappa(first[i], second[j], 4)
            assert result.n_samples[i, j] == expected.n_samples
            assert result.kappa[i, j] == pytest.approx(expected.kappa, nan_ok=True), (i, j)
    same = np.array([[1, 1, 1, -1]])
    assert np.isnan(cohens_kappa_matrix(same, same, 3).kappa[0, 0]), "a single shared class has no kappa"
    assert cohens_kappa_matrix(first, first, 4).kappa.diagonal() == pytest.approx(1.0)


def test_per_class_accuracy_can_leave_out_unanswered_samples():
    truth = np.array([0, 0, 1, 1, 1, 2])
    answers = np.array([[0, 1, 1, 1, -1, 0], [0, 0, 1, 0, 0, 0]])

    result = per_class_accuracy(answers, truth, 4, unanswered="exclude")

    np.testing.assert_allclose(result.per_reader[:, :3], [[1 / 2, 1.0, 0.0], [1.0, 1 / 3, 0.0]])
    np.testing.assert_allclose(result.cohort[:3], [3 / 4, 3 / 5, 0.0])
    np.testing.assert_array_equal(result.support, [2, 3, 1, 0])


def test_cohens_kappa_row_by_row_is_statsmodels_kappa_of_each_rows_table_of_the_columns_both_answered():
    rng = np.random.default_rng(4)
    first = rng.integers(-1, 4, (30, 9))
    second = np.where(rng.random((30, 9)) < 0.6, first, rng.integers(-1, 4, (30, 9)))
    first[0] = -1
    second[1] = first[1] = 2  # everyone the same class: chance agreement is total

    rows = cohens_kappa_rows(first, second, 4)

    assert rows.n_samples[0] == 0 and math.isnan(rows.kappa[0]) and math.isnan(rows.kappa[1])
    for r in range(2, 30):
        both = (first[r] >= 0) & (second[r] >= 0)
        table = np.zeros((4, 4))
        np.add.at(table, (first[r][both], second[r][both]), 1)
        assert rows.n_samples[r] == both.sum()
        assert rows.kappa[r] == pytest.approx(inter_rater.cohens_kappa(table, return_results=False)), r
