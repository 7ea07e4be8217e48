"""The report as files, the last step of its pipeline (inputs, computation, tables, writing): a CSV file
for each table with its own (``analysis.report_tables``) and for each confusion matrix, ``report.json``,
the figures as PNG and SVG (Figure 4, every reader's accuracy, the forest plot of the model against the
readers, accuracy by reading time, each reader alone and with the suggestion), the cases' panels and an ``index.html`` that opens offline (figures
inline as data: URIs, no external request).

``build_report`` is what the ``report`` command calls, and ``analysis.report_cache`` for the analyst
page: it gathers the inputs from the database, computes and writes. ``write_report`` writes a computed
report; it reads nothing but the sample store.
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

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

from analysis import report_words as words
from analysis.figures import (
    assistance_readers_figure,
    confusion_figure,
    forest_figure,
    readers_accuracy_figure,
    reading_time_figure,
    render,
)
from analysis.report import compute_report
from analysis.report_content import Case, Report, json_text
from analysis.report_inputs import CasePanels, ReportInputs, ReportOptions
from analysis.report_tables import (
    ASSISTANCE_READERS_FIGURE,
    FIGURE4,
    FIGURE4_AFTER,
    FOREST_FIGURE,
    READERS_FIGURE,
    READING_TIME_FIGURE,
    confusion_file,
    report_tables,
)
from analysis.study_arrays import report_inputs
from analysis.tables import csv_bytes, displayed
from annotator.panel_composition import PANEL_TITLES, PANELS, render_panels
from study.models import Study
from study.store import sample_store

CASE_IMAGE_SIDE = 512
REPORT_FILE = "report.json"
STYLE = "analysis/report.css"
FIGURE4_TITLE = "Figure 4: confusion matrices, rows normalized"
CASES_TITLE = "Cases every expert got wrong"


@dataclass(frozen=True)
class WrittenReport:
    """A report and the folder of its files; ``files`` are relative paths in a stable order."""

    report: Report
    directory: Path
    files: tuple[str, ...]


def compute(inputs: ReportInputs) -> Report:
    """The report of the inputs, as their options ask."""
    options = inputs.options
    return compute_report(
        inputs.answers, seed=options.seed, repetitions=options.repetitions, allow_missing=options.allow_missing,
        margin=options.margin, preface=inputs.preface,
    )


def build_report(study: Study, directory: Path, options: ReportOptions) -> WrittenReport:
    """Compute the study's report and write all its files into ``directory``.

    Raises ``analysis.report_inputs.ReportError`` (``MissingAnswersError`` for missing answers) before
    writing anything when the study cannot be reported as asked.
    """
    inputs = report_inputs(study, options)
    return write_report(compute(inputs), inputs.panels, directory)


def safe_name(name: str) -> str:
    """A reader's name as a file-name part: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "reader"


def case_file(case: Case, panel: str) -> str:
    return f"cases/{case.kind}-{case.position:04d}-{panel}.png"


