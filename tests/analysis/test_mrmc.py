"""The ORH core (analysis.mrmc): the published Van Dyke analysis, the closed-form jackknives, model vs readers."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student_t
from scipy.stats import ttest_1samp, ttest_rel

from analysis import mrmc
from analysis.mrmc import (
    JackknifeFOM,
    accuracy_jackknife,
    auc_jackknife,
    compare_modalities,
    jackknife_covariances,
    macro_f1_jackknife,
    model_vs_readers,
    model_vs_readers_on_answers,
)
from analysis.mrmc_files import read_imrmc
from analysis.reader_metrics import readers_metrics
from models_zoo.classification_figures import MetricInputError, auc_per_class
from tests.fixture_files import VAN_DYKE

REPOSITORY = Path(__file__).resolve().parents[2]

# OR-DBM MRMC 2.5 on the Van Dyke data set (see data/README.md).
PUBLISHED_AUC = [
    [0.91964573, 0.85877617, 0.90386473, 0.97310789, 0.82979066],
    [0.94782609, 0.90531401, 0.92173913, 0.99935588, 0.92995169],
]


@pytest.fixture(scope="module")
def van_dyke():
    data = read_imrmc(VAN_DYKE, fom="auc")
    foms = auc_jackknife(data.values, data.truth)
    return data, foms, compare_modalities(foms)


def test_it_reproduces_the_published_van_dyke_reader_aucs(van_dyke):
    _, _, comparison = van_dyke
    np.testing.assert_allclose(comparison.reader_fom, PUBLISHED_AUC, atol=5e-9)
    assert comparison.difference == pytest.approx(-0.04380032, abs=5e-9)


def test_it_reproduces_the_published_van_dyke_mean_squares_and_covariances(van_dyke):
    components = van_dyke[2].components
    assert components.ms_t == pytest.approx(0.00479617, abs=5e-9)
    assert components.ms_tr == pytest.approx(0.00055103, abs=5e-9)
    assert components.var_error == pytest.approx(0.00080229, abs=5e-9)
    assert components.cov1 == pytest.approx(0.00034661, abs=5e-9)
    assert components.cov2 == pytest.approx(0.00034407, abs=5e-9)
    assert components.cov3 == pytest.approx(0.00023903, abs=5e-9)
    assert (components.n_readers, components.n_cases) == (5, 114)


def test_it_reproduces_the_published_van_dyke_f_statistic(van_dyke):
    test = van_dyke[2].random_readers_random_cases
    assert test.F == pytest.approx(4.46, abs=0.005)
    assert (test.df1, test.df2) == (1, pytest.approx(15.26, abs=0.005))
    assert test.p_value == pytest.approx(0.0517, abs=0.00005)
    assert test.ci_low < test.difference < test.ci_high and test.ci_high > 0


def test_the_fixed_cases_variant_is_the_paired_t_test_of_the_reader_foms(van_dyke):
    comparison = van_dyke[2]
    paired = ttest_rel(comparison.reader_fom[0], comparison.reader_fom[1])

    test = comparison.random_readers_fixed_cases

    assert test.F == pytest.approx(paired.statistic**2)
    assert test.p_value == pytest.approx(paired.pvalue)
    assert test.df2 == 4


def test_the_fixed_readers_variant_uses_the_normal_distribution(van_dyke):
    components = van_dyke[2].components
    test = van_dyke[2].fixed_readers_random_cases
    error_term = components.var_error - components.cov1 + 4 * (components.cov2 - components.cov3)

    assert test.df2 == np.inf and test.to_dict()["df2"] is None
    assert test.std_error == pytest.approx(np.sqrt(2 * error_term / 5))
    assert test.ci_high - test.difference == pytest.approx(1.959964 * test.std_error)


def test_the_variance_components_invert_the_expected_mean_squares(van_dyke):
    c = van_dyke[2].components
    # E[MS(TR)] and E[MS(R)] of the OR model (Hillis 2007, Table 1) with the estimates plugged in.
    assert c.var_tr + c.var_error - c.cov1 - c.cov2 + c.cov3 == pytest.approx(c.ms_tr)
    assert 2 * c.var_r + c.var_tr + c.var_error + c.cov1 - c.cov2 - c.cov3 == pytest.approx(c.ms_r)


def test_the_closed_form_auc_jackknife_equals_recomputing_without_each_case(van_dyke):
    data, foms, _ = van_dyke
    scores = data.values[0, :2]

    expected = np.array(
        [
            [auc_per_class(np.column_stack([-row, row])[keep], data.truth[keep], 2)[1] for keep in _leave_one_out(114)]
            for row in scores
        ]
    )
    np.testing.assert_allclose(foms.jackknife[0, :2], expected, atol=1e-12)


def _leave_one_out(n_cases):
    return [np.arange(n_cases) != k for k in range(n_cases)]


@pytest.fixture
def class_answers():
    """Answers of 6 readers on 30 cases with gaps, a class seen once and a class never answered."""
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 4, 30)
    truth[7] = 4
    answers = np.where(rng.random((6, 30)) < 0.6, truth, rng.integers(0, 4, (6, 30)))
    answers[rng.random((6, 30)) < 0.1] = -1
    return answers, truth


@pytest.mark.parametrize("fom, figure", [(accuracy_jackknife, "accuracy"), (macro_f1_jackknife, "f1")])
def test_the_closed_form_class_jackknives_equal_recomputing_without_each_case(class_answers, fom, figure):
    answers, truth = class_answers

    foms = fom(answers, truth, 6)

    expected = np.stack(
        [getattr(readers_metrics(answers[:, keep], truth[keep], 6), figure) for keep in _leave_one_out(30)], axis=1
    )
    np.testing.assert_allclose(foms.fom, getattr(readers_metrics(answers, truth, 6), figure), atol=1e-12)
    np.testing.assert_allclose(foms.jackknife, expected, atol=1e-12)


def test_the_jackknives_keep_the_modality_axis(class_answers):
    answers, truth = class_answers
    both = macro_f1_jackknife(np.stack([answers, answers[::-1]]), truth, 6)
    one = macro_f1_jackknife(answers, truth, 6)

    assert both.fom.shape == (2, 6) and both.jackknife.shape == (2, 6, 30)
    np.testing.assert_array_equal(both.jackknife[1], one.jackknife[::-1])


def test_the_covariances_average_the_jackknife_covariance_of_each_kind_of_pair():
    jackknife = np.random.default_rng(5).normal(size=(2, 4, 10))
    c = 10
    cov = np.einsum("ijk,abk->ijab", *(2 * [jackknife - jackknife.mean(axis=2, keepdims=True)])) * (c - 1) / c
    pairs = [(i, j, a, b) for i in range(2) for j in range(4) for a in range(2) for b in range(4)]

    result = jackknife_covariances(jackknife)

    assert result.var_error == pytest.approx(np.mean([cov[p] for p in pairs if p[0] == p[2] and p[1] == p[3]]))
    assert result.cov1 == pytest.approx(np.mean([cov[p] for p in pairs if p[0] != p[2] and p[1] == p[3]]))
    assert result.cov2 == pytest.approx(np.mean([cov[p] for p in pairs if p[0] == p[2] and p[1] != p[3]]))
    assert result.cov3 == pytest.approx(np.mean([cov[p] for p in pairs if p[0] != p[2] and p[1] != p[3]]))


@pytest.fixture(scope="module")
def model_and_readers(van_dyke):
    """Van Dyke's modality-0 readers against a "model" scoring each case by the mean modality-1 rating."""
    data, _, _ = van_dyke
    return auc_jackknife(data.values[1].mean(axis=0)[np.newaxis], data.truth), auc_jackknife(data.values[0], data.truth)


