"""CSV cells a spreadsheet would run as formulas are written as text; numbers stay numbers."""

import csv
import io

import pytest

from site_machinery.csv_safety import safe_cell, unsafe_cell, writer


@pytest.mark.parametrize("text", ["=1+1", '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "-"])
def test_text_that_would_start_a_formula_gets_an_apostrophe(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-0.5, -3, 0.0, 1e-300, "-0.5", "+3", "-1e-3", "12", "-inf", "1E+5", "sample-01", "", None, True])
def test_numbers_and_ordinary_text_are_left_as_they_are(value):
    assert safe_cell(value) is value


@pytest.mark.parametrize("text", ["=1+1", "'=1+1", "''=x", "'plain", "-0.5", "'-0.5", "@a", "plain"])
def test_reading_a_cell_back_gives_the_text_that_was_written(text):
    assert unsafe_cell(safe_cell(text)) == text


def test_the_writer_neutralises_every_text_cell_of_a_row():
    buffer = io.StringIO()
    writer(buffer, lineterminator="\n").writerows([["=A1", -0.5, "-0.5", "@x", "ok"]])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'=A1", "-0.5", "-0.5", "'@x", "ok"]
