"""Switch and reliance measures (analysis.assistance_switches; Schemmer et al. 2023): every measure counted by
hand on a constructed study, and RAIR and RSR recovering a simulated reader's follow probability."""

import numpy as np
import pytest

from analysis.assistance import assisted_readings
from analysis.assistance_switches import switches
from tests.analysis.test_assistance import HAND_COUNTED, SUGGESTION, TRUTH, hand_counted_readings

# The constructed study of test_assistance.py, case by case (t truth, a suggestion, u unaided, f aided):
#
#   case        0  1  2  3  4  5  6  7  8  9
#   t           0  1  2  3  0  1  2  3  0  1
#   a           0  1  2  3  0  1  1  0  3  2     suggestion right on 0-5, wrong on 6-9
#   A  u        0  2  3  3  1  1  2  3  0  3
#      f        0  1  3  3  0  1  1  3  0  2
#   B  u        0  1  2  3  0  1  2  3  3  1
#      f        0  1  2  3  0  1  2  3  3  2
#   C  u        -  1  2  3  0  1  2  3  0  1     case 0 unanswered: C's readings are cases 1-9
#      f        0  1  2  3  0  1  1  0  3  2
#
# A: u wrong and a right (the RAIR condition) on 1, 2, 4; f right on 1 and 4           -> RAIR 2/3
#    u right and a wrong (the RSR condition) on 6, 7, 8; f right on 7 and 8            -> RSR 2/3
#    of those, f = a on 6                                                             -> harmful 1/3
#    f = a ≠ t with u ≠ a: 6 (f 1, u 2) and 9 (f 2, u 3)                               -> wrong adopted 2
#    u = a on 0, 3, 5                                                                 -> agree before 3/10
#    f = a on 0, 1, 3, 4, 5, 6, 9                                                     -> agree after 7/10
# B: u wrong only on 8, where a is wrong too: the RAIR condition never holds          -> RAIR None
#    RSR condition on 6, 7, 9; f right on 6 and 7, f = a on 9                         -> RSR 2/3, harmful 1/3
#    f = a ≠ t on 8 and 9, but on 8 u = a already                                     -> wrong adopted 1
#    u = a on 0-5 and 8                                                               -> agree before 7/10
#    f = a on 0-5, 8, 9                                                               -> agree after 8/10
# C: right on every answered case unaided: no RAIR condition                          -> RAIR None
#    RSR condition on 6, 7, 8, 9; C takes every suggestion                            -> RSR 0/4, harmful 4/4
#    f = a ≠ t with u ≠ a on 6, 7, 8, 9                                               -> wrong adopted 4
#    u = a on 1-5 of 9 readings; f = a on all 9                                       -> agree 5/9, then 9/9


@pytest.fixture(scope="module")
def rows():
    return {(row.level, row.name): row for row in switches(hand_counted_readings())}


