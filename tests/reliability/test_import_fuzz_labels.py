"""Label files, intact and damaged, generated from a seed, through ``read_label_file`` (what the
``import_dataset`` command reads them with): each either gives exactly its labels, or a
``LabelFileError`` naming the file and, where one line is at fault, that line."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from study.labelfiles import LabelFileError, read_label_file
from study.labels import CYTO13

SEED = 20190507
ID_CHARACTERS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass
class LabelText:
    """A label file as lines, knowing which line holds which sample."""

    lines: list[str]
    line_of: dict[str, int]  # sample id -> 1-based line
    labels: dict[str, tuple[int, ...]]
    by_index: bool

    def text(self, newline: str = "\n") -> str:
        return newline.join(self.lines) + newline


def random_labels(rng: np.random.Generator) -> LabelText:
    by_index = bool(rng.integers(2))
    lines = ["Id,Target"] if by_index else []
    line_of, labels = {}, {}
    for _ in range(int(rng.integers(1, 12))):
        sample_id = "".join(rng.choice(ID_CHARACTERS, size=int(rng.integers(1, 12))))
        if sample_id in labels:
            continue
        classes = sorted({int(c) for c in rng.integers(0, len(CYTO13), size=int(rng.integers(1, 4)))})
        if rng.random() < 0.2:
            lines.append(" " * int(rng.integers(0, 3)))  # blank lines are allowed anywhere
        if by_index:
            lines.append(f"{sample_id},{' '.join(map(str, classes))}")
        else:
            names = [CYTO13.by_index(c).name for c in classes]
            lines.append(", ".join([sample_id, *(name.lower() if rng.random() < 0.3 else name for name in names)]))
        line_of[sample_id] = len(lines)
        labels[sample_id] = tuple(classes)
    return LabelText(lines, line_of, labels, by_index)


def pick_sample(rng: np.random.Generator, text: LabelText) -> str:
    return list(text.line_of)[int(rng.integers(len(text.line_of)))]


@dataclass(frozen=True)
class Expected:
    data: bytes
    labels: dict[str, tuple[int, ...]] | None = None  # read exactly these, or
    line: int | None = None  # fail on this line, or
    fragment: str = ""  # fail with this in the message
    either: bool = False  # random damage: any clear outcome will do


def intact(rng, text):
    delimiter = [",", "\t", ";"][int(rng.integers(3))]
    text.lines = [line.replace(",", delimiter) for line in text.lines]
    encoding = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"][int(rng.integers(5))]
    newline = "\r\n" if rng.integers(2) else "\n"
    body = text.text(newline)
    if encoding.endswith("-bom"):
        codec = encoding[: -len("-bom")]
        data = (codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE) + body.encode(codec)
    else:
        data = body.encode(encoding)
    return Expected(data, labels=text.labels)


def latin_1(rng, text):
    sample_id = pick_sample(rng, text)
    line = text.line_of[sample_id]
    text.lines[line - 1] = text.lines[line - 1].replace(sample_id, sample_id + "é", 1)
    return Expected(text.text().encode("latin-1"), line=line, fragment="is not UTF-8 text")


def utf_16_without_its_mark(rng, text):
    return Expected(text.text().encode("utf-16-le"), fragment="a NUL character")


def nul_inside(rng, text):
    sample_id = pick_sample(rng, text)
    line = text.line_of[sample_id]
    text.lines[line - 1] = text.lines[line - 1].replace(sample_id, sample_id + "\0", 1)
    return Expected(text.text().encode(), line=line, fragment="a NUL character")


def unknown_class(rng, text):
    sample_id = pick_sample(rng, text)
    line = text.line_of[sample_id]
    if text.by_index:
        not_indices = ["x", "1.5", "-1", "1_0", "+3", "\u0663"]
        value = str(int(rng.integers(len(CYTO13), 1000))) if rng.integers(2) else str(rng.choice(not_indices))
        text.lines[line - 1] += f" {value}"
        return Expected(text.text().encode(), line=line, fragment=f"unknown class index {value!r} in column 2")
    text.lines[line - 1] += ", Aggresome"
    return Expected(text.text().encode(), line=line, fragment="unknown class 'Aggresome'")


def duplicate_id(rng, text):
    sample_id = pick_sample(rng, text)
    text.lines.append(text.lines[text.line_of[sample_id] - 1])
    fragment = f"appears again (first on line {text.line_of[sample_id]})"
    return Expected(text.text().encode(), line=len(text.lines), fragment=fragment)


def missing_column(rng, text):
    sample_id = pick_sample(rng, text)
    line = text.line_of[sample_id]
    text.lines[line - 1] = sample_id
    fragment = "expected two columns" if text.by_index else "has no class"
    return Expected(text.text().encode(), line=line, fragment=fragment)


def header_without_target(rng, text):
    text.lines.insert(0, ["Id", "Id,Labels", "ID,Class"][int(rng.integers(3))])
    return Expected(text.text().encode(), line=1, fragment="is neither Target")


def empty(rng, text):
    variants = [b"", b"\n\n", b"   \r\n  ", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b",,,\n, ,\n"]
    return Expected(variants[int(rng.integers(len(variants)))], fragment="is empty")


def overlong_field(rng, text):
    text.lines.append('"' + "a" * 140_000)
    return Expected(text.text().encode(), line=len(text.lines), fragment="is not valid CSV")


def binary_junk(rng, text):
    return Expected(rng.bytes(int(rng.integers(1, 2000))), either=True)


def byte_flips(rng, text):
    data = bytearray(text.text().encode())
    for _ in range(int(rng.integers(1, 4))):
        position = int(rng.integers(len(data)))
        data[position] = int(rng.integers(256))
    return Expected(bytes(data), either=True)


def truncated(rng, text):
    data = text.text().encode("utf-16" if rng.integers(2) else "utf-8")
    return Expected(data[: int(rng.integers(1, len(data)))], either=True)


MAKERS = {
    maker.__name__.replace("_", " "): maker
    for maker in (
        intact, latin_1, utf_16_without_its_mark, nul_inside, unknown_class, duplicate_id, missing_column,
        header_without_target, empty, overlong_field, binary_junk, byte_flips, truncated,
    )
}
DRAWS = {"intact": 40, "unknown class": 40, "binary junk": 40, "byte flips": 80, "truncated": 50, "overlong field": 4}
CASES = [
    pytest.param(kind, draw, id=f"{kind}-{draw}") for kind in MAKERS for draw in range(DRAWS.get(kind, 24))
]


@pytest.mark.parametrize("kind, draw", CASES)
def test_a_label_file_gives_its_labels_or_an_error_naming_the_file_and_line(tmp_path, kind, draw):
    rng = np.random.default_rng(np.random.SeedSequence([SEED, list(MAKERS).index(kind), draw]))
    expected = MAKERS[kind](rng, random_labels(rng))
    path = tmp_path / ("labels.csv" if rng.integers(2) else "labels.txt")
    path.write_bytes(expected.data)

    try:
        result = read_label_file(path, CYTO13)
    except LabelFileError as error:
        message = str(error)
        assert expected.labels is None, message
        assert message.startswith(f"{path}: ") or message.startswith(f"{path}, line {error.line}: ")
        if expected.line is not None:
            assert error.line == expected.line, message
        assert expected.fragment in message
        return
    assert expected.either or expected.labels is not None, "a damaged file was read without an error"
    if expected.labels is not None:
        assert result.labels == expected.labels
    assert all(sample_id and classes for sample_id, classes in result.labels.items())
    assert all(0 <= c < len(CYTO13) for classes in result.labels.values() for c in classes)


def test_a_file_that_cannot_be_read_is_named(tmp_path):
    with pytest.raises(LabelFileError, match=f"{tmp_path}: cannot read the file"):
        read_label_file(Path(tmp_path), CYTO13)
