import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.ensembles import MajorityVote
from analysis.intervals import bootstrap_intervals, cohort_mean_bootstrap_intervals, ensemble_bootstrap_intervals
from analysis.reader_metrics import readers_metrics
from models_zoo.classification_figures import MetricInputError


def reader(seed, n_samples, skill, n_classes=5):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_samples)
    answers = np.where(rng.random(n_samples) < skill, truth, (truth + 1) % n_classes)
    return answers, truth


def one_reader_metrics(answers, truth, n_classes, **options):
    """The figures of one reader's answers ``(n_samples,)``."""
    return readers_metrics(answers, truth, n_classes, **options).reader(0)


def test_the_bootstrap_interval_is_the_percentile_interval_of_the_resampled_figures():
    answers, truth = reader(seed=1, n_samples=60, skill=0.7)
    indices = np.random.default_rng(9).integers(0, 60, size=(300, 60))
    accuracies = [one_reader_metrics(answers[i], truth[i], 5).accuracy for i in indices]
    f1s = [one_reader_metrics(answers[i], truth[i], 5).f1 for i in indices]

    result = bootstrap_intervals(answers, truth, 5, n_resamples=300, seed=9)

    assert (result.accuracy.low, result.accuracy.high) == pytest.approx(tuple(np.percentile(accuracies, [2.5, 97.5])))
    assert (result.f1.low, result.f1.high) == pytest.approx(tuple(np.percentile(f1s, [2.5, 97.5])))
    assert result.f1.estimate == pytest.approx(one_reader_metrics(answers, truth, 5).f1)


def test_the_bootstrap_interval_holds_the_estimate_and_agrees_with_wilson_on_accuracy():
    answers, truth = reader(seed=2, n_samples=400, skill=0.75)

    result = bootstrap_intervals(answers, truth, 5)
    wilson_low, wilson_high = proportion_confint(int(np.sum(answers == truth)), truth.size, method="wilson")

    for interval in (result.accuracy, result.f1):
        assert interval.low < interval.estimate < interval.high
    assert result.accuracy.low == pytest.approx(wilson_low, abs=0.015)
    assert result.accuracy.high == pytest.approx(wilson_high, abs=0.015)
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


def cohort(seed, n_readers, n_samples, n_classes=5, missing=0.0):
    """Readers of skills 40% to 80%, their wrong answers any class, a share ``missing`` left unanswered."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_samples)
    skills = np.linspace(0.4, 0.8, n_readers)[:, np.newaxis]
    other = rng.integers(0, n_classes, (n_readers, n_samples))
    answers = np.where(rng.random((n_readers, n_samples)) < skills, truth, other)
    answers[rng.random(answers.shape) < missing] = -1
    return answers, truth


@pytest.mark.parametrize("unanswered", ["wrong", "exclude"])
def test_a_cohort_means_interval_is_the_percentile_interval_of_its_readers_mean_over_resampled_samples(unanswered):
    answers, truth = cohort(seed=5, n_readers=6, n_samples=50, missing=0.1)
    indices = np.random.default_rng(9).integers(0, 50, size=(300, 50))
    resampled = [readers_metrics(answers[:, i], truth[i], 5, unanswered=unanswered) for i in indices]

    result = cohort_mean_bootstrap_intervals(answers, truth, 5, n_resamples=300, seed=9, unanswered=unanswered)

    accuracies = [np.nanmean(m.accuracy) for m in resampled]
    f1s = [np.mean(m.f1) for m in resampled]
    assert (result.accuracy.low, result.accuracy.high) == pytest.approx(tuple(np.percentile(accuracies, [2.5, 97.5])))
    assert (result.f1.low, result.f1.high) == pytest.approx(tuple(np.percentile(f1s, [2.5, 97.5])))
    mean = readers_metrics(answers, truth, 5, unanswered=unanswered).mean()
    assert (result.accuracy.estimate, result.f1.estimate) == pytest.approx((mean.accuracy, mean.f1))


def test_the_mean_of_a_cohort_of_one_has_the_interval_of_that_reader():
    answers, truth = reader(seed=6, n_samples=70, skill=0.6)

    alone = cohort_mean_bootstrap_intervals(answers[np.newaxis], truth, 5, n_resamples=400, seed=2)
    single = bootstrap_intervals(answers, truth, 5, n_resamples=400, seed=2)

    assert (alone.accuracy.low, alone.accuracy.high) == pytest.approx((single.accuracy.low, single.accuracy.high))
    assert (alone.f1.low, alone.f1.high) == pytest.approx((single.f1.low, single.f1.high))


def test_an_ensembles_interval_draws_its_ties_inside_each_resample():
    answers, truth = cohort(seed=7, n_readers=2, n_samples=60)
    rng = np.random.default_rng(11)
    indices = rng.integers(0, 60, size=(300, 60))
    vote = MajorityVote.of(answers, 5)
    draws = vote.draw(rng, 300)
    assert vote.tied.sum() > 10, "two readers tie wherever they disagree"
    resampled = [readers_metrics(d[i], truth[i], 5).reader(0) for d, i in zip(draws, indices)]

    result = ensemble_bootstrap_intervals(answers, truth, 5, n_resamples=300, seed=11)

    assert (result.accuracy.low, result.accuracy.high) == pytest.approx(
        tuple(np.percentile([m.accuracy for m in resampled], [2.5, 97.5]))
    )
    assert (result.f1.low, result.f1.high) == pytest.approx(
        tuple(np.percentile([m.f1 for m in resampled], [2.5, 97.5]))
    )
    assert result.accuracy.estimate == pytest.approx(np.mean(readers_metrics(draws, truth, 5).accuracy))
    assert ensemble_bootstrap_intervals(answers, truth, 5, n_resamples=300, seed=11) == result


def test_an_ensemble_of_one_reader_has_that_readers_interval():
    answers, truth = reader(seed=8, n_samples=70, skill=0.6)

    ensemble = ensemble_bootstrap_intervals(answers[np.newaxis], truth, 5, n_resamples=400, seed=4)

    single = bootstrap_intervals(answers, truth, 5, n_resamples=400, seed=4)
    for mine, theirs in ((ensemble.accuracy, single.accuracy), (ensemble.f1, single.f1)):
        assert (mine.low, mine.high) == (theirs.low, theirs.high)
        assert mine.estimate == pytest.approx(theirs.estimate)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_intervals(np.array([0, 1]), np.array([0, 1]), 2, level=95), "level"),
        (lambda: bootstrap_intervals(np.array([0, 1]), np.array([0, 1]), 2, n_resamples=0), "n_resamples"),
        (lambda: bootstrap_intervals(np.array([[0, 1], [1, 0]]), np.array([0, 1]), 2), "one reader"),
        (
            lambda: cohort_mean_bootstrap_intervals(np.array([[0, 1]]), np.array([0, 1]), 2, unanswered="x"),
            "unanswered",
        ),
        (lambda: ensemble_bootstrap_intervals(np.array([[0, 1]]), np.array([0, 1, 1]), 2), "truth"),
    ],
)
def test_bad_interval_input_gets_an_error_naming_the_argument(call, message):
    with pytest.raises(MetricInputError, match=message):
        call()
