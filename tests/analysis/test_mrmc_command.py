"""``manage.py mrmc``: the iMRMC file in, the readable table and ``mrmc.json`` out, clear errors."""

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.fixture_files import VAN_DYKE

VARIANTS = ["random_readers_random_cases", "fixed_readers_random_cases", "random_readers_fixed_cases"]


def run_mrmc(*arguments):
    out = io.StringIO()
    call_command("mrmc", *map(str, arguments), stdout=out)
    return out.getvalue()


def imrmc_file(tmp_path, rows, header="NR:3\nNM:2\nBEGIN DATA:"):
    path = tmp_path / "study.imrmc"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def small_study_rows(readers=("r1", "r2", "r3"), modalities=("A", "B"), n_cases=8):
    """Truth rows (half the cases positive), then seeded scores of every reader on every case."""
    rng = np.random.default_rng(6)
    rows = [f"-1,c{k},truth,{k % 2}" for k in range(n_cases)]
    rows += [
        f"{reader},c{k},{modality},{rng.integers(1, 6) + (k % 2)}"
        for modality in modalities
        for reader in readers
        for k in range(n_cases)
    ]
    return rows


def test_it_prints_the_van_dyke_table_with_the_published_figures():
    printed = run_mrmc(VAN_DYKE)

    assert "VanDyke.imrmc: 5 readers, 2 modalities, 114 cases; FOM auc" in printed
    assert "0.91964573" in printed and "0.99935588" in printed
    assert "difference -0.04380032" in printed
    assert "Cov1 0.00034661  Cov2 0.00034407  Cov3 0.00023903" in printed
    assert "MS(T) 0.00479617" in printed and "MS(T×R) 0.00055103" in printed
    row = next(line for line in printed.splitlines() if "random readers, random cases" in line)
    assert row.split()[4:8] == ["4.456", "1", "15.26", "0.0517"]


def test_it_writes_one_json_row_per_pair_and_variant(tmp_path):
    run_mrmc(VAN_DYKE, "--out", tmp_path / "out")

    rows = json.loads((tmp_path / "out" / "mrmc.json").read_text())

    assert [row["variant"] for row in rows] == VARIANTS
    first = rows[0]
    assert (first["modality_a"], first["modality_b"]) == ("0", "1")
    assert first["fom_a"] - first["fom_b"] == pytest.approx(first["difference"])
    assert first["difference"] == pytest.approx(-0.04380032, abs=5e-9)
    assert first["F"] == pytest.approx(4.456, abs=5e-4)
    assert (first["df1"], first["df2"]) == (1, pytest.approx(15.26, abs=5e-3))
    assert first["p_value"] == pytest.approx(0.0517, abs=5e-5)
    assert first["ci_low"] < first["difference"] < first["ci_high"]
    assert set(first["components"]) >= {"var_r", "var_tr", "cov1", "cov2", "cov3", "var_error"}
    assert first["reader_foms"]["1"]["3"] == pytest.approx(0.99935588, abs=5e-9)
    assert rows[1]["df2"] is None


def test_every_pair_of_three_modalities_is_compared(tmp_path):
    path = imrmc_file(tmp_path, small_study_rows(modalities=("A", "B", "C")))

    run_mrmc(path, "--out", tmp_path)

    rows = json.loads((tmp_path / "mrmc.json").read_text())
    assert [(row["modality_a"], row["modality_b"]) for row in rows[::3]] == [("A", "B"), ("A", "C"), ("B", "C")]


def test_accuracy_compares_class_answers_with_class_truth(tmp_path):
    truth = ["nucleus", "cytosol", "er", "nucleus", "er", "cytosol"]
    answers = {
        ("r1", "A"): ["nucleus", "cytosol", "er", "er", "er", "nucleus"],
        ("r2", "A"): ["nucleus", "er", "er", "nucleus", "cytosol", "cytosol"],
        ("r1", "B"): ["nucleus", "cytosol", "er", "nucleus", "er", "cytosol"],
        ("r2", "B"): ["cytosol", "cytosol", "er", "nucleus", "er", "nucleus"],
    }
    rows = [f"-1,{k},truth,{label}" for k, label in enumerate(truth)]
    rows += [f"{r},{k},{m},{label}" for (r, m), labels in answers.items() for k, label in enumerate(labels)]

    run_mrmc(imrmc_file(tmp_path, rows), "--fom", "accuracy", "--out", tmp_path)

    row = json.loads((tmp_path / "mrmc.json").read_text())[0]
    assert row["fom"] == "accuracy"
    assert row["reader_foms"] == {"A": {"r1": 4 / 6, "r2": 4 / 6}, "B": {"r1": 1.0, "r2": 4 / 6}}


def test_numeric_class_labels_are_the_same_class_however_written(tmp_path):
    rows = [f"-1,{k},truth,{k % 3}" for k in range(6)]
    rows += [f"{r},{k},{m},{k % 3}.0" for r in ("r1", "r2") for m in ("A", "B") for k in range(6)]

    run_mrmc(imrmc_file(tmp_path, rows), "--fom", "accuracy", "--out", tmp_path)

    assert json.loads((tmp_path / "mrmc.json").read_text())[0]["fom_a"] == 1.0


