"""The paper's published figures, recomputed from the paper's own tables (ICLR 2019, GapNet-PL)."""

import numpy as np
import pytest

from analysis.reader_metrics import readers_metrics
from analysis.significance import mcnemar_from_counts, paired_table, wilcoxon_best_against_others
from models_zoo.classification_figures import spread_over_classes

# Table 7: F1 per class (rows in the order of the 13 classes) for each method.
TABLE_7 = {
    "GapNet-PL": [0.682, 0.659, 0.776, 0.672, 0.754, 0.800, 0.767, 0.866, 0.922, 0.873, 0.949, 0.766, 0.683],
    "M-CNN": [0.651, 0.522, 0.805, 0.629, 0.689, 0.625, 0.901, 0.818, 0.907, 0.816, 0.945, 0.756, 0.685],
    "DenseNet-121": [0.719, 0.598, 0.789, 0.645, 0.750, 0.490, 0.853, 0.843, 0.756, 0.826, 0.943, 0.656, 0.682],
    "DeepLoc": [0.125, 0.039, 0.784, 0.538, 0.428, 0.000, 0.696, 0.758, 0.675, 0.613, 0.925, 0.597, 0.551],
    "FCN-Seg": [0.341, 0.299, 0.701, 0.301, 0.497, 0.222, 0.438, 0.652, 0.553, 0.544, 0.897, 0.525, 0.547],
    "Convolutional MIL": [0.000, 0.000, 0.735, 0.338, 0.331, 0.000, 0.712, 0.608, 0.692, 0.802, 0.945, 0.538, 0.435],
}

# Table 1: F1 "mean ± std" over the 13 classes, and the Wilcoxon p-value against GapNet-PL.
TABLE_1_F1 = {
    "GapNet-PL": (0.78, 0.09),
    "M-CNN": (0.75, 0.12),
    "DenseNet-121": (0.73, 0.12),
    "DeepLoc": (0.52, 0.28),
    "FCN-Seg": (0.50, 0.18),
    "Convolutional MIL": (0.47, 0.31),
}
TABLE_1_PVALUES = {
    "M-CNN": 0.0232,
    "DenseNet-121": 0.0434,
    "DeepLoc": 0.0009,
    "FCN-Seg": 0.0007,
    "Convolutional MIL": 0.0007,
}

# Table 3: both correct, only GapNet-PL correct, only the expert correct, both wrong; p-value.
TABLE_3 = {
    "Expert 1": ((133, 48, 10, 9), 1.1e-06),
    "Expert 2": ((124, 57, 8, 11), 2.6e-09),
    "Expert 3": ((121, 60, 7, 12), 2.1e-10),
}
# Table 2: accuracy on the 200 study samples.
TABLE_2_ACCURACY = {"GapNet-PL": 0.91, "Expert 1": 0.72, "Expert 2": 0.66, "Expert 3": 0.64}


def printed_as(pvalue, published):
    """Whether ``pvalue`` shows as ``published`` with two significant digits, cut rather than rounded.

    The paper cuts: its 1.1e-06 for Expert 1 is 1.18e-06.
    """
    exponent = np.floor(np.log10(published))
    return published <= pvalue < published + 10.0 ** (exponent - 1)


def answers_realising(both_correct, model_only, reader_only, both_wrong, n_classes=13):
    """Model answers, reader answers and truth whose paired outcomes have the given counts."""
    sizes = [both_correct, model_only, reader_only, both_wrong]
    truth = np.arange(sum(sizes)) % n_classes
    wrong = (truth + 1) % n_classes
    model_correct = np.repeat([True, True, False, False], sizes)
    reader_correct = np.repeat([True, False, True, False], sizes)
    return np.where(model_correct, truth, wrong), np.where(reader_correct, truth, wrong), truth


@pytest.mark.parametrize("expert", TABLE_3)
def test_it_reproduces_the_papers_table_3_pvalues(expert):
    counts, published = TABLE_3[expert]

    result = mcnemar_from_counts(*counts)

    assert printed_as(result.pvalue, published)
    assert result.method == "chi-square with continuity correction"


@pytest.mark.parametrize("expert", TABLE_3)
def test_neither_the_uncorrected_nor_the_exact_mcnemar_test_gives_table_3(expert):
    counts, published = TABLE_3[expert]

    assert not printed_as(mcnemar_from_counts(*counts, correction=False).pvalue, published)
    assert not printed_as(mcnemar_from_counts(*counts, exact=True).pvalue, published)


@pytest.mark.parametrize("expert", TABLE_3)
def test_mcnemar_on_answers_realising_table_3_gives_its_table_and_pvalue(expert):
    counts, published = TABLE_3[expert]
    model, reader, truth = answers_realising(*counts)

    result = mcnemar_from_counts(*paired_table(model == truth, reader == truth).cells())

    assert (result.both_correct, result.model_only, result.reader_only, result.both_wrong) == counts
    assert printed_as(result.pvalue, published)


@pytest.mark.parametrize("expert", TABLE_3)
def test_table_2_accuracies_follow_from_the_table_3_counts(expert):
    counts, _ = TABLE_3[expert]
    model, reader, truth = answers_realising(*counts)

    model_accuracy, reader_accuracy = readers_metrics(np.stack([model, reader]), truth, 13).accuracy

    # Every expert's table holds the same 181 samples that the model got right.
    assert model_accuracy == 181 / 200
    # Published with two decimals: equal within half a unit of the last one.
    assert abs(model_accuracy - TABLE_2_ACCURACY["GapNet-PL"]) <= 0.005 + 1e-12
    assert abs(reader_accuracy - TABLE_2_ACCURACY[expert]) <= 0.005 + 1e-12


def test_it_reproduces_table_1_pvalues_from_table_7():
    results = wilcoxon_best_against_others(TABLE_7)

    assert set(results) == set(TABLE_1_PVALUES)
    for method, published in TABLE_1_PVALUES.items():
        assert round(results[method].pvalue, 4) == published, method
        assert results[method].alternative == "greater"


def test_the_exact_wilcoxon_test_would_not_give_the_papers_pvalues():
    results = wilcoxon_best_against_others(TABLE_7, exact=True)

    assert round(results["DeepLoc"].pvalue, 4) != TABLE_1_PVALUES["DeepLoc"]


@pytest.mark.parametrize("method", TABLE_1_F1)
def test_it_reproduces_table_1_mean_and_std_of_f1_with_the_population_std(method):
    spread = spread_over_classes(TABLE_7[method])

    assert (round(spread.mean, 2), round(spread.std, 2)) == TABLE_1_F1[method]

