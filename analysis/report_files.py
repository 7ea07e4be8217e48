"""The report as files: CSV tables, ``report.json``, Figure 4 as PNG and SVG, the cases' panels and an
``index.html`` that opens offline (figures inline as data: URIs, no external request).

``write_report`` is what the ``report`` command and the analyst page both call; ``cached_report``
keeps one built report per study and seed under ``DATA_DIR/reports/<study>/<seed>/`` and builds it
again when the answers, predictions or options have changed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
from PIL import Image

from django.conf import settings
from django.db.models import Count, Max, Sum
from django.template.loader import render_to_string

from analysis.figures import confusion_figure, render
from analysis.readers import default_model_runs, model_runs_named, study_answers
from analysis.report import Case, Report, Table1Row, Table2Row, Table3Row, compute_report
from annotator.models import Answer, config_of
from annotator.panel_composition import PANELS, render_panels
from models_zoo.models import Prediction
from study.models import Sample, Study
from study.store import TrainingStore

CASE_IMAGE_SIDE = 512
REPORT_FILE = "report.json"
FINGERPRINT_FILE = ".fingerprint"


@dataclass(frozen=True)
class ReportOptions:
    seed: int = 0
    repetitions: int = 1000
    models: tuple[str, ...] = ()
    allow_missing: bool = False


@dataclass(frozen=True)
class WrittenReport:
    """A report and the folder of its files; ``files`` are relative paths in a stable order."""

    report: Report
    directory: Path
    files: tuple[str, ...]


def safe_name(name: str) -> str:
    """A reader's name as a file-name part: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "reader"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if np.isnan(value) else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(value) for value in row] for row in rows])
    return buffer.getvalue().encode()


def _table_csv(row_type, rows) -> bytes:
    names = [f.name for f in fields(row_type)]
    return _csv(names, [[getattr(row, name) for name in names] for row in rows])


TABLE2_COLUMNS = [
    "reader", "cohort", "simulated", "accuracy", "f1", "precision", "recall",
    "accuracy_ci_low", "accuracy_ci_high", "f1_ci_low", "f1_ci_high", "n_answered", "kind", "n_readers",
]


def table2_csv(rows: tuple[Table2Row, ...]) -> bytes:
    return _csv(TABLE2_COLUMNS, [[getattr(row, name) for name in TABLE2_COLUMNS] for row in rows])


def table7_csv(report: Report) -> bytes:
    models = list(report.table7.per_class_f1)
    values = np.stack([report.table7.per_class_f1[m] for m in models], axis=1)
    rows = [[name, *map(float, row)] for name, row in zip(report.class_names, values)]
    rows.append(["Mean", *map(float, values.mean(axis=0))])
    return _csv(["class", *models], rows)


def confusion_csv(counts: np.ndarray, normalized: np.ndarray, unanswered: np.ndarray, class_names) -> bytes:
    header = ["true_class", *class_names, "unanswered", "n_samples"]
    rows = [
        [name, *map(float, normalized_row), int(missing), int(count_row.sum() + missing)]
        for name, normalized_row, count_row, missing in zip(class_names, normalized, counts, unanswered)
    ]
    return _csv(header, rows)