def test_model_vs_readers_equals_the_two_modality_analysis_with_the_model_as_every_reader(model_and_readers):
    model, readers = model_and_readers
    replicated = JackknifeFOM(
        np.vstack([np.repeat(model.fom, 5), readers.fom]),
        np.stack([np.repeat(model.jackknife, 5, axis=0), readers.jackknife]),
    )

    result = model_vs_readers(model, readers)
    two_modalities = compare_modalities(replicated)

    assert result.effect == pytest.approx(model.fom[0] - readers.fom.mean())
    for single, double in zip(result.tests, two_modalities.tests):
        assert single.t**2 == pytest.approx(double.F)
        assert single.df == pytest.approx(double.df2)
        assert single.p_value == pytest.approx(double.p_value)
        assert (single.ci_low, single.ci_high) == (pytest.approx(double.ci_low), pytest.approx(double.ci_high))


def test_with_readers_fixed_the_effect_has_the_jackknife_variance_of_the_mean_difference(model_and_readers):
    model, readers = model_and_readers
    mean_difference = (model.jackknife - readers.jackknife).mean(axis=0)

    result = model_vs_readers(model, readers)

    assert result.components.cov2 > 0
    jackknife_variance = 113 / 114 * np.sum((mean_difference - mean_difference.mean()) ** 2)
    assert result.fixed_readers_random_cases.std_error**2 == pytest.approx(jackknife_variance)


