import json

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from analysis import reader_metrics
from analysis.reader_metrics import confusion_matrix, readers_metrics
from models_zoo.classification_figures import MetricInputError, auc_per_class, model_performance, multilabel_metrics

TRUTH = np.array([0, 0, 1, 1, 2, 2])
ANSWERS = np.array([0, 1, 1, 1, -1, 0])


def one_reader_metrics(answers, truth, n_classes, **options):
    """The figures of one reader's answers ``(n_samples,)``."""
    return readers_metrics(answers, truth, n_classes, **options).reader(0)


def random_readers(seed, n_readers, n_samples, n_classes):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_samples)
    guesses = rng.integers(-1, n_classes, (n_readers, n_samples))
    answers = np.where(rng.random((n_readers, n_samples)) < 0.6, truth, guesses)
    return answers, truth


def one_vs_rest_by_definition(answers, truth, n_classes):
    """Per-class precision, recall and F1 straight from their definitions (zero_division=0)."""
    precision, recall, f1 = [], [], []
    for c in range(n_classes):
        tp = np.sum((answers == c) & (truth == c))
        fp = np.sum((answers == c) & (truth != c))
        fn = np.sum((answers != c) & (truth == c))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return np.array(precision), np.array(recall), np.array(f1)


def test_a_hand_worked_example_gives_the_per_class_and_macro_figures():
    result = one_reader_metrics(ANSWERS, TRUTH, 3)

    assert result.accuracy == pytest.approx(3 / 6)
    np.testing.assert_allclose(result.per_class_precision, [1 / 2, 2 / 3, 0.0])
    np.testing.assert_allclose(result.per_class_recall, [1 / 2, 1.0, 0.0])
    np.testing.assert_allclose(result.per_class_f1, [1 / 2, 0.8, 0.0])
    assert result.f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert result.precision == pytest.approx((0.5 + 2 / 3) / 3)
    assert result.recall == pytest.approx(1.5 / 3)
    assert (result.n_samples, result.n_answered) == (6, 5)


def test_macro_figures_average_over_all_classes_even_those_absent_from_the_samples():
    # Class 3 is neither in the truth nor answered: 0/0 counts as 0 by default (scikit-learn's
    # zero_division=0), and is left out of the mean with zero_division=nan.
    by_default = one_reader_metrics(ANSWERS, TRUTH, 4)
    skipping = one_reader_metrics(ANSWERS, TRUTH, 4, zero_division=np.nan)

    assert by_default.per_class_f1[3] == 0.0
    assert by_default.f1 == pytest.approx((0.5 + 0.8) / 4)
    assert np.isnan(skipping.per_class_f1[3])
    assert skipping.f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_unanswered_samples_count_as_wrong_unless_excluded():
    wrong = one_reader_metrics(ANSWERS, TRUTH, 3)
    excluded = one_reader_metrics(ANSWERS, TRUTH, 3, unanswered="exclude")

    assert wrong.accuracy == pytest.approx(3 / 6)
    assert excluded.accuracy == pytest.approx(3 / 5)
    assert list(wrong.support) == [2, 2, 2]
    assert list(excluded.support) == [2, 2, 1]


def test_vectorised_reader_metrics_equal_the_definitions_for_every_reader():
    answers, truth = random_readers(seed=3, n_readers=7, n_samples=150, n_classes=5)

    result = readers_metrics(answers, truth, 5)

    assert len(result) == 7
    for i in range(7):
        precision, recall, f1 = one_vs_rest_by_definition(answers[i], truth, 5)
        np.testing.assert_allclose(result.per_class_precision[i], precision)
        np.testing.assert_allclose(result.per_class_recall[i], recall)
        np.testing.assert_allclose(result.per_class_f1[i], f1)
        assert result.accuracy[i] == pytest.approx(np.mean(answers[i] == truth))
        assert result.reader(i).f1 == pytest.approx(f1.mean())


def test_counting_in_chunks_of_readers_gives_the_same_figures(monkeypatch):
    answers, truth = random_readers(seed=4, n_readers=9, n_samples=40, n_classes=6)
    whole = readers_metrics(answers, truth, 6)

    monkeypatch.setattr(reader_metrics, "CHUNK_ELEMENTS", 90)
    chunked = readers_metrics(answers, truth, 6)

    np.testing.assert_array_equal(whole.per_class_f1, chunked.per_class_f1)
    np.testing.assert_array_equal(whole.accuracy, chunked.accuracy)


def test_a_compact_integer_dtype_is_accepted():
    answers, truth = random_readers(seed=5, n_readers=3, n_samples=30, n_classes=4)

    compact = readers_metrics(answers.astype(np.int8), truth.astype(np.int16), 4)

    np.testing.assert_array_equal(compact.f1, readers_metrics(answers, truth, 4).f1)


def test_a_perfect_reader_scores_one_on_every_figure():
    result = one_reader_metrics(TRUTH, TRUTH, 3)

    assert (result.accuracy, result.f1, result.precision, result.recall) == (1.0, 1.0, 1.0, 1.0)


def test_the_mean_of_readers_averages_each_figure_over_readers():
    answers, truth = random_readers(seed=6, n_readers=4, n_samples=60, n_classes=3)
    result = readers_metrics(answers, truth, 3)

    mean = result.mean()

    assert mean.accuracy == pytest.approx(result.accuracy.mean())
    assert mean.f1 == pytest.approx(np.mean([result.reader(i).f1 for i in range(4)]))


