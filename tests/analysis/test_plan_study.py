"""Power of a planned MRMC study (analysis.study_power) and ``manage.py plan_study``, from a pilot iMRMC
file or from a study's answers."""

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from analysis.mrmc import (
    ErrorCovariances,
    auc_jackknife,
    compare_modalities,
    model_vs_readers,
    model_vs_readers_on_answers,
    orh_comparison,
)
from analysis.mrmc_files import read_imrmc
from analysis.study_arrays import study_answers
from analysis.study_power import DesignPower, PilotComponents, power_table, smallest_designs
from annotator.models import Answer
from tests.analysis.test_study_arrays import answered_study
from tests.fixture_files import VAN_DYKE


@pytest.fixture(scope="module")
def van_dyke():
    data = read_imrmc(VAN_DYKE, fom="auc")
    return data, compare_modalities(auc_jackknife(data.values, data.truth))


@pytest.fixture(scope="module")
def pilot(van_dyke):
    return PilotComponents.from_components(van_dyke[1].components)


def simulated_power(pilot, *, effect, n_readers, n_cases, alpha, n_studies, seed):
    """The share of simulated studies whose ORH test rejects, FOMs drawn from the OR model itself.

    Each study draws reader effects, treatment-by-reader effects and errors correlated as Var(error),
    Cov1, Cov2, Cov3 say (scaled to ``n_cases``), and is tested with those known covariances.
    """
    rng = np.random.default_rng(seed)
    shrink = pilot.n_cases / n_cases
    covariances = ErrorCovariances(
        var_error=shrink * pilot.var_error, cov1=shrink * pilot.cov1, cov2=shrink * pilot.cov2, cov3=shrink * pilot.cov3
    )
    same = np.full((n_readers, n_readers), covariances.cov2)
    np.fill_diagonal(same, covariances.var_error)
    other = np.full((n_readers, n_readers), covariances.cov3)
    np.fill_diagonal(other, covariances.cov1)
    errors = rng.multivariate_normal(np.zeros(2 * n_readers), np.block([[same, other], [other, same]]), n_studies)
    readers = rng.normal(0, 0.04, (n_studies, 1, n_readers))
    interaction = rng.normal(0, np.sqrt(pilot.var_tr), (n_studies, 2, n_readers))
    foms = np.array([[effect], [0.0]]) + readers + interaction + errors.reshape(n_studies, 2, n_readers)
    tests = (orh_comparison(study, covariances, n_cases=n_cases).random_readers_random_cases for study in foms)
    return np.mean([test.p_value < alpha for test in tests])


def orh_power(pilot, *, effect, n_readers, n_cases, alpha=0.05) -> DesignPower:
    """The power of one design, a table of one row and one column."""
    power, noncentrality, df2 = power_table(pilot, effect=effect, readers=[n_readers], cases=[n_cases], alpha=alpha)
    return DesignPower(n_readers, n_cases, effect, alpha, float(power[0, 0]), float(noncentrality[0, 0]), float(df2[0, 0]))


# Tolerances of three to four standard errors of 4,000 simulated studies (0.8 points at power 0.6,
# 0.34 at 0.05).
@pytest.mark.parametrize(
    "effect, n_readers, n_cases, tolerance", [(0.05, 5, 114, 0.03), (0.03, 10, 300, 0.03), (0.0, 6, 80, 0.01)]
)
def test_the_power_formula_agrees_with_simulated_studies(pilot, effect, n_readers, n_cases, tolerance):
    predicted = orh_power(pilot, effect=effect, n_readers=n_readers, n_cases=n_cases).power

    simulated = simulated_power(
        pilot, effect=effect, n_readers=n_readers, n_cases=n_cases, alpha=0.05, n_studies=4000, seed=n_readers
    )

    assert simulated == pytest.approx(predicted, abs=tolerance)


def test_without_an_effect_the_power_is_alpha(pilot):
    assert orh_power(pilot, effect=0.0, n_readers=4, n_cases=60, alpha=0.05).power == pytest.approx(0.05)


def test_at_the_pilot_size_the_df_are_the_pilot_analysis_df(pilot, van_dyke):
    design = orh_power(pilot, effect=0.05, n_readers=5, n_cases=114)

    assert design.df2 == pytest.approx(van_dyke[1].random_readers_random_cases.df2)


def test_the_power_grows_with_readers_and_cases(pilot):
    power, _, _ = power_table(pilot, effect=0.05, readers=[4, 8, 16], cases=[100, 200, 400])

    assert (np.diff(power, axis=0) > 0).all() and (np.diff(power, axis=1) > 0).all()


def test_the_smallest_designs_are_the_fewest_cases_reaching_the_target(pilot):
    designs = smallest_designs(pilot, effect=0.05, target=0.8, readers=range(2, 11), max_cases=2000)

    assert [d.n_readers for d in designs] == list(range(4, 11))
    for design in designs:
        assert design.power >= 0.8
        fewer = orh_power(pilot, effect=0.05, n_readers=design.n_readers, n_cases=design.n_cases - 1)
        assert fewer.power < 0.8
    assert [d.n_cases for d in designs] == sorted((d.n_cases for d in designs), reverse=True)


def test_a_model_against_readers_has_the_power_of_the_single_modality_analysis(van_dyke):
    data = van_dyke[0]
    model = auc_jackknife(data.values[1].mean(axis=0)[np.newaxis], data.truth)
    result = model_vs_readers(model, auc_jackknife(data.values[0], data.truth))
    c = result.components

    design = orh_power(PilotComponents.from_model_vs_readers(result), effect=0.04, n_readers=8, n_cases=57)

    # Hillis' single-modality analysis of ψ = model − reader, case-dependent terms doubled for half the cases.
    error_term = max(c.var_r, 0) + 2 * (c.var_error + 7 * c.cov2)
    assert design.noncentrality == pytest.approx(8 * 0.04**2 / error_term)
    interaction = max(c.var_r, 0) + 2 * (c.var_error - c.cov2)
    assert design.df2 == pytest.approx(error_term**2 / (interaction**2 / 7))


