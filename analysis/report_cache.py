"""The analyst page's built reports: one per study and seed under ``DATA_DIR/reports/<study>/<seed>/``,
built again when the answers (second readings and reading times included), the predictions, the
participants (their background answers included), the gallery visits, the instructions seen, the
study's background form or repeated cases, or the options (seed, repetitions, models, whether missing
answers are allowed, the non-inferiority margin) have changed; otherwise served as built.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max, Sum

from analysis.report_files import REPORT_FILE, ReportOptions, write_report
from annotator.models import Answer, GalleryVisit, InstructionsSeen, config_of
from models_zoo.models import Prediction
from study.models import Study

FINGERPRINT_FILE = ".fingerprint"
# What a report holds changes with the code: a report built before the model-against-readers and
# agreement sections (2), or the readers, anchoring, test-retest, reading time and instructions (3)
# existed is built again rather than shown without them.
REPORT_FORMAT = 3


def report_directory(study: Study, seed: int) -> Path:
    return Path(settings.DATA_DIR) / "reports" / study.name / str(seed)


def _fingerprint(study: Study, options: ReportOptions) -> str:
    """What the report depends on: every option (``ReportOptions``: seed, repetitions, models,
    allow_missing, margin), and as they stand the answers (both readings, their times), participants
    (and their background answers), gallery visits, instructions seen, the study's background form
    and repeated cases, and predictions."""
    readings = list(
        Answer.readings.filter(participant__study=study)
        .values("repeat")
        .annotate(
            n=Count("id"), last=Max("id"), changed=Max("answered_at"), classes=Sum("class_index"),
            changes=Sum("changes"), seconds=Sum("active_seconds"),
        )
        .order_by("repeat")
    )
    predictions = list(
        Prediction.objects.filter(sample__dataset=study.dataset_id)
        .values("run__name")
        .annotate(n=Count("id"), last=Max("id"))
        .order_by("run__name")
    )
    participants = list(
        study.participants.order_by("pk").values_list(
            "pk", "pseudonym", "cohort__name", "simulated", "background", "background_given_at"
        )
    )
    gallery = GalleryVisit.objects.filter(participant__study=study).aggregate(
        n=Count("id"), last=Max("id"), latest=Max("visited_at")
    )
    instructions = InstructionsSeen.objects.filter(participant__study=study).aggregate(n=Count("id"), last=Max("id"))
    config = config_of(study)
    state = {
        "format": REPORT_FORMAT,
        "options": asdict(options),
        "answers": readings,
        "predictions": predictions,
        "participants": participants,
        "gallery": gallery,
        "instructions": instructions,
        "form": [config.background_fields, config.repeated_cases],
    }
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
