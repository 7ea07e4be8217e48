import numpy as np
import pytest
from scipy.stats import binomtest, chi2, wilcoxon

from models_zoo.metrics import MetricInputError
from analysis.significance import (
    mcnemar_from_counts,
    mcnemar_test,
    wilcoxon_best_against_others,
    wilcoxon_signed_rank,
)


def test_mcnemar_counts_the_paired_outcomes_of_two_readers():
    truth = np.array([0, 1, 2, 0, 1, 2, 0])
    model = np.array([0, 1, 2, 0, 0, 0, 1])
    reader = np.array([0, 2, 2, -1, 1, 0, 1])

    result = mcnemar_test(model, reader, truth, 3)

    # An unanswered sample (the fourth) is wrong for the reader.
    assert (result.both_correct, result.only_model, result.only_reader, result.neither) == (2, 2, 1, 2)
    assert result.model_accuracy == pytest.approx(4 / 7)
    assert result.reader_accuracy == pytest.approx(3 / 7)


def test_the_uncorrected_chi_square_is_the_textbook_statistic():
    result = mcnemar_from_counts(30, 25, 12, 8, correction=False)

    assert result.statistic == pytest.approx((25 - 12) ** 2 / (25 + 12))
    assert result.pvalue == pytest.approx(chi2.sf((25 - 12) ** 2 / 37, df=1))
    assert result.method == "chi-square"


def test_the_exact_mcnemar_test_is_the_two_sided_binomial_test_of_the_discordant_samples():
    result = mcnemar_from_counts(30, 25, 12, 8, exact=True)

    assert result.pvalue == pytest.approx(binomtest(12, 37, 0.5).pvalue)
    assert result.method == "exact binomial"


def test_without_discordant_samples_mcnemar_finds_no_difference():
    for exact in (False, True):
        result = mcnemar_from_counts(40, 0, 0, 10, exact=exact)
        assert (result.statistic, result.pvalue) == (0.0, 1.0)


def test_mcnemar_refuses_negative_counts_and_mismatched_readers():
    with pytest.raises(MetricInputError, match="only_reader"):
        mcnemar_from_counts(1, 2, -3, 4)
    with pytest.raises(MetricInputError, match="reader_answers: has 2 samples"):
        mcnemar_test(np.array([0, 1, 1]), np.array([0, 1]), np.array([0, 1, 1]), 2)


def test_the_wilcoxon_test_is_one_sided_greater_by_default():
    better = np.array([0.9, 0.8, 0.85, 0.7, 0.95, 0.6, 0.75, 0.88])
    worse = better - np.array([0.05, 0.02, -0.01, 0.07, 0.03, 0.04, 0.06, 0.01])

    greater = wilcoxon_signed_rank(better, worse)
    reversed_order = wilcoxon_signed_rank(worse, better)

    assert greater.pvalue < 0.05 < reversed_order.pvalue
    expected = wilcoxon(better, worse, alternative="greater", method="approx", correction=False)
    assert greater.pvalue == pytest.approx(expected.pvalue)
    assert greater.n_pairs == 8


def test_the_exact_wilcoxon_test_is_available_on_request():
    better = np.array([0.9, 0.8, 0.85, 0.7, 0.95, 0.6])
    worse = np.array([0.8, 0.81, 0.7, 0.6, 0.9, 0.5])

    result = wilcoxon_signed_rank(better, worse, exact=True)

    assert result.pvalue == pytest.approx(wilcoxon(better, worse, alternative="greater", method="exact").pvalue)
    assert result.method == "exact"


def test_identical_models_are_not_different():
    f1 = np.array([0.5, 0.6, 0.7])

    result = wilcoxon_signed_rank(f1, f1)

    assert (result.statistic, result.pvalue) == (0.0, 1.0)


def test_the_best_model_defaults_to_the_highest_mean_f1():
    per_class = {"a": [0.5, 0.6, 0.4, 0.5, 0.7], "b": [0.8, 0.9, 0.7, 0.85, 0.9], "c": [0.6, 0.5, 0.6, 0.4, 0.6]}

    results = wilcoxon_best_against_others(per_class)

    assert list(results) == ["a", "c"]
    assert list(wilcoxon_best_against_others(per_class, best="a")) == ["b", "c"]


def test_wilcoxon_inputs_are_checked_with_the_model_named():
    with pytest.raises(MetricInputError, match=r"per_class_f1\['b'\]\[1\] = nan"):
        wilcoxon_best_against_others({"a": [0.5, 0.6], "b": [0.4, float("nan")]})
    with pytest.raises(MetricInputError, match=r"per_class_f1\['b'\]: has 1 classes"):
        wilcoxon_best_against_others({"a": [0.5, 0.6], "b": [0.4]})
    with pytest.raises(MetricInputError, match="best: 'z'"):
        wilcoxon_best_against_others({"a": [0.5, 0.6], "b": [0.4, 0.3]}, best="z")
