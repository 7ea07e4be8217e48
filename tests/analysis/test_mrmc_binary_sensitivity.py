"""``manage.py mrmc --fom accuracy`` reproduces MRMCaov's published binary-sensitivity analysis of the Van Dyke data.

MRMCaov (Smith & Hillis; R, GPL-3), ``docs/jss/MRMCaov.tex`` at commit d79e49b (the same example is the
"using_mrmc_binary" section of its User Guide on CRAN): ``VanDyke$binary_rating <- VanDyke$rating >= 3``,
``mrmc(binary_sens(truth, binary_rating), treatment, reader, case, data = VanDyke)``, which jackknifes
sensitivity over the 45 diseased cases only (MRMCaov NEWS 0.1.10). Treatment 1 is modality ``0`` of
``VanDyke.imrmc``, so "1 − 2" is our modality 0 − 1. The values below are copied as MRMCaov prints them,
and every digit printed there must come out of the command.
"""

import io
import json

import pytest
from django.core.management import call_command

from tests.fixture_files import VAN_DYKE, VAN_DYKE_BINARY

READER_SENSITIVITY = {
    "0": ["0.889", "0.778", "0.822", "0.933", "0.689"],
    "1": ["0.978", "0.822", "0.911", "1", "0.889"],
}
COMPONENTS = {
    "ms_t": "0.0239012",
    "ms_r": "0.0124198",
    "ms_tr": "0.0018025",
    "var_r": "0.0049747475",
    "var_tr": "0.0007828283",
    "var_error": "0.0023681257",
    "cov1": "0.0009943883",
    "cov2": "0.0010145903",
    "cov3": "0.0006604938",
}
CORRELATIONS = {"cov1": "0.4199052", "cov2": "0.4284360", "cov3": "0.2789100"}
RANDOM_READERS_RANDOM_CASES = {
    "difference": "-0.09777778",
    "std_error": "0.03780451",
    "F": "6.689493",
    "df2": "15.71732",
    "p_value": "0.02008822",
    "ci_low": "-0.1780371",
    "ci_high": "-0.0175185",
}
DENOMINATOR = "0.003572952"
T_STATISTIC = "-2.586405"
POOLED_SENSITIVITY = "0.8711111"


def as_printed(value: float, published: str) -> str:
    """``value`` with as many decimals as the published figure has."""
    decimals = len(published.split(".")[1]) if "." in published else 0
    return f"{value:.{decimals}f}"


def run_mrmc(*arguments):
    out = io.StringIO()
    call_command("mrmc", *map(str, arguments), stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    folder = tmp_path_factory.mktemp("binary")
    printed = run_mrmc(VAN_DYKE_BINARY, "--fom", "accuracy", "--out", folder)
    rows = json.loads((folder / "mrmc.json").read_text())
    return printed, {row["variant"]: row for row in rows}


def test_the_reader_sensitivities_are_mrmcaovs(analysis):
    row = analysis[1]["random_readers_random_cases"]

    for modality, published in READER_SENSITIVITY.items():
        foms = list(row["reader_foms"][modality].values())
        assert [as_printed(fom, figure) for fom, figure in zip(foms, published)] == published
    assert as_printed((row["fom_a"] + row["fom_b"]) / 2, POOLED_SENSITIVITY) == POOLED_SENSITIVITY


def test_the_mean_squares_and_variance_components_are_mrmcaovs(analysis):
    components = analysis[1]["random_readers_random_cases"]["components"]

    assert {key: as_printed(components[key], figure) for key, figure in COMPONENTS.items()} == COMPONENTS
    correlations = {key: as_printed(components[key] / components["var_error"], r) for key, r in CORRELATIONS.items()}
    assert correlations == CORRELATIONS
    assert (components["n_readers"], components["n_cases"]) == (5, 45)


def test_the_random_readers_random_cases_test_is_mrmcaovs(analysis):
    row = analysis[1]["random_readers_random_cases"]

    assert {key: as_printed(row[key], figure) for key, figure in RANDOM_READERS_RANDOM_CASES.items()} == (
        RANDOM_READERS_RANDOM_CASES
    )
    # MRMCaov's "denominator" is the error term MS(T×R) + r·max(Cov2 − Cov3, 0), SE² = 2 · denominator / r.
    assert as_printed(row["std_error"] ** 2 * 5 / 2, DENOMINATOR) == DENOMINATOR
    assert as_printed(row["difference"] / row["std_error"], T_STATISTIC) == T_STATISTIC


def test_the_printed_table_agrees_with_mrmcaov_to_the_digits_it_prints(analysis):
    printed = analysis[0]

    assert "VanDyke_binary_sensitivity.imrmc: 5 readers, 2 modalities, 45 cases; FOM accuracy" in printed
    assert "mean           0.82222222   0.92000000   difference -0.09777778" in printed
    assert "Var(R) 0.00497475  Var(TR) 0.00078283  Var(error) 0.00236813" in printed
    assert "Cov1 0.00099439  Cov2 0.00101459  Cov3 0.00066049" in printed
    assert "MS(T) 0.02390123  MS(R) 0.01241975  MS(T×R) 0.00180247" in printed
    row = next(line for line in printed.splitlines() if "random readers, random cases" in line)
    assert row.split()[4:] == ["6.689", "1", "15.72", "0.0201", "[-0.17804,", "-0.01752]"]


def derived_rows():
    """The rows of the binary file derived from ``VanDyke.imrmc``: its diseased cases, 1 where the
    rating is 3 or more."""
    lines = VAN_DYKE.read_text().splitlines()
    rows = [line.split(",") for line in lines[lines.index("BEGIN DATA:") + 1 :] if line.strip()]
    diseased = [case for reader, case, _, truth in rows if reader == "-1" and float(truth) == 1]
    kept = set(diseased)
    return [f"-1,{case},truth,1" for case in diseased] + [
        f"{reader},{case},{modality},{int(float(rating) >= 3)}"
        for reader, case, modality, rating in rows
        if reader != "-1" and case in kept
    ]


def test_the_binary_file_is_the_van_dyke_file_binarised_on_its_diseased_cases():
    lines = VAN_DYKE_BINARY.read_text().splitlines()

    assert lines[lines.index("BEGIN DATA:") + 1 :] == derived_rows()
    assert len(derived_rows()) == 45 + 5 * 2 * 45