def run_plan(*arguments):
    out = io.StringIO()
    call_command("plan_study", *map(str, arguments), stdout=out)
    return out.getvalue()


def test_the_command_prints_the_power_grid_and_the_smallest_designs():
    printed = run_plan(VAN_DYKE, "--effect", "0.05", "--max-readers", "8")

    assert "Pilot VanDyke.imrmc: modality 0 vs 1, 5 readers, 114 cases, FOM auc" in printed
    assert "Var(TR) 0.00020040" in printed
    grid_row = next(line.split() for line in printed.splitlines() if line.strip().startswith("5 "))
    assert len(grid_row) == 1 + 7
    smallest = printed.split("Smallest designs reaching power 0.8")[1].splitlines()
    assert ["5", "213", "1065", "0.800"] in [line.split() for line in smallest]
    assert any(line.endswith("<- fewest readings") for line in smallest)


def test_the_command_says_when_no_design_reaches_the_power():
    printed = run_plan(VAN_DYKE, "--effect", "0.01", "--max-readers", "4", "--max-cases", "300")

    assert "No design of up to 4 readers and 300 cases reaches power 0.8" in printed


def test_the_command_refuses_what_it_cannot_plan(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run_plan(tmp_path / "pilot", "--effect", "0.05")
    with pytest.raises(CommandError, match="--effect -0.05: expected a positive difference"):
        run_plan(VAN_DYKE, "--effect", "-0.05")
    with pytest.raises(CommandError, match="--power 1.5"):
        run_plan(VAN_DYKE, "--effect", "0.05", "--power", "1.5")
    three = tmp_path / "three.imrmc"
    rows = [f"-1,c{k},truth,{k % 2}" for k in range(6)]
    scores = np.random.default_rng(7).integers(1, 6, (3, 3, 6))
    rows += [f"r{j},c{k},{m},{scores[i, j, k]}" for i, m in enumerate("ABC") for j in range(3) for k in range(6)]
    three.write_text("BEGIN DATA:\n" + "\n".join(rows) + "\n")
    with pytest.raises(CommandError, match=r"3 modalities \(A, B, C\): choose two with --modalities A B"):
        run_plan(three, "--effect", "0.05")
    with pytest.raises(CommandError, match="--modalities A D: expected two different modalities"):
        run_plan(three, "--effect", "0.05", "--modalities", "A", "D")
    assert "modality A vs C" in run_plan(three, "--effect", "0.05", "--modalities", "A", "C")


@pytest.mark.django_db
def test_the_command_plans_from_a_studys_answers_the_model_against_a_cohort():
    reading, truth = answered_study("pilot", n_samples=39)
    data = study_answers(reading.study)
    gapnet = next(m for m in data.models if m.name == "gapnet").answers
    result = model_vs_readers_on_answers(gapnet, data.answers[:3], truth, 13, fom="f1")
    pilot = PilotComponents.from_model_vs_readers(result)

    printed = run_plan("pilot", "--cohort", "expert", "--effect", "0.05", "--fom", "f1", "--max-readers", "6")

    assert "Pilot study pilot: model gapnet vs cohort expert, 3 readers, 39 cases, FOM f1" in printed
    assert f"Var(TR) {pilot.var_tr:.8f}  Var(error) {pilot.var_error:.8f}" in printed
    assert f"effect {result.effect:+.4f}" in printed
    power, _, _ = power_table(pilot, effect=0.05, readers=[4], cases=[200])
    grid_row = next(line.split() for line in printed.splitlines() if line.strip().startswith("4 "))
    assert len(grid_row) == 1 + 7 and float(grid_row[3]) == pytest.approx(power[0, 0], abs=0.005)
    assert "Power to detect a difference of 0.05" in printed


@pytest.mark.django_db
def test_the_command_plans_from_the_reports_model_by_default_and_another_run_by_name():
    answered_study("pilot", n_samples=26)

    assert "model gapnet vs cohort scholar, 4 readers, 26 cases, FOM accuracy" in run_plan(
        "pilot", "--cohort", "scholar", "--effect", "0.05"
    )
    assert "model baseline vs cohort expert" in run_plan(
        "pilot", "--cohort", "expert", "--model", "baseline", "--effect", "0.05"
    )


@pytest.mark.django_db
def test_the_command_refuses_a_study_pilot_it_cannot_plan_from():
    reading, _ = answered_study("pilot", n_samples=13)

    no_nurses = r"--cohort nurse: study pilot has no such cohort \(cohorts: expert, scholar\)"
    with pytest.raises(CommandError, match=no_nurses):
        run_plan("pilot", "--cohort", "nurse", "--effect", "0.05")
    with pytest.raises(CommandError, match="--fom auc: a study's FOM is one of accuracy, f1"):
        run_plan("pilot", "--cohort", "expert", "--effect", "0.05", "--fom", "auc")
    with pytest.raises(CommandError, match="no study named 'elsewhere'"):
        run_plan("elsewhere", "--cohort", "expert", "--effect", "0.05")
    with pytest.raises(CommandError, match="--model nope: no such model run"):
        run_plan("pilot", "--cohort", "expert", "--model", "nope", "--effect", "0.05")
    Answer.objects.filter(participant__pseudonym__in=["expert-02", "expert-03"]).delete()
    with pytest.raises(CommandError, match="1 reader\\(s\\) of the cohort have answered; the pilot needs two or more"):
        run_plan("pilot", "--cohort", "expert", "--effect", "0.05")
