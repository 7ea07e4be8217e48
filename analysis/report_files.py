"""The report as files: CSV tables (``table1/2/3/7.csv``, ``mrmc.csv``, ``agreement.csv``, one per
confusion matrix, ``readers.csv``, ``anchoring.csv``, ``test_retest.csv``, ``reading_time.csv``),
``report.json``, Figure 4 and accuracy by reading time (``reading_time``) as PNG and SVG, the cases'
panels and an ``index.html`` that opens offline (figures inline as data: URIs, no external request).

``write_report`` is what the ``report`` command calls, and ``analysis.report_cache`` for the analyst
page.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from django.template.loader import render_to_string

from analysis.figures import confusion_figure, reading_time_figure, render
from analysis.report import DEFAULT_REPETITIONS, DEFAULT_SEED, compute_report
from analysis.report_content import Case, Report
from analysis.report_tables import (
    READING_TIME_FIGURE,
    agreement_csv,
    anchoring_csv,
    confusion_csv,
    display_tables,
    mrmc_csv,
    readers_csv,
    reading_time_csv,
    retest_csv,
    table1_csv,
    table2_csv,
    table3_csv,
    table7_csv,
)
from analysis.study_arrays import default_model_runs, model_runs_named, study_answers
from annotator.models import config_of
from annotator.panel_composition import PANELS, render_panels
from study.models import Sample, Study
from study.store import sample_store

CASE_IMAGE_SIDE = 512
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class ReportOptions:
    """How a report is asked for: the seed of tie-breaking and bootstrap, the repetitions per ensemble,
    the model runs by name (the first is "the model"; none: every run that predicted the whole study),
    whether to compute on the answers there are when some are missing, and the non-inferiority margin
    of the model against the readers (none: no non-inferiority test)."""

    seed: int = DEFAULT_SEED
    repetitions: int = DEFAULT_REPETITIONS
    models: tuple[str, ...] = ()
    allow_missing: bool = False
    margin: float | None = None


@dataclass(frozen=True)
class WrittenReport:
    """A report and the folder of its files; ``files`` are relative paths in a stable order."""

    report: Report
    directory: Path
    files: tuple[str, ...]


def safe_name(name: str) -> str:
    """A reader's name as a file-name part: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "reader"