def test_with_cases_fixed_model_vs_readers_is_the_one_sample_t_test_of_the_differences(model_and_readers):
    model, readers = model_and_readers
    expected = ttest_1samp(model.fom[0] - readers.fom, 0.0)

    test = model_vs_readers(model, readers).random_readers_fixed_cases

    assert (test.t, test.p_value, test.df) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue), 4)


def test_the_non_inferiority_test_is_one_sided_against_the_margin(model_and_readers):
    model, readers = model_and_readers

    result = model_vs_readers(model, readers, margin=0.05)

    for test in result.tests:
        expected = (test.effect + 0.05) / test.std_error
        assert test.non_inferiority.t == pytest.approx(expected)
        assert test.non_inferiority.p_value == pytest.approx(student_t.sf(expected, test.df))
    assert model_vs_readers(model, readers).random_readers_random_cases.non_inferiority is None
    wider = model_vs_readers(model, readers, margin=0.1).random_readers_random_cases.non_inferiority
    assert wider.p_value < result.random_readers_random_cases.non_inferiority.p_value


def test_cases_someone_skipped_are_left_out_and_counted(class_answers):
    answers, truth = class_answers
    complete = (answers != -1).all(axis=0)

    result = model_vs_readers_on_answers(answers[0], answers[1:], truth, 6, fom="f1", margin=0.1)

    assert result.n_cases_dropped == 30 - complete.sum() > 0
    assert f"left out {result.n_cases_dropped} of 30 cases" in result.warnings[0]
    expected = readers_metrics(answers[:, complete], truth[complete], 6).f1
    assert result.model_fom == pytest.approx(expected[0])
    np.testing.assert_allclose(result.reader_fom, expected[1:])
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert document["fixed_readers_random_cases"]["df"] is None
    assert document["random_readers_random_cases"]["non_inferiority"]["margin"] == 0.1


def test_complete_answers_leave_nothing_out(class_answers):
    answers, truth = class_answers
    answers = np.where(answers == -1, 0, answers)

    result = model_vs_readers_on_answers(answers[0], answers[1:], truth, 6)

    assert (result.n_cases_dropped, result.warnings) == (0, ())
    np.testing.assert_allclose(result.reader_fom, readers_metrics(answers[1:], truth, 6).accuracy)


def test_the_analyses_refuse_what_they_cannot_estimate(class_answers, model_and_readers):
    answers, truth = class_answers
    model, readers = model_and_readers
    with pytest.raises(MetricInputError, match="at least two readers"):
        model_vs_readers(model, JackknifeFOM(readers.fom[:1], readers.jackknife[:1]))
    with pytest.raises(MetricInputError, match="margin"):
        model_vs_readers(model, readers, margin=-0.1)
    with pytest.raises(MetricInputError, match="answered by the model and every reader"):
        model_vs_readers_on_answers(np.full(30, -1), answers[1:], truth, 6)
    with pytest.raises(MetricInputError, match="fom"):
        model_vs_readers_on_answers(answers[0], answers[1:], truth, 6, fom="auc")
    with pytest.raises(MetricInputError, match="two cases of each truth"):
        auc_jackknife(np.zeros((2, 4)), np.array([1, 0, 0, 0]))
    with pytest.raises(MetricInputError, match="two modalities"):
        compare_modalities(readers)


def test_the_mrmc_modules_import_without_django():
    code = (
        "import sys\n"
        "import analysis.mrmc, analysis.mrmc_files, analysis.study_power\n"
        "assert 'django' not in sys.modules, 'django was imported'\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY)

    assert completed.returncode == 0, completed.stderr


def test_the_macro_f1_jackknife_is_the_same_computed_a_few_readers_at_a_time(monkeypatch):
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 5, 30)
    answers = np.where(rng.random((2, 7, 30)) < 0.6, truth, rng.integers(-1, 5, (2, 7, 30)))
    whole = mrmc.macro_f1_jackknife(answers, truth, 5)

    monkeypatch.setattr(mrmc, "F1_JACKKNIFE_BLOCK", 3 * 30)
    blocks = mrmc.macro_f1_jackknife(answers, truth, 5)

    assert np.array_equal(blocks.fom, whole.fom) and np.array_equal(blocks.jackknife, whole.jackknife)