def test_confusion_matrix_rows_are_the_truth_and_normalise_by_the_class_size():
    matrix = confusion_matrix(ANSWERS, TRUTH, 3)

    np.testing.assert_array_equal(matrix.counts, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_array_equal(matrix.unanswered, [0, 0, 1])
    np.testing.assert_allclose(matrix.row_normalized, [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.0]])


def test_a_class_without_samples_has_an_undefined_normalised_row():
    matrix = confusion_matrix(np.array([0, 1]), np.array([0, 0]), 3)

    assert np.isnan(matrix.row_normalized[1]).all()
    np.testing.assert_allclose(matrix.row_normalized[0], [0.5, 0.5, 0.0])


def test_many_readers_get_one_confusion_matrix_each():
    answers, truth = random_readers(seed=7, n_readers=3, n_samples=50, n_classes=4)

    matrices = confusion_matrix(answers, truth, 4)

    assert matrices.counts.shape == (3, 4, 4)
    for i in range(3):
        np.testing.assert_array_equal(matrices.counts[i], confusion_matrix(answers[i], truth, 4).counts)
        assert matrices.counts[i].sum() + matrices.unanswered[i].sum() == 50


def test_multilabel_metrics_score_each_class_one_versus_rest():
    truth = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=bool)
    predicted = np.array([[1, 0, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1]], dtype=bool)

    result = multilabel_metrics(predicted, truth, 3)

    np.testing.assert_allclose(result.per_class_precision, [2 / 3, 1.0, 1.0])
    np.testing.assert_allclose(result.per_class_recall, [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(result.per_class_f1, [0.8, 2 / 3, 0.8])
    assert result.f1 == pytest.approx(np.mean([0.8, 2 / 3, 0.8]))
    assert result.f1_std == pytest.approx(np.std([0.8, 2 / 3, 0.8]))


def test_auc_is_the_normalised_mann_whitney_statistic():
    rng = np.random.default_rng(8)
    truth = rng.integers(0, 4, 120)
    probabilities = rng.random((120, 4)) + 0.3 * (truth[:, None] == np.arange(4))
    probabilities[:10, 0] = 0.5  # ties count one half

    auc = auc_per_class(probabilities, truth, 4)

    for c in range(4):
        positives, negatives = probabilities[truth == c, c], probabilities[truth != c, c]
        u = mannwhitneyu(positives, negatives).statistic
        assert auc[c] == pytest.approx(u / (positives.size * negatives.size))


def test_auc_of_a_small_textbook_example():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    truth = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=bool)

    np.testing.assert_allclose(auc_per_class(probabilities, truth, 2), [0.75, 0.75])


def test_a_class_with_one_kind_of_label_has_no_auc_and_the_mean_skips_it():
    truth = np.array([0, 1, 0, 1, 0])
    probabilities = np.array([[0.9, 0.1, 0.2], [0.2, 0.8, 0.1], [0.6, 0.3, 0.5], [0.4, 0.7, 0.3], [0.8, 0.3, 0.6]])

    result = model_performance(probabilities, truth, 3)

    assert np.isnan(result.per_class_auc[2])
    assert result.auc == pytest.approx(np.mean(result.per_class_auc[:2]))


def test_model_performance_counts_a_probability_at_the_threshold_as_positive():
    truth = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    probabilities = np.array([[0.5, 0.2], [0.1, 0.7], [0.9, 0.49]])

    result = model_performance(probabilities, truth, 2)

    np.testing.assert_allclose(result.metrics.per_class_recall, [1.0, 0.5])
    assert result.threshold == 0.5


@pytest.mark.parametrize(
    ("answers", "truth", "message"),
    [
        (np.array([0, 1, 5]), np.array([0, 1, 2]), r"answers\[2\] = 5 is neither a class index 0..2"),
        (np.array([0, 1, -2]), np.array([0, 1, 2]), r"answers\[2\] = -2"),
        (np.array([0.0, 1.0, 2.0]), np.array([0, 1, 2]), "answers: expected integer class indices"),
        (np.array([0, 1, 2]), np.array([0, 1, -1]), r"truth\[2\] = -1 is not a class index"),
        (np.array([0, 1, 2]), np.array([0, 1]), "truth: has 2 samples, the answers have 3"),
        (np.array([], dtype=int), np.array([], dtype=int), "answers: no samples"),
    ],
)
def test_bad_input_gets_an_error_naming_the_argument_and_the_position(answers, truth, message):
    with pytest.raises(MetricInputError, match=message):
        one_reader_metrics(answers, truth, 3)


def test_a_bad_option_gets_an_error_naming_it():
    with pytest.raises(MetricInputError, match="unanswered"):
        one_reader_metrics(ANSWERS, TRUTH, 3, unanswered="skip")
    with pytest.raises(MetricInputError, match="n_classes"):
        one_reader_metrics(ANSWERS, TRUTH, 1)
    with pytest.raises(MetricInputError, match="predicted: expected shape"):
        multilabel_metrics(np.zeros((4, 2), dtype=bool), np.zeros((4, 3), dtype=bool), 3)


def test_results_turn_into_strict_json_with_undefined_values_as_null():
    result = one_reader_metrics(ANSWERS, TRUTH, 4, zero_division=np.nan)

    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))

    assert document["per_class_f1"][3] is None
    assert document["accuracy"] == 0.5