def _png(array: np.ndarray) -> bytes:
    image = Image.fromarray(array)
    image.thumbnail((CASE_IMAGE_SIDE, CASE_IMAGE_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _case_images(study: Study, cases: tuple[Case, ...]) -> tuple[dict[tuple[int, str], bytes], list[str]]:
    """The four panels of each case, at the study's display contrast; a case without pixels is noted."""
    percentiles = config_of(study).display_percentiles
    store = sample_store()
    samples = Sample.objects.filter(dataset=study.dataset_id, source_id__in=[c.sample_id for c in cases])
    keys = dict(samples.values_list("source_id", "store_key"))
    images, notes = {}, []
    for case in cases:
        try:
            pixels = np.asarray(store.open(keys[case.sample_id]))
        except (KeyError, OSError, ValueError) as error:
            notes.append(f"case {case.position}: no panels, the sample's pixels cannot be read ({error})")
            continue
        for panel, array in render_panels(pixels, percentiles).items():
            images[(case.position, panel)] = _png(array)
    return images, notes


def case_prefix(kind: str, position: int) -> str:
    return f"cases/{kind}-{position:04d}-"


def case_file(case: Case, panel: str) -> str:
    return f"{case_prefix(case.kind, case.position)}{panel}.png"


def _data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


def _write(directory: Path, relative: str, content: bytes, written: list[str]) -> None:
    path = directory / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    written.append(relative)


def _files_of_earlier_report(directory: Path) -> set[str]:
    """The files an earlier report wrote into ``directory``, as its ``report.json`` lists them."""
    try:
        files = json.loads((directory / REPORT_FILE).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return {name for name in files if isinstance(name, str)} if isinstance(files, list) else set()


def _remove_stale(directory: Path, stale: set[str]) -> None:
    """Delete what an earlier report wrote and this one did not (a reader who has left the study),
    so that the folder holds one report; files the report did not write are never touched."""
    root = directory.resolve()
    for name in stale:
        path = (directory / name).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()


def write_report(study: Study, directory: Path, options: ReportOptions) -> WrittenReport:
    """Compute the study's report and write all its files into ``directory``.

    Raises ``analysis.report_inputs.ReportError`` (``MissingAnswersError`` for missing answers) before
    writing anything when the study cannot be reported as asked.
    """
    runs = model_runs_named(study, list(options.models)) if options.models else default_model_runs(study)
    data = study_answers(study, runs)
    report = compute_report(
        data,
        seed=options.seed,
        repetitions=options.repetitions,
        allow_missing=options.allow_missing,
        margin=options.margin,
    )
    images, image_notes = _case_images(study, report.cases)
    if image_notes:
        report = replace(report, notes=report.notes + tuple(image_notes))

    directory.mkdir(parents=True, exist_ok=True)
    previous = _files_of_earlier_report(directory)
    written: list[str] = []
    _write(directory, "table2.csv", table2_csv(report.table2), written)
    _write(directory, "table3.csv", table3_csv(report.table3), written)
    _write(directory, "mrmc.csv", mrmc_csv(report), written)
    _write(directory, "agreement.csv", agreement_csv(report), written)
    if report.table1:
        _write(directory, "table1.csv", table1_csv(report.table1), written)
        _write(directory, "table7.csv", table7_csv(report), written)
    _write(directory, "readers.csv", readers_csv(report), written)
    _write(directory, "anchoring.csv", anchoring_csv(report), written)
    _write(directory, "test_retest.csv", retest_csv(report), written)
    _write(directory, "reading_time.csv", reading_time_csv(report), written)
    inline_figures = {}
    if any(row.quartiles for row in report.reading_time):
        figure = render(reading_time_figure(report.reading_time))
        _write(directory, READING_TIME_FIGURE, figure["png"], written)
        _write(directory, READING_TIME_FIGURE.replace(".png", ".svg"), figure["svg"], written)
        inline_figures[READING_TIME_FIGURE] = _data_uri(figure["png"], "image/png")

    confusion_files, taken = [], set()
    for confusion in report.confusions:
        stem = f"confusion_{safe_name(confusion.reader)}"
        while stem in taken:
            stem += "_"
        taken.add(stem)
        table = confusion_csv(confusion.counts, confusion.row_normalized, confusion.unanswered, report.class_names)
        _write(directory, f"{stem}.csv", table, written)
        figure = render(confusion_figure(confusion, report.class_names))
        _write(directory, f"{stem}.png", figure["png"], written)
        _write(directory, f"{stem}.svg", figure["svg"], written)
        confusion_files.append({"reader": confusion.reader, "png": figure["png"]})

    cases = []
    for case in report.cases:
        panels = []
        for panel in PANELS:
            image = images.get((case.position, panel))
            if image is not None:
                _write(directory, case_file(case, panel), image, written)
                panels.append({"name": panel, "file": case_file(case, panel), "uri": _data_uri(image, "image/png")})
        cases.append({"case": case, "panels": panels})

    document = report.to_dict()
    document["files"] = sorted(written + [REPORT_FILE, "index.html"])
    _write(directory, REPORT_FILE, (json.dumps(document, indent=1, allow_nan=False) + "\n").encode(), written)
    html = render_to_string(
        "analysis/report_offline.html",
        {
            "document": document,
            "tables": [
                replace(table, figure=inline_figures[table.figure]) if table.figure else table
                for table in display_tables(document)
            ],
            "confusions": [{"reader": c["reader"], "uri": _data_uri(c["png"], "image/png")} for c in confusion_files],
            "cases": cases,
        },
    )
    _write(directory, "index.html", html.encode(), written)
    _remove_stale(directory, previous - set(written))
    return WrittenReport(report=report, directory=directory, files=tuple(sorted(written)))
