import numpy as np
import pytest

from analysis.intervals import accuracy_wilson_interval, bootstrap_intervals, wilson_interval
from analysis.metrics import classification_metrics
from models_zoo.metrics import MetricInputError


def reader(seed, n_samples, skill, n_classes=5):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_samples)
    answers = np.where(rng.random(n_samples) < skill, truth, (truth + 1) % n_classes)
    return answers, truth


@pytest.mark.parametrize(
    ("n_correct", "n_total", "low", "high"),
    # Newcombe (1998)'s worked examples, method 3 (Wilson score interval without continuity correction).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_the_wilson_interval_gives_newcombes_published_values(n_correct, n_total, low, high):
    interval = wilson_interval(n_correct, n_total)

    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)
    assert interval.estimate == pytest.approx(n_correct / n_total)


def test_the_wilson_interval_of_a_readers_accuracy_counts_unanswered_as_wrong():
    truth = np.array([0, 1, 2, 0, 1])
    answers = np.array([0, 1, -1, 0, 2])

    interval = accuracy_wilson_interval(answers, truth, 3)

    assert interval.estimate == pytest.approx(3 / 5)
    assert (interval.low, interval.high) == (wilson_interval(3, 5).low, wilson_interval(3, 5).high)


def test_the_bootstrap_interval_is_the_percentile_interval_of_the_resampled_figures():
    answers, truth = reader(seed=1, n_samples=60, skill=0.7)
    indices = np.random.default_rng(9).integers(0, 60, size=(300, 60))
    accuracies = [classification_metrics(answers[i], truth[i], 5).accuracy for i in indices]
    f1s = [classification_metrics(answers[i], truth[i], 5).f1 for i in indices]

    result = bootstrap_intervals(answers, truth, 5, n_resamples=300, seed=9)

    assert (result.accuracy.low, result.accuracy.high) == pytest.approx(tuple(np.percentile(accuracies, [2.5, 97.5])))
    assert (result.f1.low, result.f1.high) == pytest.approx(tuple(np.percentile(f1s, [2.5, 97.5])))
    assert result.f1.estimate == pytest.approx(classification_metrics(answers, truth, 5).f1)


def test_the_bootstrap_interval_holds_the_estimate_and_agrees_with_wilson_on_accuracy():
    answers, truth = reader(seed=2, n_samples=400, skill=0.75)

    result = bootstrap_intervals(answers, truth, 5)
    wilson = accuracy_wilson_interval(answers, truth, 5)

    for interval in (result.accuracy, result.f1):
        assert interval.low < interval.estimate < interval.high
    assert result.accuracy.low == pytest.approx(wilson.low, abs=0.015)
    assert result.accuracy.high == pytest.approx(wilson.high, abs=0.015)
    assert (result.n_resamples, result.accuracy.level) == (2000, 0.95)


def test_more_samples_give_a_narrower_bootstrap_interval():
    small = bootstrap_intervals(*reader(seed=3, n_samples=50, skill=0.7), 5, n_resamples=500)
    large = bootstrap_intervals(*reader(seed=3, n_samples=800, skill=0.7), 5, n_resamples=500)

    assert large.f1.high - large.f1.low < small.f1.high - small.f1.low


def test_the_same_seed_gives_the_same_bootstrap_interval():
    answers, truth = reader(seed=4, n_samples=80, skill=0.6)

    first = bootstrap_intervals(answers, truth, 5, n_resamples=200, seed=3)
    again = bootstrap_intervals(answers, truth, 5, n_resamples=200, seed=3)

    assert first == again


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: wilson_interval(5, 3), "n_correct, n_total"),
        (lambda: wilson_interval(1, 3, level=95), "level"),
        (lambda: bootstrap_intervals(np.array([0, 1]), np.array([0, 1]), 2, n_resamples=0), "n_resamples"),
        (lambda: bootstrap_intervals(np.array([[0, 1], [1, 0]]), np.array([0, 1]), 2), "one reader"),
    ],
)
def test_bad_interval_input_gets_an_error_naming_the_argument(call, message):
    with pytest.raises(MetricInputError, match=message):
        call()
