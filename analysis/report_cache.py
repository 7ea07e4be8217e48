"""The analyst page's built reports: one per study and seed under ``DATA_DIR/reports/<study>/<seed>/``,
kept with the key of what it was made from and built again when the key changes.

The key is derived, never listed by hand: the digest of the report's inputs as ``report_inputs`` gathers
them (``ReportInputs.digest``: every answer, reading time, second reading, gallery visit, background
answer, instruction seen, prediction, the cases' panels, the preface and the options), and the digest of
the code that turns inputs into files (the source files of ``analysis`` and of the packages below it,
and the versions of the numerical and plotting libraries). A new kind of input is part of the key as
soon as ``ReportInputs`` declares it; a change to the code rebuilds every report.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib
import numpy
import scipy
import statsmodels
from django.conf import settings

from analysis.report_files import REPORT_FILE, ReportOptions, compute, write_report
from analysis.study_arrays import report_inputs
from study.models import Study

KEY_FILE = ".key"
# The packages whose code makes a report: analysis and those it stands on (README, Architecture).
REPORT_PACKAGES = ("analysis", "annotator", "models_zoo", "study")
CODE_SUFFIXES = {".py", ".html", ".css"}


def report_directory(study: Study, seed: int) -> Path:
    return Path(settings.DATA_DIR) / "reports" / study.name / str(seed)


@functools.cache
def code_digest() -> str:
    """SHA-256 of the code that makes a report from its inputs, and of the libraries' versions."""
    hasher = hashlib.sha256()
    for package in REPORT_PACKAGES:
        root = Path(settings.BASE_DIR) / package
        for path in sorted(p for p in root.rglob("*") if p.suffix in CODE_SUFFIXES and "migrations" not in p.parts):
            hasher.update(path.relative_to(root.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for library in (matplotlib, numpy, scipy, statsmodels):
        hasher.update(f"{library.__name__} {library.__version__}\0".encode())
    return hasher.hexdigest()


def cached_report(study: Study, options: ReportOptions) -> dict:
    """The built report (``report.json`` as a dict) for the study and seed, built first if missing or
    made from other inputs or by other code.

    A build goes into a fresh temporary folder that replaces the old one when it is complete, so a
    reader of the folder never sees half a report.
    """
    target = report_directory(study, options.seed)
    inputs = report_inputs(study, options)
    key = f"{inputs.digest()} {code_digest()}"
    if (target / KEY_FILE).is_file() and (target / KEY_FILE).read_text() == key:
        return json.loads((target / REPORT_FILE).read_text())
    report = compute(inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    try:
        write_report(report, inputs.panels, building)
        (building / KEY_FILE).write_text(key)
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
