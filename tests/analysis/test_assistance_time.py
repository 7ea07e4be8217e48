"""Reading time unaided against aided, and a crossover's period, sequence and carry-over effects
(analysis.assistance_time)."""

import numpy as np
import pytest
from scipy.stats import ttest_1samp, ttest_ind, wilcoxon

from analysis.assistance import assisted_readings
from analysis.assistance_time import assisted_reading_time, crossover_effects
from models_zoo.classification_figures import MetricInputError

NAN = np.nan


def four_readers(unaided=None, aided=None, suggestion=None, n_cases=4):
    truth = np.zeros(n_cases, dtype=int)
    answers = np.zeros((4, n_cases), dtype=int)
    return assisted_readings(
        answers if unaided is None else unaided,
        answers if aided is None else aided,
        truth if suggestion is None else suggestion,
        truth, 3, readers=["e1", "e2", "s1", "s2"], cohorts=["expert", "expert", "scholar", "scholar"],
    )


UNAIDED_SECONDS = np.array([
    [10, 20, 30, NAN],  # e1: median 20
    [40, 50, 60, 70],  # e2: median 55
    [5, 5, 7, 9],  # s1: median 6
    [12, 14, 16, 18],  # s2: median 15
])
AIDED_SECONDS = np.array([
    [15, 25, 35, 45],  # e1: median 30, 10 more
    [30, 30, 40, NAN],  # e2: median 30, 25 fewer
    [8, 8, 8, 8],  # s1: median 8, 2 more
    [20, 22, 24, 26],  # s2: median 23, 8 more
])


def test_the_medians_pool_the_cohorts_timed_readings_and_the_test_pairs_each_readers_medians():
    arms = {row.cohort: row for row in assisted_reading_time(four_readers(), UNAIDED_SECONDS, AIDED_SECONDS).arms}

    expert = arms["expert"]
    assert (expert.n_readers, expert.n_first, expert.n_second) == (2, 7, 7)
    assert (expert.median_first, expert.median_second) == (40.0, 30.0)
    assert expert.median_difference == pytest.approx((10 - 25) / 2)
    everyone = arms[None]
    reference = wilcoxon([10, -25, 2, 8])
    assert (everyone.statistic, everyone.p_value) == (reference.statistic, reference.pvalue)
    assert everyone.median_difference == 5.0
    assert "Wilcoxon signed-rank test" in everyone.test and "median seconds" in everyone.test


def test_unanswered_readings_do_not_count_however_timed():
    unaided = np.zeros((4, 4), dtype=int)
    unaided[1, :] = -1  # e2 answered nothing unaided
    result = assisted_reading_time(four_readers(unaided=unaided), UNAIDED_SECONDS, AIDED_SECONDS)

    expert = result.arms[0]

    assert (expert.n_readers, expert.n_first, expert.median_first) == (1, 3, 20.0)
    assert (expert.median_difference, expert.p_value) == (10.0, pytest.approx(1.0))


def test_readers_whose_medians_do_not_differ_give_no_p_value():
    same = assisted_reading_time(four_readers(), UNAIDED_SECONDS, UNAIDED_SECONDS).arms[0]

    assert (same.n_readers, same.median_difference, same.statistic, same.p_value) == (2, 0.0, None, None)


def test_seconds_after_the_suggestion_are_split_by_whether_the_unaided_answer_agreed():
    suggestion = np.array([0, 0, 1, 1])  # the unaided answers (all 0) agree with it on cases 0 and 1
    after = np.array([[2, 4, 10, 12], [3, 3, 9, NAN], [1, 1, 5, 7], [2, 2, 2, 2]])

    result = assisted_reading_time(four_readers(suggestion=suggestion), UNAIDED_SECONDS, AIDED_SECONDS,
                                   seconds_after_suggestion=after).after_suggestion

    expert, scholar, everyone = result
    assert (expert.n_first, expert.n_second, expert.median_first, expert.median_second) == (4, 3, 3.0, 10.0)
    # Per reader: e1 3 → 11, e2 3 → 9, s1 1 → 6, s2 2 → 2 (no difference, left out of the test).
    assert scholar.median_difference == pytest.approx(2.5)
    reference = wilcoxon([8, 6, 5, 0])
    assert (everyone.n_readers, everyone.p_value) == (4, reference.pvalue)


def test_without_seconds_after_the_suggestion_that_part_is_empty():
    assert assisted_reading_time(four_readers(), UNAIDED_SECONDS, AIDED_SECONDS).after_suggestion == ()


@pytest.mark.parametrize(
    "seconds, message",
    [
        (np.zeros((4, 3)), r"unaided_seconds: expected shape \(4, 4\)"),
        (-UNAIDED_SECONDS, r"unaided_seconds\[0, 0\] = -10"),
    ],
)
def test_bad_seconds_are_refused(seconds, message):
    with pytest.raises(MetricInputError, match=message):
        assisted_reading_time(four_readers(), seconds, AIDED_SECONDS)


