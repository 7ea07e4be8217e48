import numpy as np
import pytest
from scipy.stats import binomtest, chi2, wilcoxon

from models_zoo.classification_figures import MetricInputError
from analysis.significance import (
    PairedTable,
    mcnemar_each,
    mcnemar_from_counts,
    paired_table,
    wilcoxon_best_against_others,
    wilcoxon_signed_rank,
)

TRUTH = np.array([0, 1, 2, 0, 1, 2, 0])
MODEL = np.array([0, 1, 2, 0, 0, 0, 1])
READER = np.array([0, 2, 2, -1, 1, 0, 1])


def test_the_paired_table_counts_the_paired_outcomes_of_two_readers():
    table = paired_table(MODEL == TRUTH, READER == TRUTH)

    # An unanswered sample (the fourth) is wrong for the reader unless left out.
    assert (table.both_correct, table.model_only, table.reader_only, table.both_wrong) == (2, 2, 1, 2)
    result = mcnemar_from_counts(*table.cells())
    assert result.model_accuracy == pytest.approx(4 / 7)
    assert result.reader_accuracy == pytest.approx(3 / 7)


def test_the_paired_table_counts_only_the_samples_asked_for():
    table = paired_table(MODEL == TRUTH, READER == TRUTH, where=READER != -1)

    assert table.cells().tolist() == [2, 1, 1, 2]


def test_mcnemar_each_tests_every_readers_table_as_if_it_were_alone():
    readers = np.stack([READER, MODEL, TRUTH, READER])
    tables = paired_table(MODEL == TRUTH, readers == TRUTH)

    results = mcnemar_each(tables, exact=True)

    assert tables.cells().shape == (4, 4)
    assert len(results) == 4
    for reader, result in zip(readers, results):
        alone = mcnemar_from_counts(*paired_table(MODEL == TRUTH, reader == TRUTH).cells(), exact=True)
        assert result == alone


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
    with pytest.raises(MetricInputError, match="reader_only"):
        mcnemar_from_counts(1, 2, -3, 4)
    with pytest.raises(MetricInputError, match=r"model_correct, reader_correct: .* got \(3,\) and \(2,\)"):
        paired_table(np.array([True, False, True]), np.array([True, False]))


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


def test_mcnemar_of_many_tables_at_once_gives_statsmodels_figures_for_each():
    from statsmodels.stats.contingency_tables import mcnemar

    cells = np.random.default_rng(4).integers(0, 40, size=(60, 4))
    cells[:5, 1:3] = 0  # no discordant samples
    tables = PairedTable(*cells.T)

    for exact, correction in ((False, True), (False, False), (True, True)):
        for row, result in zip(cells, mcnemar_each(tables, exact=exact, correction=correction)):
            if row[1] + row[2] == 0:
                assert (result.statistic, result.pvalue) == (0.0, 1.0)
                continue
            expected = mcnemar([[row[0], row[1]], [row[2], row[3]]], exact=exact, correction=correction)
            assert result.statistic == pytest.approx(expected.statistic)
            assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9)