def _png(array: np.ndarray) -> bytes:
    image = Image.fromarray(array)
    image.thumbnail((CASE_IMAGE_SIDE, CASE_IMAGE_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _data_uri(content: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


class _Folder:
    """The files written into a report's folder, in order, with the PNGs kept for ``index.html``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.written: list[str] = []
        self.images: dict[str, bytes] = {}

    def write(self, relative: str, content: bytes) -> None:
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        self.written.append(relative)
        if relative.endswith(".png"):
            self.images[relative] = content

    def figure(self, png_name: str, drawn) -> None:
        files = render(drawn)
        self.write(png_name, files["png"])
        self.write(png_name.removesuffix(".png") + ".svg", files["svg"])


def _case_panels(report: Report, panels: CasePanels) -> tuple[dict[tuple[int, str], bytes], tuple]:
    """The four panels of each case, at the study's display contrast; a case without pixels is noted."""
    store = sample_store()
    images, notes = {}, []
    for case in report.cases:
        try:
            pixels = np.asarray(store.open(panels.store_keys[case.sample_id]))
        except (KeyError, OSError, ValueError) as error:
            notes.append(words.case_without_panels_note(case.position, error))
            continue
        for panel, array in render_panels(pixels, panels.display_percentiles).items():
            images[(case.position, panel)] = _png(array)
    return images, tuple(notes)


def _confusion_names(report: Report) -> list[str]:
    """Each confusion matrix's file stem, ``confusion_<reader>``, told apart should two names look alike."""
    stems, taken = [], set()
    for confusion in report.confusions:
        stem = f"confusion_{safe_name(confusion.reader)}"
        while stem in taken:
            stem += "_"
        taken.add(stem)
        stems.append(stem)
    return stems


def _figures(report: Report, folder: _Folder) -> None:
    if any(row.accuracy is not None for row in report.readers):
        folder.figure(READERS_FIGURE, readers_accuracy_figure(report.readers, report.table2))
    if report.mrmc:
        folder.figure(FOREST_FIGURE, forest_figure(report.mrmc, report.margin))
    if any(row.quartiles for row in report.reading_time):
        folder.figure(READING_TIME_FIGURE, reading_time_figure(report.reading_time))
    if report.assistance is not None and report.assistance.readers:
        model = next((row for row in report.assistance.model_vs_aided if row.fom == "accuracy"), None)
        folder.figure(
            ASSISTANCE_READERS_FIGURE,
            assistance_readers_figure(
                report.assistance.readers, model and model.model, model and model.model_fom
            ),
        )


def write_report(report: Report, panels: CasePanels, directory: Path) -> WrittenReport:
    """Write a computed report's files into ``directory``; files an earlier report wrote there and this one
    does not are removed, any other file is left alone."""
    images, image_notes = _case_panels(report, panels)
    report = replace(report, notes=report.notes + image_notes)
    directory.mkdir(parents=True, exist_ok=True)
    previous = _files_of_earlier_report(directory)
    folder = _Folder(directory)
    _figures(report, folder)
    stems = _confusion_names(report)
    for stem, confusion in zip(stems, report.confusions):
        folder.figure(f"{stem}.png", confusion_figure(confusion, report.class_names))
    cases = []
    for case in report.cases:
        shown = []
        for panel in PANELS:
            image = images.get((case.position, panel))
            if image is not None:
                folder.write(case_file(case, panel), image)
                shown.append({"panel": panel, "title": PANEL_TITLES[panel], "file": case_file(case, panel)})
        cases.append(shown)

    document = report.to_dict()
    for entry, shown in zip(document["cases"], cases):
        entry["panels"] = shown
    for stem, entry in zip(stems, document["figure4"]):
        entry["file"] = f"{stem}.png"
        folder.write(f"{stem}.csv", csv_bytes(confusion_file(entry, report.class_names)))
    tables = report_tables(document)
    for table in tables:
        if table.columns:
            folder.write(table.file, csv_bytes(table))
    document["files"] = sorted(folder.written + [REPORT_FILE, "index.html"])
    folder.write(REPORT_FILE, json_text(document).encode())
    folder.write("index.html", offline_page(document, folder.images).encode())
    _remove_stale(directory, previous - set(folder.written))
    return WrittenReport(report=report, directory=directory, files=tuple(sorted(folder.written)))


def page_context(document: dict, source, file_base: str) -> dict:
    """What a report page shows of a document: its notes, its tables with their figures (Figure 4 after
    ``FIGURE4_AFTER``), the confusion matrices and the cases with their panels, and the contents.
    ``source(file)`` is the address of an image of the report on that page, ``file_base`` what a link to
    one of its files starts with."""
    shown = []
    for table in report_tables(document):
        if table.on_page:
            view = displayed(table)
            shown.append(replace(view, figure_src=source(view.figure.file)) if view.figure else view)
    split = next((i + 1 for i, table in enumerate(shown) if table.name == FIGURE4_AFTER), len(shown))
    contents = [(table.name, table.title) for table in shown[:split]] + [(FIGURE4, FIGURE4_TITLE)]
    contents += [(table.name, table.title) for table in shown[split:]] + [("cases", CASES_TITLE)]
    return {
        "document": document,
        "notes": document["notes"],
        "tables_before_figure4": shown[:split],
        "tables_after_figure4": shown[split:],
        "contents": contents,
        "confusions": [
            {**entry, "src": source(entry["file"]), "svg": entry["file"].removesuffix(".png") + ".svg"}
            for entry in document["figure4"]
            if "file" in entry
        ],
        "cases": [
            {**case, "panels": [{**panel, "src": source(panel["file"])} for panel in case.get("panels", [])]}
            for case in document["cases"]
        ],
        "file_base": file_base,
        "figure4_title": FIGURE4_TITLE,
        "figure4_method": words.FIGURE4_METHOD,
        "cases_title": CASES_TITLE,
        "cases_method": words.CASES_METHOD,
    }


def offline_page(document: dict, images: dict[str, bytes]) -> str:
    """``index.html``: the page with every figure inline and the style of the analyst's page, its links
    relative to the report's folder."""
    context = page_context(document, lambda file: _data_uri(images[file]), "")
    context["style"] = Path(finders.find(STYLE)).read_text()
    return render_to_string("analysis/report_offline.html", context)


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