def test_reader_a_is_counted_by_hand(rows):
    a = rows[("reader", "A")]

    assert (a.cohort, a.n_cases, a.n_suggestion_right, a.n_suggestion_wrong) == ("expert", 10, 6, 4)
    assert (a.n_rair_cases, a.rair) == (3, pytest.approx(2 / 3))
    assert (a.n_rsr_cases, a.rsr, a.harmful_switch_rate) == (3, pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert a.wrong_adopted == 2
    assert (a.agree_before, a.agree_after) == (0.3, 0.7)


def test_an_empty_condition_gives_none_never_zero(rows):
    b, c = rows[("reader", "B")], rows[("reader", "C")]

    assert (b.n_rair_cases, b.rair) == (0, None)
    assert (b.rsr, b.harmful_switch_rate, b.wrong_adopted) == (pytest.approx(2 / 3), pytest.approx(1 / 3), 1)
    assert (b.agree_before, b.agree_after) == (0.7, 0.8)
    assert (c.rair, c.rsr, c.harmful_switch_rate) == (None, 0.0, 1.0)


def test_an_unanswered_case_is_left_out_of_the_readers_readings(rows):
    c = rows[("reader", "C")]

    assert (c.n_cases, c.n_suggestion_right, c.n_suggestion_wrong, c.n_rsr_cases) == (9, 5, 4, 4)
    assert (c.wrong_adopted, c.agree_before, c.agree_after) == (4, pytest.approx(5 / 9), 1.0)


def test_a_cohort_row_pools_its_readers_readings(rows):
    expert = rows[("cohort", "expert")]

    # A and B: 20 readings; RAIR 2 of A's 3 (B has none); RSR 2 + 2 of 3 + 3; harmful 1 + 1 of 6.
    assert (expert.cohort, expert.n_cases) == ("expert", 20)
    assert (expert.n_suggestion_right, expert.n_suggestion_wrong) == (12, 8)
    assert (expert.rair, expert.rsr, expert.harmful_switch_rate) == (
        pytest.approx(2 / 3), pytest.approx(4 / 6), pytest.approx(2 / 6)
    )
    assert (expert.wrong_adopted, expert.agree_before, expert.agree_after) == (3, 10 / 20, 15 / 20)
    assert rows[("cohort", "scholar")].rsr == 0.0


def test_the_readers_come_first_in_their_order_then_the_cohorts():
    levels = [(row.level, row.name) for row in switches(hand_counted_readings())]

    assert levels == [("reader", "A"), ("reader", "B"), ("reader", "C"), ("cohort", "expert"), ("cohort", "scholar")]


def test_a_reading_without_a_suggestion_is_not_counted():
    suggestion = np.array([SUGGESTION] * 3)
    suggestion[0, 6] = -1  # A was shown no suggestion on case 6, the harmful switch

    a = switches(
        assisted_readings(
            HAND_COUNTED["unaided"], HAND_COUNTED["aided"], suggestion, TRUTH, 4,
            readers=["A", "B", "C"], cohorts=["expert", "expert", "scholar"],
        )
    )[0]

    assert (a.n_cases, a.n_suggestion_wrong, a.n_rsr_cases, a.rsr, a.harmful_switch_rate) == (9, 3, 2, 1.0, 0.0)
    assert a.wrong_adopted == 1


def simulate_following(seed, follow, n_cases, n_classes=13):
    """Readers right unaided 65% of the time who, shown a suggestion that differs from their answer, take it
    with probability ``follow`` (one per reader) and keep their answer otherwise; the suggestion is right 85%
    of the time."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_cases)
    suggestion = np.where(rng.random(n_cases) < 0.85, truth, (truth + rng.integers(1, n_classes, n_cases)) % n_classes)
    shape = (len(follow), n_cases)
    unaided = np.where(rng.random(shape) < 0.65, truth, (truth + rng.integers(1, n_classes, shape)) % n_classes)
    aided = np.where(rng.random(shape) < np.asarray(follow)[:, np.newaxis], suggestion, unaided)
    return unaided, aided, suggestion, truth


def test_rair_and_rsr_recover_a_known_follow_probability():
    # Experts follow a disagreeing suggestion with probability 0.3, scholars 0.7: then RAIR = P(follow),
    # RSR = 1 − P(follow) and the harmful switch rate P(follow). A cohort's RSR rests on about
    # 20 x 400 x 0.65 x 0.15 = 780 readings, a standard error under 1.7 points: three of them are 0.05.
    follow = [0.3] * 20 + [0.7] * 20
    readings = assisted_readings(
        *simulate_following(1, follow, 400), 13, readers=range(40), cohorts=["expert"] * 20 + ["scholar"] * 20
    )

    rows = {(row.level, row.name): row for row in switches(readings)}

    for cohort, probability in (("expert", 0.3), ("scholar", 0.7)):
        row = rows[("cohort", cohort)]
        assert row.n_rsr_cases > 600 and row.n_rair_cases > 2000
        assert row.rair == pytest.approx(probability, abs=0.05)
        assert row.rsr == pytest.approx(1 - probability, abs=0.05)
        assert row.harmful_switch_rate == pytest.approx(probability, abs=0.05)
    # Each reader's own RAIR, on about 400 x 0.35 x 0.85 = 119 readings (SE 0.042 at most), within 0.15.
    reader_rair = np.array([rows[("reader", str(j))].rair for j in range(40)])
    np.testing.assert_allclose(reader_rair, follow, atol=0.15)
