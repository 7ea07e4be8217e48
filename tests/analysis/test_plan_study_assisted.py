"""``manage.py plan_study --assisted``: an assisted reading study sized from a pilot of unaided and aided
readings, an iMRMC file or an assisted study's own answers, every component (Cov1 included) taken from the
pilot (analysis.assistance.assisted_pilot)."""

import io
from dataclasses import replace

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from analysis.assistance import assisted_pilot, assisted_readings
from analysis.study_power import power_table
from models_zoo.classification_figures import MetricInputError
from tests.analysis.assisted_studies import SEQUENTIAL_READERS, SUGGESTION, TRUTH, sequential_study
from tests.factories import reading_study
from tests.fixture_files import VAN_DYKE_BINARY


def pilot_arrays(seed=3, n_readers=5, n_cases=40):
    """A sequential pilot: readers right 60% of the time unaided, then taking a suggestion (right 85% of the
    time) half the time."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n_cases)
    suggestion = np.where(rng.random(n_cases) < 0.85, truth, (truth + 1) % 4)
    unaided = np.where(rng.random((n_readers, n_cases)) < 0.6, truth, (truth + 2) % 4)
    aided = np.where(rng.random((n_readers, n_cases)) < 0.5, suggestion, unaided)
    return unaided, aided, suggestion, truth


def pilot_file(tmp_path, unaided, aided, truth, names=("unaided", "aided")):
    rows = [f"-1,c{k},truth,{label}" for k, label in enumerate(truth)]
    rows += [
        f"r{j},c{k},{name},{answers[j, k]}"
        for name, answers in zip(names, (unaided, aided))
        for j in range(answers.shape[0])
        for k in range(answers.shape[1])
    ]
    path = tmp_path / "pilot.imrmc"
    path.write_text("NR:5\nNM:2\nBEGIN DATA:\n" + "\n".join(rows) + "\n")
    return path


def run_plan(*arguments):
    out = io.StringIO()
    call_command("plan_study", *map(str, arguments), stdout=out)
    return out.getvalue()


def test_it_plans_from_the_same_components_as_the_assisted_analysis_of_the_pilots_arrays(tmp_path):
    unaided, aided, suggestion, truth = pilot_arrays()
    readings = assisted_readings(unaided, aided, suggestion, truth, 4, readers=range(5), cohorts=["x"] * 5)
    pilot = assisted_pilot(readings)

    path = pilot_file(tmp_path, unaided, aided, truth)

    printed = run_plan(path, "--assisted", "--effect", "0.05", "--max-readers", "6")

    assert "Assisted pilot pilot.imrmc: unaided vs aided, 5 readers, 40 cases, FOM accuracy" in printed
    observed = (aided == truth).mean() - (unaided == truth).mean()
    assert f"effect {observed:+.4f}" in printed
    assert (
        f"Var(TR) {pilot.var_tr:.8f}  Var(error) {pilot.var_error:.8f}  Cov1 {pilot.cov1:.8f}  "
        f"Cov2 {pilot.cov2:.8f}  Cov3 {pilot.cov3:.8f}"
    ) in printed
    assert f"Cov1 / Var(error) {pilot.cov1 / pilot.var_error:.3f}" in printed
    power, _, _ = power_table(pilot, effect=0.05, readers=[6], cases=[300])
    grid_row = next(line.split() for line in printed.splitlines() if line.strip().startswith("6 "))
    assert float(grid_row[4]) == pytest.approx(power[0, 0], abs=0.005)


def test_the_pilots_cov1_is_what_makes_a_sequential_study_small():
    unaided, aided, suggestion, truth = pilot_arrays(n_readers=8, n_cases=200)
    pilot = assisted_pilot(
        assisted_readings(unaided, aided, suggestion, truth, 4, readers=range(8), cohorts=["x"] * 8)
    )
    # The same pilot had its unaided and aided errors been unrelated (Cov1 = 0, as readings weeks apart tend to be).
    unrelated = replace(pilot, cov1=0.0)

    sequential, _, _ = power_table(pilot, effect=0.05, readers=[5], cases=[200])
    independent, _, _ = power_table(unrelated, effect=0.05, readers=[5], cases=[200])

    assert pilot.cov1 > 0.3 * pilot.var_error
    assert sequential[0, 0] > independent[0, 0] + 0.1


def test_the_van_dyke_sensitivity_pilot_gives_mrmcaovs_components(tmp_path):
    printed = run_plan(VAN_DYKE_BINARY, "--assisted", "--modalities", "0", "1", "--effect", "0.05", "--max-readers", "6")

    # MRMCaov's binary_sens analysis of these cases (test_mrmc_binary_sensitivity.py): Cov1 0.0009943883.
    assert "Assisted pilot VanDyke_binary_sensitivity.imrmc: 0 vs 1, 5 readers, 45 cases" in printed
    assert "Var(error) 0.00236813  Cov1 0.00099439  Cov2 0.00101459  Cov3 0.00066049" in printed
    assert "observed: unaided 0.8222, aided 0.9200, effect +0.0978" in printed
    assert "Cov1 / Var(error) 0.420" in printed


def test_a_cohort_of_the_pilot_can_be_planned_from():
    unaided, aided, suggestion, truth = pilot_arrays(n_readers=6)
    readings = assisted_readings(
        unaided, aided, suggestion, truth, 4, readers=range(6), cohorts=["expert"] * 3 + ["scholar"] * 3
    )
    experts = assisted_readings(
        unaided[:3], aided[:3], suggestion, truth, 4, readers=range(3), cohorts=["expert"] * 3
    )

    assert assisted_pilot(readings, cohort="expert", fom="f1") == assisted_pilot(experts, fom="f1")
    with pytest.raises(MetricInputError, match="cohort: 'nurse' is none of the readers' cohorts"):
        assisted_pilot(readings, cohort="nurse")
    with pytest.raises(MetricInputError, match="1 reader"):
        assisted_pilot(assisted_readings(unaided[:1], aided[:1], suggestion, truth, 4, readers=[0], cohorts=["x"]))


def test_the_command_refuses_an_assisted_pilot_it_cannot_plan_from(tmp_path):
    unaided, aided, _, truth = pilot_arrays()
    other_names = pilot_file(tmp_path, unaided, aided, truth, names=("alone", "with model"))

    with pytest.raises(CommandError, match=r"--assisted needs two different modalities, the unaided and the aided "
                                           r"readings \(unaided, aided\); the file has alone, with model"):
        run_plan(other_names, "--assisted", "--effect", "0.05")
    assert "alone vs with model" in run_plan(
        other_names, "--assisted", "--modalities", "alone", "with model", "--effect", "0.05", "--max-readers", "3"
    )
    with pytest.raises(CommandError, match="--fom f1: a file's FOM is one of auc, accuracy"):
        run_plan(other_names, "--assisted", "--fom", "f1", "--effect", "0.05")
    with pytest.raises(CommandError, match="no such file"):
        run_plan(tmp_path / "missing.imrmc", "--assisted", "--effect", "0.05")


@pytest.mark.django_db
def test_an_assisted_studys_own_readings_are_a_pilot_for_a_cohort():
    sequential_study("own-pilot")
    scholars = [name for name in SEQUENTIAL_READERS if name.startswith("scholar")]
    unaided = np.array([SEQUENTIAL_READERS[name][0] for name in scholars])
    aided = np.array([SEQUENTIAL_READERS[name][1] for name in scholars])
    pilot = assisted_pilot(
        assisted_readings(unaided, aided, SUGGESTION, TRUTH, 13, readers=scholars, cohorts=["scholar"] * 3)
    )

    printed = run_plan("own-pilot", "--assisted", "--cohort", "scholar", "--effect", "0.1", "--max-readers", "4")

    assert (
        "Assisted pilot study own-pilot (sequential): cohort scholar, unaided vs aided, 3 readers, 8 cases, FOM accuracy"
    ) in printed
    assert "observed: unaided 0.7500, aided 0.7083, effect -0.0417" in printed
    assert f"Var(TR) {pilot.var_tr:.8f}  Var(error) {pilot.var_error:.8f}  Cov1 {pilot.cov1:.8f}" in printed


@pytest.mark.django_db
def test_a_study_read_unaided_or_a_cohort_too_small_is_refused_as_an_assisted_pilot():
    reading_study("alone")
    sequential_study("small-pilot")

    with pytest.raises(CommandError, match="study alone is read unaided: --assisted plans from a study read with"):
        run_plan("alone", "--assisted", "--cohort", "expert", "--effect", "0.05")
    with pytest.raises(CommandError, match="cohort: 'nurse' is none of the readers' cohorts"):
        run_plan("small-pilot", "--assisted", "--cohort", "nurse", "--effect", "0.05")
    with pytest.raises(CommandError, match="--modalities: not with --assisted --cohort"):
        run_plan("small-pilot", "--assisted", "--cohort", "expert", "--modalities", "a", "b", "--effect", "0.05")
