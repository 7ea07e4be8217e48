from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from analysis import ensembles
from analysis.ensembles import majority_vote_ensemble, vote_counts
from analysis.reader_metrics import readers_metrics
from models_zoo.classification_figures import MetricInputError


def readers_without_ties(seed, n_samples, n_classes):
    """Five readers whose votes always have a strict winner: three agree, two differ."""
    rng = np.random.default_rng(seed)
    winner = rng.integers(0, n_classes, n_samples)
    others = (winner + rng.integers(1, n_classes, (2, n_samples))) % n_classes
    answers = np.vstack([winner, winner, winner, others])
    return rng.permuted(answers, axis=0), winner


def test_votes_are_counted_per_sample_and_class_ignoring_no_answers():
    answers = np.array([[0, 2, -1], [0, 1, -1], [1, 1, 2]])

    np.testing.assert_array_equal(vote_counts(answers, 3), [[2, 1, 0], [0, 2, 1], [0, 0, 1]])


def test_an_ensemble_without_ties_equals_the_plain_majority():
    answers, _ = readers_without_ties(seed=1, n_samples=80, n_classes=5)
    truth = np.random.default_rng(2).integers(0, 5, 80)
    majority = np.array([Counter(answers[:, j]).most_common(1)[0][0] for j in range(80)])

    result = majority_vote_ensemble(answers, truth, 5, n_repetitions=20, keep_predictions=True)

    assert result.n_tied == 0
    assert (result.predictions == majority).all()
    plain = readers_metrics(majority, truth, 5).reader(0)
    assert result.mean.accuracy == pytest.approx(plain.accuracy)
    assert result.mean.f1 == pytest.approx(plain.f1)
    assert result.std.f1 == 0.0


def test_tied_classes_are_drawn_uniformly_and_untied_ones_never():
    # Sample 0: classes 1, 2 and 4 tie with two votes each; class 0 has one vote.
    # Sample 1: classes 0 and 3 tie with one vote each.
    answers = np.array([[1, 0], [1, 3], [2, -1], [2, -1], [4, -1], [4, -1], [0, -1]])
    truth = np.array([1, 0])

    result = majority_vote_ensemble(answers, truth, 5, n_repetitions=6000, seed=11, keep_predictions=True)

    three_way = np.bincount(result.predictions[:, 0], minlength=5)
    two_way = np.bincount(result.predictions[:, 1], minlength=5)
    assert three_way[[0, 3]].sum() == 0 and two_way[[1, 2, 4]].sum() == 0
    assert chisquare(three_way[[1, 2, 4]]).pvalue > 0.001
    assert chisquare(two_way[[0, 3]]).pvalue > 0.001
    assert result.mean.accuracy == pytest.approx((1 / 3 + 1 / 2) / 2, abs=0.02)


def test_the_same_seed_gives_the_same_numbers_and_another_seed_other_draws():
    rng = np.random.default_rng(3)
    answers = rng.integers(0, 4, (4, 60))
    truth = rng.integers(0, 4, 60)

    first = majority_vote_ensemble(answers, truth, 4, n_repetitions=50, seed=7, keep_predictions=True)
    again = majority_vote_ensemble(answers, truth, 4, n_repetitions=50, seed=7, keep_predictions=True)
    other = majority_vote_ensemble(answers, truth, 4, n_repetitions=50, seed=8, keep_predictions=True)

    assert first.n_tied > 0
    assert first.to_dict() == again.to_dict()
    np.testing.assert_array_equal(first.predictions, again.predictions)
    assert (first.predictions != other.predictions).any()


def test_the_draws_do_not_depend_on_how_repetitions_are_chunked(monkeypatch):
    rng = np.random.default_rng(4)
    answers = rng.integers(0, 3, (2, 30))
    truth = rng.integers(0, 3, 30)
    whole = majority_vote_ensemble(answers, truth, 3, n_repetitions=25, seed=5, keep_predictions=True)

    monkeypatch.setattr(ensembles, "CHUNK_ELEMENTS", 70)
    chunked = majority_vote_ensemble(answers, truth, 3, n_repetitions=25, seed=5, keep_predictions=True)

    np.testing.assert_array_equal(whole.predictions, chunked.predictions)


def test_a_sample_nobody_answered_stays_unanswered_and_counts_as_wrong():
    answers = np.array([[0, -1, 1], [0, -1, -1]])
    truth = np.array([0, 1, 1])

    result = majority_vote_ensemble(answers, truth, 2, n_repetitions=5, keep_predictions=True)

    assert (result.predictions == [0, -1, 1]).all()
    assert result.mean.accuracy == pytest.approx(2 / 3)


def test_mean_and_std_summarise_the_figures_of_each_repetition():
    rng = np.random.default_rng(6)
    answers = rng.integers(0, 3, (2, 40))
    truth = rng.integers(0, 3, 40)

    result = majority_vote_ensemble(answers, truth, 3, n_repetitions=30, keep_predictions=True)

    for r in (0, 17):
        expected = readers_metrics(result.predictions[r], truth, 3).reader(0)
        assert result.repetitions.reader(r).f1 == pytest.approx(expected.f1)
    assert result.mean.precision == pytest.approx(result.repetitions.precision.mean())
    assert result.std.recall == pytest.approx(result.repetitions.recall.std())
    assert result.predictions is not None
    assert majority_vote_ensemble(answers, truth, 3, n_repetitions=3).predictions is None


@pytest.mark.parametrize(
    ("options", "message"),
    [({"n_repetitions": 0}, "n_repetitions"), ({"seed": None}, "seed"), ({"seed": -1}, "seed")],
)
def test_a_bad_option_gets_an_error_naming_it(options, message):
    with pytest.raises(MetricInputError, match=message):
        majority_vote_ensemble(np.array([[0, 1]]), np.array([0, 1]), 2, **options)
