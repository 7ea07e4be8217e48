"""Reading iMRMC files and running the ORH analysis of ``analysis.mrmc`` on every pair of modalities.

The iMRMC format (Gallas' iMRMC, also read by RJafroc): header lines, a line ``BEGIN DATA:``, then one
``reader,case,modality,score`` row per reading. Rows with reader ``-1`` give each case's truth in the
score column (the modality column is ignored; usually ``truth``). For ``fom="auc"`` scores are numbers
and truth is 0 or 1; for ``fom="accuracy"`` scores are class answers and truth the true class, as
labels (``2`` and ``2.0`` are the same class).

A malformed file raises ``IMRMCFileError`` naming the file and the line. Readings the analysis cannot
use are left out with a warning, when enough remain: a reader who read no case in one of the two
modalities compared, and cases not read by every remaining reader in both (the jackknife needs a
complete design).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.mrmc import (
    JackknifeFOM,
    ModalityComparison,
    accuracy_jackknife,
    auc_jackknife,
    compare_modalities,
)
from analysis.reader_arrays import jsonable

FILE_FOMS = ("auc", "accuracy")
TRUTH_READER = "-1"
BEGIN_DATA = "BEGIN DATA:"
# How many left-out cases a warning names before it only counts.
CASES_NAMED = 10


class IMRMCFileError(ValueError):
    """An iMRMC file that cannot be analysed; the message names the file and, where there is one, the line."""


@dataclass(frozen=True, eq=False)
class IMRMCData:
    """The readings of an iMRMC file: ``values[modality, reader, case]``, NaN where not read.

    For ``fom="auc"`` values are scores and ``truth`` is 0/1; for ``"accuracy"`` both are indices
    into ``classes``. Readers and modalities are in order of first appearance, cases in the order of
    their truth rows.
    """

    path: Path
    fom: str
    readers: tuple[str, ...]
    modalities: tuple[str, ...]
    cases: tuple[str, ...]
    classes: tuple[str, ...]
    truth: np.ndarray
    values: np.ndarray

    def modality_pairs(self) -> list[tuple[str, str]]:
        return [(a, b) for i, a in enumerate(self.modalities) for b in self.modalities[i + 1 :]]


def _class_label(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _class_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _number(text: str, where: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise IMRMCFileError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise IMRMCFileError(f"{where}: {what} {text!r} is not a finite number")
    return value


def _data_lines(path: Path) -> list[tuple[int, str]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise IMRMCFileError(f"{path}: cannot read the file ({error.strerror})") from None
    except UnicodeDecodeError:
        raise IMRMCFileError(f"{path}: not a UTF-8 text file") from None
    begin = next((n for n, line in enumerate(lines) if line.strip().upper() == BEGIN_DATA), None)
    if begin is None:
        raise IMRMCFileError(
            f"{path}: no '{BEGIN_DATA}' line (an iMRMC file has a header, then '{BEGIN_DATA}', then "
            "reader,case,modality,score rows)"
        )
    rows = [(number, line) for number, line in enumerate(lines[begin + 1 :], begin + 2) if line.strip()]
    if not rows:
        raise IMRMCFileError(f"{path}: no rows after '{BEGIN_DATA}' (line {begin + 1})")
    return rows


def read_imrmc(path: Path, *, fom: str = "auc") -> IMRMCData:
    """The readings and truth of an iMRMC file, checked (see the module's docstring)."""
    if fom not in FILE_FOMS:
        raise IMRMCFileError(f"fom: expected one of {FILE_FOMS}, got {fom!r}")
    path = Path(path)
    truth: dict[str, tuple[str, int]] = {}
    readings: dict[tuple[str, str, str], tuple[str, int]] = {}
    for number, line in _data_lines(path):
        where = f"{path}, line {number}"
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 4:
            raise IMRMCFileError(f"{where}: expected 4 fields reader,case,modality,score, got {len(fields)}: {line!r}")
        reader, case, modality, value = fields
        if not reader or not case:
            raise IMRMCFileError(f"{where}: the {'reader' if not reader else 'case'} field is empty")
        if reader == TRUTH_READER:
            if not value:
                raise IMRMCFileError(f"{where}: the truth of case {case!r} is missing")
            if fom == "auc" and _number(value, where, "truth") not in (0.0, 1.0):
                raise IMRMCFileError(f"{where}: truth {value!r} of case {case!r} is neither 0 nor 1 (--fom auc)")
            if case in truth:
                raise IMRMCFileError(f"{where}: case {case!r} has a second truth row (first on line {truth[case][1]})")
            truth[case] = (value, number)
            continue
        if not modality:
            raise IMRMCFileError(f"{where}: the modality field is empty")
        if not value:
            raise IMRMCFileError(f"{where}: the score of reader {reader!r} on case {case!r} is missing")
        if fom == "auc":
            _number(value, where, "score")
        key = (reader, case, modality)
        if key in readings:
            raise IMRMCFileError(
                f"{where}: reader {reader!r} read case {case!r} in modality {modality!r} twice "
                f"(first on line {readings[key][1]})"
            )
        readings[key] = (value, number)
    return _as_arrays(path, fom, truth, readings)


def _as_arrays(
    path: Path, fom: str, truth: dict[str, tuple[str, int]], readings: dict[tuple[str, str, str], tuple[str, int]]
) -> IMRMCData:
    if not readings:
        raise IMRMCFileError(f"{path}: no reader rows, only truth rows (reader {TRUTH_READER})")
    for (reader, case, _), (_, number) in readings.items():
        if case not in truth:
            raise IMRMCFileError(
                f"{path}, line {number}: case {case!r} read by reader {reader!r} has no truth row "
                f"({TRUTH_READER},{case},truth,VALUE)"
            )
    readers = tuple(dict.fromkeys(reader for reader, _, _ in readings))
    modalities = tuple(dict.fromkeys(modality for _, _, modality in readings))
    if len(readers) < 2:
        raise IMRMCFileError(f"{path}: only one reader ({readers[0]!r}); the ORH analysis needs at least two")
    if len(modalities) < 2:
        raise IMRMCFileError(f"{path}: only one modality ({modalities[0]!r}); the analysis compares two")
    cases = tuple(truth)
    classes, code = _coding(fom, [value for value, _ in (*truth.values(), *readings.values())])
    position = {case: k for k, case in enumerate(cases)}
    reader_at = {reader: j for j, reader in enumerate(readers)}
    modality_at = {modality: i for i, modality in enumerate(modalities)}
    values = np.full((len(modalities), len(readers), len(cases)), np.nan)
    for (reader, case, modality), (value, _) in readings.items():
        values[modality_at[modality], reader_at[reader], position[case]] = code(value)
    truth_values = np.array([code(truth[case][0]) for case in cases]).astype(np.int64)
    return IMRMCData(path, fom, readers, modalities, cases, classes, truth_values, values)


def _coding(fom: str, texts: list[str]) -> tuple[tuple[str, ...], Callable[[str], float]]:
    """The classes of the file (none for AUC) and how a score or truth text becomes a number."""
    if fom == "auc":
        return (), float
    classes = tuple(sorted({_class_label(text) for text in texts}, key=_class_order))
    index = {label: float(i) for i, label in enumerate(classes)}
    return classes, lambda text: index[_class_label(text)]


@dataclass(frozen=True, eq=False)
class PairAnalysis:
    """The ORH comparison of modality ``modality_a`` with ``modality_b``, and what was left out for it."""

    modality_a: str
    modality_b: str
    readers: tuple[str, ...]
    n_cases: int
    comparison: ModalityComparison
    warnings: tuple[str, ...]

    def json_rows(self, fom: str) -> list[dict[str, Any]]:
        """One ``mrmc.json`` row per variant; ``df2`` is null for the fixed-readers variant (infinite)."""
        reader_foms = {
            modality: dict(zip(self.readers, fom_values))
            for modality, fom_values in zip((self.modality_a, self.modality_b), self.comparison.reader_fom)
        }
        return [
            jsonable(
                {
                    "modality_a": self.modality_a,
                    "modality_b": self.modality_b,
                    "variant": test.variant,
                    "fom": fom,
                    "fom_a": self.comparison.fom_a,
                    "fom_b": self.comparison.fom_b,
                    **test.to_dict(),
                    "components": self.comparison.components.to_dict(),
                    "reader_foms": reader_foms,
                    "n_readers": len(self.readers),
                    "n_cases": self.n_cases,
                    "warnings": list(self.warnings),
                }
            )
            for test in self.comparison.tests
        ]


def _named(items: list[str]) -> str:
    shown = ", ".join(items[:CASES_NAMED])
    return shown + (f" and {len(items) - CASES_NAMED} more" if len(items) > CASES_NAMED else "")


def analyse_pair(data: IMRMCData, modality_a: str, modality_b: str, *, level: float = 0.95) -> PairAnalysis:
    """ORH comparison of two modalities of ``data``, leaving out (with a warning) what it cannot use."""
    block = data.values[[data.modalities.index(modality_a), data.modalities.index(modality_b)]]
    read = ~np.isnan(block)
    notes = []
    keep_reader = read.any(axis=2).all(axis=0)
    for j in np.flatnonzero(~keep_reader):
        missing = [m for m, row in zip((modality_a, modality_b), read[:, j]) if not row.any()]
        notes.append(f"left out reader {data.readers[j]!r}: read no case in modality {missing[0]!r}")
    readers = tuple(r for r, keep in zip(data.readers, keep_reader) if keep)
    pair = f"modalities {modality_a!r} and {modality_b!r}"
    if len(readers) < 2:
        raise IMRMCFileError(
            f"{data.path}: {pair}: {len(readers)} reader(s) read cases in both; the ORH analysis needs at least two"
        )
    complete = read[:, keep_reader].all(axis=(0, 1))
    if not complete.all():
        left_out = [case for case, keep in zip(data.cases, complete) if not keep]
        notes.append(
            f"left out {len(left_out)} of {len(data.cases)} cases not read by every reader in both modalities "
            f"(the jackknife needs every reader on every case): {_named(left_out)}"
        )
    values = block[:, keep_reader][:, :, complete]
    truth = data.truth[complete]
    foms = _jackknife(data, values, truth, pair)
    return PairAnalysis(
        modality_a=modality_a,
        modality_b=modality_b,
        readers=readers,
        n_cases=int(complete.sum()),
        comparison=compare_modalities(foms, level=level),
        warnings=tuple(notes),
    )


def _jackknife(data: IMRMCData, values: np.ndarray, truth: np.ndarray, pair: str) -> JackknifeFOM:
    if data.fom == "auc":
        positives, negatives = int(truth.sum()), int((truth == 0).sum())
        if min(positives, negatives) < 2:
            raise IMRMCFileError(
                f"{data.path}: {pair}: the cases read by every reader have {positives} with truth 1 and "
                f"{negatives} with truth 0; the jackknife AUC needs at least two of each"
            )
        return auc_jackknife(values, truth)
    if truth.size < 2:
        raise IMRMCFileError(f"{data.path}: {pair}: {truth.size} case(s) read by every reader; the jackknife needs two")
    return accuracy_jackknife(values.astype(np.int64), truth, max(2, len(data.classes)))


def analyse_file(path: Path, *, fom: str = "auc", level: float = 0.95) -> tuple[IMRMCData, list[PairAnalysis]]:
    """The file's readings and the ORH comparison of every pair of its modalities."""
    data = read_imrmc(path, fom=fom)
    return data, [analyse_pair(data, a, b, level=level) for a, b in data.modality_pairs()]