# A crossover of 4 readers and 20 cases in blocks of 5: blocks X (cases 0-4, 10-14) and Y (5-9, 15-19).
# Sequence group A reads X aided in session 1 and Y unaided, then the opposite in session 2; group B the
# reverse. Each reader's correct answers per arm and session (of 10 readings each):
#
#   reader  group  unaided s1  unaided s2  aided s1  aided s2   period         carry-over         overall
#   r0      A      5           6           8         8          (1 + 0)/20     (3 − 2)/10         27/40
#   r1      A      4           6           7         9          (2 + 2)/20     (3 − 3)/10         26/40
#   r2      B      6           6           9         8          (0 − 1)/20     (3 − 2)/10         29/40
#   r3      B      5           7           8         10         (2 + 2)/20     (3 − 3)/10         30/40
CORRECT = {
    "r0": {("unaided", 1): 5, ("unaided", 2): 6, ("aided", 1): 8, ("aided", 2): 8},
    "r1": {("unaided", 1): 4, ("unaided", 2): 6, ("aided", 1): 7, ("aided", 2): 9},
    "r2": {("unaided", 1): 6, ("unaided", 2): 6, ("aided", 1): 9, ("aided", 2): 8},
    "r3": {("unaided", 1): 5, ("unaided", 2): 7, ("aided", 1): 8, ("aided", 2): 10},
}
GROUPS = ["A", "A", "B", "B"]
PERIOD = [0.05, 0.2, -0.05, 0.2]
CARRYOVER = [0.1, 0.0, 0.1, 0.0]


def crossover_study(cohorts=("x", "x", "x", "x")):
    block_x = (np.arange(20) // 5) % 2 == 0
    truth = np.zeros(20, dtype=int)
    answers = {"unaided": np.ones((4, 20), dtype=int), "aided": np.ones((4, 20), dtype=int)}
    sessions = {"unaided": np.zeros((4, 20), dtype=int), "aided": np.zeros((4, 20), dtype=int)}
    for j, (reader, group) in enumerate(zip(CORRECT, GROUPS)):
        aided_first = block_x if group == "A" else ~block_x
        sessions["aided"][j] = np.where(aided_first, 1, 2)
        sessions["unaided"][j] = np.where(aided_first, 2, 1)
        for (arm, session), n_correct in CORRECT[reader].items():
            cases = np.flatnonzero(sessions[arm][j] == session)
            answers[arm][j, cases[:n_correct]] = 0
    readings = assisted_readings(
        answers["unaided"], answers["aided"], truth, truth, 2, readers=list(CORRECT), cohorts=list(cohorts)
    )
    return readings, sessions["unaided"], sessions["aided"]


def test_the_crossover_effects_are_the_constructed_ones():
    readings, unaided_session, aided_session = crossover_study()

    result = crossover_effects(readings, unaided_session, aided_session, GROUPS)[-1]

    assert (result.cohort, result.n_readers, result.sequence_groups) == (None, 4, ("A", "B"))
    assert result.accuracy == {
        "unaided_session_1": pytest.approx(0.5), "unaided_session_2": pytest.approx(0.625),
        "aided_session_1": pytest.approx(0.8), "aided_session_2": pytest.approx(0.875),
    }
    assert result.period.estimate == pytest.approx(np.mean(PERIOD))
    assert result.carryover.estimate == pytest.approx(np.mean(CARRYOVER))
    assert result.sequence.estimate == pytest.approx((29 + 30) / 80 - (27 + 26) / 80)


def test_period_and_carryover_are_one_sample_t_tests_over_readers():
    readings, unaided_session, aided_session = crossover_study()

    result = crossover_effects(readings, unaided_session, aided_session, GROUPS, level=0.9)[-1]

    for effect, values in ((result.period, PERIOD), (result.carryover, CARRYOVER)):
        reference = ttest_1samp(values, 0.0)
        interval = reference.confidence_interval(0.9)
        assert (effect.statistic, effect.p_value, effect.df) == (
            pytest.approx(reference.statistic), pytest.approx(reference.pvalue), 3
        )
        assert (effect.ci_low, effect.ci_high) == (pytest.approx(interval.low), pytest.approx(interval.high))


def test_the_sequence_effect_is_welchs_t_between_the_groups():
    readings, unaided_session, aided_session = crossover_study()

    sequence = crossover_effects(readings, unaided_session, aided_session, GROUPS)[-1].sequence

    reference = ttest_ind([29 / 40, 30 / 40], [27 / 40, 26 / 40], equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert (sequence.statistic, sequence.df, sequence.p_value) == (
        pytest.approx(reference.statistic), pytest.approx(reference.df), pytest.approx(reference.pvalue)
    )
    assert (sequence.ci_low, sequence.ci_high) == (pytest.approx(interval.low), pytest.approx(interval.high))


def test_a_cohort_with_one_reader_of_a_group_has_no_sequence_test():
    readings, unaided_session, aided_session = crossover_study(cohorts=("e", "s", "e", "s"))

    expert = crossover_effects(readings, unaided_session, aided_session, GROUPS)[0]

    assert expert.cohort == "e" and expert.n_readers == 2
    assert expert.sequence.estimate == pytest.approx(29 / 40 - 27 / 40)
    assert np.isnan(expert.sequence.p_value) and np.isnan(expert.sequence.ci_low)
    assert expert.period.p_value == pytest.approx(ttest_1samp([0.05, -0.05], 0.0).pvalue)


def test_an_answered_reading_outside_sessions_1_and_2_and_a_third_group_are_refused():
    readings, unaided_session, aided_session = crossover_study()
    unaided_session[2, 7] = 3
    with pytest.raises(MetricInputError, match=r"unaided_session\[2, 7\] = 3"):
        crossover_effects(readings, unaided_session, aided_session, GROUPS)
    with pytest.raises(MetricInputError, match="two sequence groups, got 3"):
        crossover_effects(readings, aided_session, aided_session, ["A", "B", "C", "A"])