def test_a_reader_missing_some_cases_leaves_those_cases_out_with_a_warning(tmp_path):
    rows = [row for row in small_study_rows() if not row.startswith(("r2,c3,A,", "r3,c5,B,"))]

    printed = run_mrmc(imrmc_file(tmp_path, rows), "--out", tmp_path)

    assert "left out 2 of 8 cases not read by every reader in both modalities" in printed
    assert "c3, c5" in printed
    row = json.loads((tmp_path / "mrmc.json").read_text())[0]
    assert row["n_cases"] == 6 and row["warnings"]


def test_a_reader_who_read_no_case_in_a_modality_is_left_out_with_a_warning(tmp_path):
    rows = [row for row in small_study_rows() if not row.startswith("r3,") or ",A," in row]

    printed = run_mrmc(imrmc_file(tmp_path, rows), "--out", tmp_path)

    assert "left out reader 'r3': read no case in modality 'B'" in printed
    assert json.loads((tmp_path / "mrmc.json").read_text())[0]["n_readers"] == 2


def data(rows):
    return "BEGIN DATA:\n" + "\n".join(rows)


def without(rows, *prefixes):
    return [row for row in rows if not row.startswith(prefixes)]


def replaced(rows, index, row):
    return rows[:index] + [row] + rows[index + 1 :]


# Each bad file is made from the 3-reader, 2-modality, 8-case study; line 1 is BEGIN DATA:, the truth of
# case k is on line k + 2 and reader r1's first reading (case c0, modality A) on line 10.
BAD_FILES = {
    "no BEGIN DATA": (lambda rows: "\n".join(rows), r"no 'BEGIN DATA:' line"),
    "a row without 4 fields": (
        lambda rows: data(rows[:3] + ["r1,c1,A"] + rows[3:]),
        r"line 5: expected 4 fields reader,case,modality,score, got 3",
    ),
    "a case without truth": (
        lambda rows: data(rows + ["r1,c99,A,3"]),
        r"line 58: case 'c99' read by reader 'r1' has no truth row",
    ),
    "a missing truth": (
        lambda rows: data(replaced(rows, 0, "-1,c0,truth,")),
        r"line 2: the truth of case 'c0' is missing",
    ),
    "a truth that is not 0 or 1": (
        lambda rows: data(replaced(rows, 0, "-1,c0,truth,2")),
        r"line 2: truth '2' of case 'c0' is neither 0 nor 1",
    ),
    "a score that is not a number": (
        lambda rows: data(replaced(rows, 10, "r1,c2,A,high")),
        r"line 12: score 'high' is not a number",
    ),
    "a missing score": (
        lambda rows: data(replaced(rows, 10, "r1,c2,A,")),
        r"line 12: the score of reader 'r1' on case 'c2' is missing",
    ),
    "a reading given twice": (
        lambda rows: data(rows + [rows[8]]),
        r"line 58: reader 'r1' read case 'c0' in modality 'A' twice \(first on line 10\)",
    ),
    "a single reader": (
        lambda rows: data(without(rows, "r2,", "r3,")),
        r"only one reader \('r1'\); the ORH analysis needs at least two",
    ),
    "a single modality": (lambda rows: data([row for row in rows if ",B," not in row]), r"only one modality \('A'\)"),
    "no rows": (lambda rows: "header\nBEGIN DATA:\n\n", r"no rows after 'BEGIN DATA:' \(line 2\)"),
    "only truth rows": (lambda rows: data(rows[:8]), r"no reader rows, only truth rows"),
    "too few readers who read both modalities": (
        lambda rows: data(without(rows, "r3,", *(f"r2,c{k},B," for k in range(8)))),
        r"modalities 'A' and 'B': 1 reader\(s\) read cases in both; the ORH analysis needs at least two",
    ),
    "too few positive cases read by everyone": (
        lambda rows: data(without(rows, "r1,c1,", "r1,c3,", "r1,c5,")),
        r"have 1 with truth 1 and 4 with truth 0; the jackknife AUC needs at least two of each",
    ),
}


@pytest.mark.parametrize("problem", list(BAD_FILES))
def test_a_bad_file_gets_an_error_naming_the_file_and_the_line_and_nothing_is_written(tmp_path, problem):
    content, message = BAD_FILES[problem]
    path = tmp_path / "bad.imrmc"
    path.write_text(content(small_study_rows()) + "\n")

    with pytest.raises(CommandError, match=message) as raised:
        run_mrmc(path, "--out", tmp_path / "out")

    assert str(path) in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_a_missing_file_gets_an_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read the file"):
        run_mrmc(tmp_path / "absent.imrmc")


def test_the_van_dyke_file_holds_5_readers_2_modalities_and_114_cases():
    lines = VAN_DYKE.read_text().splitlines()

    assert lines[5] == "BEGIN DATA:" and len(lines) == 6 + 114 + 2 * 5 * 114
