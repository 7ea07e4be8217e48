"""The coordinator's pages: the studies, a study's configuration, reading window, background form and
cohorts, invitations, progress and the exports (answers, gallery visits). Every page needs the
coordinator role."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator.assistance import assistance_of, set_assistance, suggestion_source
from annotator.forms import (
    AssistanceForm,
    BackgroundFormSet,
    CohortForm,
    CohortSettingsFormSet,
    InviteForm,
    ReadingWindowForm,
    StudyConfigForm,
    background_initial,
    error_summary,
)
from annotator.models import Invitation, config_of
from annotator.answer_files import export_answers, export_gallery_visits
from annotator.operations import ensure_cohort, invite, study_progress, study_summaries
from study.operations import OperationError
from study.roles import COORDINATOR, role_required, studies_for, study_for_role


@role_required(COORDINATOR)
@require_GET
def coordinator_studies(request: HttpRequest):
    summaries = study_summaries(studies_for(request.user, COORDINATOR))
    return render(request, "annotator/coordinator/studies.html", {"summaries": summaries})


@role_required(COORDINATOR)
@require_http_methods(["GET", "POST"])
def coordinator_study(request: HttpRequest, study: str):
    """The study's set-up, in forms told apart by the button that sent them: the cohorts and how each
    is prepared (training phase, gallery), a new cohort, the reading window and repeated cases, the
    background form, and the presentation (instructions, class descriptions, contrast). A refused
    form comes back with a summary of what to put right; the rest of the page shows what is saved."""
    the_study = study_for_role(request, study, COORDINATOR)
    config = config_of(the_study)
    action = request.POST.get("action") if request.method == "POST" else None

    def bound(name: str):
        return request.POST if action == name else None

    # A bound model form writes the posted values into its instance while it validates: it gets a copy,
    # so that a refused save leaves the page's account of the saved configuration as it is.
    config_form = StudyConfigForm(bound("configure"), instance=copy(config))
    cohort_form = CohortForm(bound("add_cohort"), study=the_study)
    cohort_settings = CohortSettingsFormSet(bound("cohorts"), queryset=the_study.cohorts.order_by("name"), prefix="cohort")
    window_form = ReadingWindowForm(bound("window"), instance=copy(config), prefix="window")
    background_forms = BackgroundFormSet(bound("background"), initial=background_initial(config), prefix="background")
    assistance_form = AssistanceForm(
        bound("assistance"), study=the_study, runs=suggestion_source().runs(the_study),
        assistance=assistance_of(the_study), fixed=config.anyone_answered(), prefix="assistance",
    )
    forms_by_action = {
        "configure": config_form,
        "add_cohort": cohort_form,
        "cohorts": cohort_settings,
        "window": window_form,
        "background": background_forms,
        "assistance": assistance_form,
    }
    submitted = forms_by_action.get(action)
    if submitted is not None and submitted.is_valid():
        try:
            messages.success(request, save_study_form(the_study, action, submitted))
            return redirect("annotator:coordinator_study", the_study.name)
        except OperationError as error:
            submitted.add_error(None, str(error))
    return render(
        request,
        "annotator/coordinator/study.html",
        {
            "study": the_study,
            "config": config,
            "config_form": config_form,
            "cohort_form": cohort_form,
            "cohort_settings": cohort_settings,
            "cohort_rows": [(form, form.instance.participants.count()) for form in cohort_settings.forms],
            "window_form": window_form,
            "window_state": config.window_state(),
            "background_forms": background_forms,
            "assistance_form": assistance_form,
            "assistance": assistance_of(the_study),
            "errors": error_summary(submitted) if submitted is not None else [],
            "refused": action if submitted is not None else "",
        },
        status=400 if request.method == "POST" else 200,
    )


def save_study_form(study, action: str, form) -> str:
    """Save the valid form that ``action`` names; what the coordinator is told."""
    if action == "add_cohort":
        cohort = ensure_cohort(study, form.cleaned_data["name"])
        return f"Cohort {cohort.name} added."
    if action == "background":
        config = config_of(study)
        config.background_fields = form.questions()
        config.save(update_fields=["background_fields", "updated_at"])
        return f"The background form is saved ({len(config.background_fields)} questions)."
    if action == "assistance":
        assistance = set_assistance(study, form.settings())
        if not assistance.assisted:
            return "Readers read every case alone."
        return (
            f"Readers read {assistance.design}, with the suggestions of {assistance.source} frozen for the "
            f"study's {study.suggestions.count()} samples."
        )
    form.save()
    return {
        "configure": "The configuration is saved.",
        "cohorts": "The cohorts' training and gallery are saved.",
        "window": "The reading window and the repeated cases are saved.",
    }[action]


@never_cache
@role_required(COORDINATOR)
@require_http_methods(["GET", "POST"])
def coordinator_invite(request: HttpRequest, study: str):
    """Invite a batch of participants. The new links are shown in the answer to the POST and never
    again (only their hashes are stored), so the page is not cached."""
    the_study = study_for_role(request, study, COORDINATOR)
    form = InviteForm(request.POST if request.method == "POST" else None, study=the_study)
    issued = []
    if form.is_valid():
        issued = [
            (item, request.build_absolute_uri(item.path))
            for item in invite(the_study, form.cleaned_data["cohort"], form.cleaned_data["count"])
        ]
        form = InviteForm(initial=form.cleaned_data, study=the_study)
    invitations = list(
        Invitation.objects.filter(participant__study=the_study).select_related("participant__cohort", "participant__user")
    )
    for invitation in invitations:
        # Each one's state asks the study's configuration (its expiry): ask it once.
        invitation.participant.study = the_study
    return render(
        request,
        "annotator/coordinator/invite.html",
        {
            "study": the_study,
            "form": form,
            "issued": issued,
            "invitations": invitations,
            "expires_at": config_of(the_study).invitations_expire_at,
            "errors": error_summary(form) if form.is_bound else [],
        },
        status=400 if request.method == "POST" and form.errors else 200,
    )


@role_required(COORDINATOR)
@require_POST
def coordinator_revoke(request: HttpRequest, study: str, pk: int):
    the_study = study_for_role(request, study, COORDINATOR)
    invitation = Invitation.objects.filter(pk=pk, participant__study=the_study).select_related("participant").first()
    if invitation is None:
        raise Http404("No such invitation in this study.")
    if invitation.state == "open":
        invitation.revoke()
        messages.success(request, f"The invitation of {invitation.participant.pseudonym} is revoked.")
    else:
        messages.error(request, f"The invitation of {invitation.participant.pseudonym} was {invitation.state} already.")
    return redirect("annotator:coordinator_invite", the_study.name)


@role_required(COORDINATOR)
@require_GET
def coordinator_progress(request: HttpRequest, study: str):
    the_study = study_for_role(request, study, COORDINATOR)
    context = {"study": the_study, "progress": study_progress(the_study)}
    return render(request, "annotator/coordinator/progress.html", context)


def _csv_download(filename: str, write) -> HttpResponse:
    """A CSV file to download, ``write(response)`` filling it; never cached, since it holds answers."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    write(response)
    return response


@role_required(COORDINATOR)
@require_GET
def coordinator_export(request: HttpRequest, study: str):
    the_study = study_for_role(request, study, COORDINATOR)
    return _csv_download(f"{the_study.name}-answers.csv", lambda response: export_answers(the_study, response))


@role_required(COORDINATOR)
@require_GET
def coordinator_gallery_visits(request: HttpRequest, study: str):
    """Every look participants took at the training gallery, as CSV (``export_gallery_visits``)."""
    the_study = study_for_role(request, study, COORDINATOR)
    return _csv_download(
        f"{the_study.name}-gallery-visits.csv", lambda response: export_gallery_visits(the_study, response)
    )
