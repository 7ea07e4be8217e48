"""The analyst's pages: the studies with their answers and model runs, and a study's report.

A report is the ``report`` command's output (``analysis.report_files``), built on first view into
``DATA_DIR/reports/<study>/<seed>/`` and again when what it is made from changes
(``analysis.report_cache``). It shows the ground truth, the models' output and every reader's answers,
so only analysts see it (superusers hold every role); coordinators and participants do not.
"""

from __future__ import annotations

import math
from pathlib import Path

from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse

from analysis.report_cache import cached_report, report_directory
from analysis.report_files import REPORT_FILE, page_context
from analysis.report_inputs import DEFAULT_REPETITIONS, MissingAnswersError, ReportError, ReportOptions
from models_zoo.models import ModelRun
from study.roles import ANALYST, role_required, studies_for, study_for_role

INLINE_SUFFIXES = {".png"}


@role_required(ANALYST)
def studies(request):
    rows = []
    for study in studies_for(request.user, ANALYST).select_related("dataset").annotate(
        n_samples=Count("items", distinct=True),
        n_participants=Count("participants", distinct=True),
        n_simulated=Count("participants", filter=Q(participants__simulated=True), distinct=True),
        n_answers=Count("participants__answers", distinct=True),
    ):
        runs = (
            ModelRun.objects.for_dataset(study.dataset_id)
            .annotate(n_predictions=Count("predictions", filter=Q(predictions__sample__study_items__study=study)))
            .order_by("name")
        )
        rows.append({"study": study, "runs": runs})
    return render(request, "analysis/studies.html", {"rows": rows})


def _options(request) -> ReportOptions:
    seed = request.GET.get("seed", "0")
    if not seed.isdigit():
        raise ValueError(f"seed: expected a non-negative whole number, got {seed!r}")
    margin = request.GET.get("margin", "").strip() or None
    if margin is not None:
        try:
            margin = float(margin)
        except ValueError:
            margin = math.nan
        if not (math.isfinite(margin) and 0 < margin < 1):
            raise ValueError(
                f"margin: expected a difference of figures of merit between 0 and 1, got {request.GET['margin']!r}"
            )
    return ReportOptions(
        seed=int(seed),
        repetitions=DEFAULT_REPETITIONS,
        models=tuple(request.GET.getlist("model")),
        allow_missing=request.GET.get("allow_missing") == "1",
        margin=margin,
    )


@role_required(ANALYST)
def study_report(request, study: str):
    study_object = study_for_role(request, study, ANALYST)
    try:
        options = _options(request)
    except ValueError as error:
        return HttpResponseBadRequest(str(error))
    runs = ModelRun.objects.for_dataset(study_object.dataset_id).order_by("name")
    context = {"study": study_object, "options": options, "runs": runs}
    try:
        document = cached_report(study_object, options)
    except MissingAnswersError as error:
        context["missing"] = sorted(error.missing.items())
        context["n_samples"] = error.n_samples
        return render(request, "analysis/study_report.html", context)
    except ReportError as error:
        context["error"] = str(error)
        return render(request, "analysis/study_report.html", context, status=400)
    file_base = reverse("analysis:report_file", args=[study_object.name, options.seed, "-"])[:-1]
    context.update(page_context(document, lambda name: file_base + name, file_base))
    context["files"] = document["files"]
    return render(request, "analysis/study_report.html", context)


@role_required(ANALYST)
def report_file(request, study: str, seed: int, filename: str):
    """A file of a built report; PNGs inline (the page shows them), every other file as a download."""
    study_object = study_for_role(request, study, ANALYST)
    directory = report_directory(study_object, seed).resolve()
    path = (directory / filename).resolve()
    if (
        not path.is_relative_to(directory)
        or any(part.startswith(".") for part in Path(filename).parts)
        or not path.is_file()
        or not (directory / REPORT_FILE).is_file()
    ):
        raise Http404("No such report file; open the study's report page to build it.")
    inline = path.suffix in INLINE_SUFFIXES
    return FileResponse(path.open("rb"), as_attachment=not inline, filename=path.name)