def _png(array: np.ndarray) -> bytes:
    image = Image.fromarray(array)
    image.thumbnail((CASE_IMAGE_SIDE, CASE_IMAGE_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _case_images(study: Study, cases: tuple[Case, ...]) -> tuple[dict[tuple[int, str], bytes], list[str]]:
    """The four panels of each case, at the study's display contrast; a case without pixels is noted."""
    percentiles = config_of(study).display_percentiles
    store = TrainingStore(settings.STORE_DIR)
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

    Raises ``analysis.report.ReportError`` (``MissingAnswersError`` for missing answers) before
    writing anything when the study cannot be reported as asked.
    """
    runs = model_runs_named(study, list(options.models)) if options.models else default_model_runs(study)
    data = study_answers(study, runs)
    report = compute_report(
        data, seed=options.seed, repetitions=options.repetitions, allow_missing=options.allow_missing
    )
    images, image_notes = _case_images(study, report.cases)
    if image_notes:
        report = replace(report, notes=report.notes + tuple(image_notes))

    directory.mkdir(parents=True, exist_ok=True)
    previous = _files_of_earlier_report(directory)
    written: list[str] = []
    _write(directory, "table2.csv", table2_csv(report.table2), written)
    _write(directory, "table3.csv", _table_csv(Table3Row, report.table3), written)
    if report.table1:
        _write(directory, "table1.csv", _table_csv(Table1Row, report.table1), written)
        _write(directory, "table7.csv", table7_csv(report), written)

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
        confusion_files.append({"reader": confusion.reader, "stem": stem, "png": figure["png"]})

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
            "tables": display_tables(document),
            "confusions": [{"reader": c["reader"], "uri": _data_uri(c["png"], "image/png")} for c in confusion_files],
            "cases": cases,
        },
    )
    _write(directory, "index.html", html.encode(), written)
    _remove_stale(directory, previous - set(written))
    return WrittenReport(report=report, directory=directory, files=tuple(sorted(written)))


PVALUE_COLUMNS = {"p_value", "p_value_exact"}
COUNT_COLUMNS = {"n_answered", "n_readers", "n_samples"}


def _shown(column: str, value) -> str:
    """A cell as the page shows it: p-values in two significant digits, figures in three decimals."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "simulated" if value else ""
    if isinstance(value, float):
        if column in PVALUE_COLUMNS:
            return f"{value:.2g}"
        return f"{value:.3f}" if not value.is_integer() or column not in COUNT_COLUMNS else str(int(value))
    return str(value)


@dataclass(frozen=True)
class DisplayTable:
    name: str
    title: str
    file: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _display(name: str, title: str, file: str, records: list[dict], columns: list[str]) -> DisplayTable:
    rows = tuple(tuple(_shown(column, record.get(column)) for column in columns) for record in records)
    return DisplayTable(name, title, file, tuple(columns), rows)


def display_tables(document: dict) -> list[DisplayTable]:
    """Tables 2, 3, 1 and 7 of a ``report.json`` document, formatted for a page."""
    tables = [
        _display(
            "table2", "Table 2: accuracy, and F1, precision and recall averaged over classes", "table2.csv",
            document["table2"], TABLE2_COLUMNS,
        ),
        _display(
            "table3", f"Table 3: McNemar's test against {document['models'][0] if document['models'] else 'the model'}",
            "table3.csv", document["table3"], [f.name for f in fields(Table3Row)],
        ),
    ]
    if document["table1"]:
        tables.append(
            _display(
                "table1", "Table 1: models on the test split", "table1.csv", document["table1"],
                [f.name for f in fields(Table1Row)],
            )
        )
        per_class = document["table7"]["per_class_f1"]
        records = [
            {"class": name, **{model: values[i] for model, values in per_class.items()}}
            for i, name in enumerate(document["table7"]["class_names"])
        ]
        tables.append(_display("table7", "Table 7: F1 per class", "table7.csv", records, ["class", *per_class]))
    return tables


def reports_root(study: Study) -> Path:
    return Path(settings.DATA_DIR) / "reports" / study.name


def report_directory(study: Study, seed: int) -> Path:
    return reports_root(study) / str(seed)


def _fingerprint(study: Study, options: ReportOptions) -> str:
    """What the report depends on: the options, and the answers and predictions as they stand."""
    answers = Answer.objects.filter(participant__study=study).aggregate(
        n=Count("id"), last=Max("id"), changed=Max("answered_at"), classes=Sum("class_index"), changes=Sum("changes")
    )
    predictions = list(
        Prediction.objects.filter(sample__dataset=study.dataset_id)
        .values("run__name")
        .annotate(n=Count("id"), last=Max("id"))
        .order_by("run__name")
    )
    participants = list(study.participants.order_by("pk").values_list("pk", "pseudonym", "cohort__name", "simulated"))
    state = {"options": asdict(options), "answers": answers, "predictions": predictions, "participants": participants}
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def cached_report(study: Study, options: ReportOptions) -> dict:
    """The built report (``report.json`` as a dict) for the study and seed, built first if missing or stale.

    A build goes into a fresh temporary folder that replaces the old one when it is complete, so a
    reader of the folder never sees half a report.
    """
    target = report_directory(study, options.seed)
    fingerprint = _fingerprint(study, options)
    if (target / FINGERPRINT_FILE).is_file() and (target / FINGERPRINT_FILE).read_text() == fingerprint:
        return json.loads((target / REPORT_FILE).read_text())
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    try:
        write_report(study, building, options)
        (building / FINGERPRINT_FILE).write_text(fingerprint)
        retired = None
        if target.exists():
            retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=".retired-"))
            os.replace(target, retired / "old")
        os.replace(building, target)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return json.loads((target / REPORT_FILE).read_text())
