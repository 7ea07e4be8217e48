"""The participant's pages: accepting an invitation, the background form, the instructions, the
training phase, labelling, the final submission.

A case is addressed by its place in the participant's own seeded order (1-based), never by anything
that names the sample, so a URL tells nothing about the sample or about anyone else's order; a repeated
case's second reading is a place like any other. Before the study's cases a participant fills in the
study's background form (when it has one) and goes through their cohort's training phase (when it has
one): the case pages lead there until both are done. Outside the study's reading window no answer is
saved (``annotator.answers``), and every page says until when the study is open.
"""

from __future__ import annotations

import math

from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotator.access import participant_for
from annotator.answers import AnswerRejected, parse_body, save_answer, shown, submit, submit_first_session
from annotator.assistance import assistance_of
from annotator.forms import BackgroundForm, error_summary
from annotator.models import Arm, CaseOpening, InstructionsSeen, Invitation, Participant, Suggestion, hash_token
from annotator.operations import use_invitation
from annotator.panel_composition import PANEL_ALT, PANELS
from annotator.panels import case_occasion, panel_urls
from annotator.participant_flow import (
    ANY_ARM,
    CLASSES_PER_ROW,
    CaseReading,
    Standing,
    answers_by_number,
    case_reading,
    final_arm,
    readings_by_number,
    case_url,
    class_choices,
    first_unanswered,
    queue_key,
    study_url,
)

MAX_ANSWER_BODY_BYTES = 4096


@login_required
@require_GET
def participant_study(request: HttpRequest, study: str):
    """Where the participant carries on (``Standing.continue_url``)."""
    return redirect(Standing.of(participant_for(request, study)).continue_url())


@login_required
@require_http_methods(["GET", "POST"])
def participant_background(request: HttpRequest, study: str):
    """The study's questions about the participant, asked once, on first sign-in, before anything
    else; a refused form comes back saying what to put right. Nothing is taken once the study has
    closed."""
    participant = participant_for(request, study)
    standing = Standing.of(participant)
    questions = standing.config.background_fields
    if not questions or standing.submitted:
        return redirect("annotator:participant_study", study)
    refusal = standing.refusal_text() if not standing.takes_preparation else ""
    form = BackgroundForm(
        request.POST if request.method == "POST" and not refusal else None,
        questions=questions,
        initial=participant.background,
    )
    if form.is_bound and form.is_valid():
        participant.background = form.values()
        participant.background_given_at = timezone.now()
        participant.save(update_fields=["background", "background_given_at"])
        return redirect("annotator:participant_study", study)
    status = 400 if form.errors else 409 if refusal and request.method == "POST" else 200
    return render(
        request,
        "annotator/participant/background.html",
        {
            "participant": participant,
            "study": participant.study,
            "form": form,
            "errors": error_summary(form) if form.is_bound else [],
            "refusal": refusal,
            **standing.context(),
        },
        status=status,
    )


@login_required
@require_GET
def participant_instructions(request: HttpRequest, study: str):
    participant = participant_for(request, study)
    standing = Standing.of(participant)
    if participant.background_pending and not standing.submitted:
        return redirect("annotator:participant_background", study)
    # The wording the participant is shown is kept with them (``InstructionsSeen``), each arm's.
    InstructionsSeen.record(participant, standing.config.instructions)
    assistance = assistance_of(participant.study)
    if assistance.assisted and assistance.aided_instructions:
        InstructionsSeen.record(participant, assistance.aided_instructions)
    cases = participant.cases()
    start = first_unanswered(cases, answers_by_number(participant, cases)) or 1
    training = participant.training_pending and not standing.submitted
    start_url = study_url("participant_training", participant) if training else case_url(participant, start)
    return render(
        request,
        "annotator/participant/instructions.html",
        {
            "participant": participant,
            "study": participant.study,
            "config": standing.config,
            "classes": class_choices(participant),
            "total": len(cases),
            "training": training,
            "start_url": start_url,
            "assistance": assistance,
            **standing.context(),
        },
    )


@login_required
@require_GET
def participant_case(request: HttpRequest, study: str, number: int):
    participant = participant_for(request, study)
    standing = Standing.of(participant)
    if not standing.submitted:
        step = standing.step_before_cases()
        if step:
            return redirect(step)
        if standing.window_state == "not_open":
            return redirect("annotator:participant_instructions", study)
        if standing.between_sessions:
            return redirect("annotator:participant_done", study)
    session = standing.session
    cases = participant.cases(session)
    if not 1 <= number <= len(cases):
        raise Http404("No such case.")
    case = cases[number - 1]
    item = case.item
    answered = answers_by_number(participant, cases, session)
    assistance = standing.assistance
    readings = readings_by_number(participant, cases, session).get(number, {})
    reading = case_reading(assistance, case, readings, standing.case_arm(number))
    current = reading.current
    read_only = standing.submitted or standing.closed or (current is not None and not standing.config.answers_changeable)
    if not read_only:
        # A case opens in the arm it is read in first; a suggestion opens the aided reading, on the
        # server's own clock.
        CaseOpening.record(participant, item, repeat=case.repeat, arm=Arm.UNAIDED if assistance.sequential else reading.arm)
        if reading.suggestion is not None:
            CaseOpening.record(participant, item, repeat=case.repeat, arm=Arm.AIDED)
        if session == 2 and participant.second_session_started_at is None:
            Participant.objects.filter(pk=participant.pk, second_session_started_at__isnull=True).update(
                second_session_started_at=timezone.now()
            )
    occasion = case_occasion(participant.pk, number, session)
    display = panel_urls(participant.study, item.sample, occasion=occasion)
    full = panel_urls(participant.study, item.sample, resolution="full", occasion=occasion)
    has_next = number < len(cases)
    prefetch = []
    if has_next:
        next_occasion = case_occasion(participant.pk, number + 1, session)
        prefetch = list(panel_urls(participant.study, cases[number].item.sample, occasion=next_occasion).values())
    return render(
        request,
        "annotator/participant/case.html",
        {
            "participant": participant,
            "study": participant.study,
            "number": number,
            "total": len(cases),
            "panels": [(name, PANEL_ALT[name], display[name], full[name]) for name in PANELS],
            "classes": class_choices(participant),
            "class_rows": math.ceil(len(participant.study.label_set) / CLASSES_PER_ROW),
            "current": current.class_index if current else None,
            "reading": reading,
            "session": session,
            "suggestion": suggestion_context(participant.study, reading),
            "aided_instructions": assistance.aided_instructions if reading.suggestion else "",
            # The answer alone is saved before the page shows the suggestion, which its reload does.
            "waits_for_save": assistance.sequential and reading.arm == Arm.UNAIDED,
            "answered_numbers": sorted(answered),
            "read_only": read_only,
            "submitted": standing.submitted,
            "closed": standing.closed and not standing.submitted,
            "queue_key": queue_key(participant),
            "answer_url": reverse("annotator:participant_answer", args=[study, number]),
            "previous_url": case_url(participant, number - 1) if number > 1 else None,
            "next_url": case_url(participant, number + 1) if has_next else None,
            "after_answer_url": case_url(participant, number) if assistance.sequential and reading.arm == Arm.UNAIDED
            else _after(participant, number, len(cases)),
            "prefetch": prefetch,
            "gallery_open": standing.config.gallery_open,
            **standing.context(),
        },
    )


def _session_of(body: dict, standing: Standing) -> int:
    """The session an answer was given in: the participant's current one, which an answer kept in a
    browser from a session submitted since can no longer join."""
    session = body.get("session", standing.session)
    if session not in (1, 2) or isinstance(session, bool):
        raise AnswerRejected(f"session: expected 1 or 2, got {shown(session)}", 400)
    if session != standing.session:
        raise AnswerRejected(
            f"This answer was given in session {session}; you read session {standing.session} now, and answers "
            "of a submitted session can no longer change.",
            409,
        )
    return session


def suggestion_context(study, reading: CaseReading) -> dict | None:
    """The suggestion as the page shows it: the class's name, the probability in percent, the model's
    top three; and, in a sequential study, the reader's own answer alone."""
    suggestion = reading.suggestion
    if suggestion is None:
        return None
    label_set = study.label_set
    return {
        "name": label_set.by_index(suggestion.class_index).name,
        "percent": round(100 * suggestion.probability) if suggestion.probability is not None else None,
        "top": [(label_set.by_index(c).name, round(100 * p)) for c, p in suggestion.top],
        "alone": label_set.by_index(reading.alone.class_index).name if reading.alone else "",
        "alone_index": reading.alone.class_index if reading.alone else None,
    }


def _after(participant: Participant, number: int, total: int) -> str:
    """Where the page goes once case ``number`` is answered: the next case, or the submission page."""
    if number < total:
        return case_url(participant, number + 1)
    return reverse("annotator:participant_submit", args=[participant.study.name])


def _json_error(message: str, status: int, **details) -> JsonResponse:
    return JsonResponse({"error": message, **details}, status=status)


@require_POST
def participant_answer(request: HttpRequest, study: str, number: int):
    # A JSON endpoint answers a signed-out request with 401 rather than a redirect that fetch()
    # would follow to an HTML sign-in page and report as success.
    if not request.user.is_authenticated:
        return _json_error("You are signed out. Sign in again; your answer is kept in this browser.", 401)
    participant = participant_for(request, study)
    standing = Standing.of(participant)
    if standing.step_before_cases() and not participant.is_submitted:
        what = "background questions" if participant.background_pending else "training"
        return _json_error(f"Finish the {what} first; the study's cases open after it.", 409)
    if standing.between_sessions:
        return _json_error(standing.refusal_text(), 409)
    total = participant.case_count()
    if not 1 <= number <= total:
        return _json_error(f"There is no case {number}; this study has {total}.", 404)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _json_error("The request's Content-Length is not a number.", 400)
    # The declared length is checked before the body is read; a body sent without one, after.
    if declared > MAX_ANSWER_BODY_BYTES or len(request.body) > MAX_ANSWER_BODY_BYTES:
        return _json_error(f"The request body is larger than {MAX_ANSWER_BODY_BYTES} bytes.", 413)
    try:
        body = parse_body(request.body)
        session = _session_of(body, standing)
        case = participant.case_at(number, session)
        arm = body.get("arm", Arm.UNAIDED)
        if standing.assistance.crossover and arm != standing.case_arm(number):
            raise AnswerRejected(f"Case {number} of this session is read {standing.case_arm(number)}; reload the page.", 409)
        saved = save_answer(
            participant,
            case.item,
            body["class_index"],
            body.get("active_seconds"),
            body.get("answered_seconds_ago"),
            repeat=case.repeat,
            arm=arm,
            session=session,
        )
    except AnswerRejected as rejected:
        return _json_error(str(rejected), rejected.status, **rejected.details)
    return JsonResponse(
        {
            "number": number,
            "arm": saved.answer.arm,
            # Whether this answer finishes the case (an answer alone before a suggestion does not).
            "finished": final_arm(assistance_of(participant.study)) in (saved.answer.arm, ANY_ARM),
            "class_index": saved.answer.class_index,
            "changes": saved.answer.changes,
            "answered": saved.answered,
            "total": saved.total,
            "next": _after(participant, number, total),
        }
    )


@login_required
@require_http_methods(["GET", "POST"])
def participant_submit(request: HttpRequest, study: str):
    """GET: the confirmation page; POST: the final submission. Submitting with unanswered cases
    needs the explicit confirmation box ticked."""
    participant = participant_for(request, study)
    standing = Standing.of(participant)
    if standing.submitted or standing.between_sessions:
        return redirect("annotator:participant_done", study)
    step = standing.step_before_cases()
    if step:
        return redirect(step)
    cases = participant.cases(standing.session)
    answered = answers_by_number(participant, cases, standing.session)
    unanswered = [number for number in range(1, len(cases) + 1) if number not in answered]
    first_of_two = standing.assistance.crossover and standing.session == 1
    error = ""
    if request.method == "POST":
        if unanswered and request.POST.get("confirm_unanswered") != "yes":
            error = "Tick the box to confirm that you submit with unanswered cases, or answer them first."
        else:
            (submit_first_session if first_of_two else submit)(participant)
            return redirect("annotator:participant_done", study)
    return render(
        request,
        "annotator/participant/submit.html",
        {
            "study": participant.study,
            "total": len(cases),
            "answered": len(answered),
            "unanswered": [(number, case_url(participant, number)) for number in unanswered],
            "error": error,
            "queue_key": queue_key(participant),
            "first_of_two": first_of_two,
            "washout_days": standing.assistance.washout_days,
            **standing.context(),
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def participant_done(request: HttpRequest, study: str):
    participant = participant_for(request, study)
    standing = Standing.of(participant)
    if standing.between_sessions or (standing.session == 2 and not participant.is_submitted):
        return render(
            request,
            "annotator/participant/between_sessions.html",
            {
                "study": participant.study,
                "second_opens_at": standing.second_session_opens_at,
                "open": not standing.between_sessions,
                **standing.context(),
            },
        )
    if not participant.is_submitted:
        return redirect("annotator:participant_submit", study)
    cases = participant.cases(standing.session)
    answered = answers_by_number(participant, cases, standing.session)
    label_set = participant.study.label_set
    rows = [
        (number, case_url(participant, number), label_set.by_index(answered[number].class_index).name if number in answered else "")
        for number in range(1, len(cases) + 1)
    ]
    controlled = participant.study.suggestions.filter(source=Suggestion.Source.CONTROLLED).count()
    return render(
        request,
        "annotator/participant/done.html",
        {
            "study": participant.study,
            "participant": participant,
            "rows": rows,
            "answered": len(answered),
            "controlled": controlled,
            "n_suggestions": participant.study.suggestions.count(),
        },
    )


def username_for(participant: Participant) -> str:
    """A readable, unique user name made of the study's name and the pseudonym."""
    User = get_user_model()
    base = slugify(f"{participant.study.name}-{participant.pseudonym}")[:140] or "participant"
    candidate, suffix = base, 2
    while User.objects.filter(username=candidate).exists():
        candidate, suffix = f"{base}-{suffix}", suffix + 1
    return candidate


def _unusable_invitation(request: HttpRequest, token: str, known: Invitation | None = None, state: str = ""):
    """Why a link cannot be used: used already (with the user name it made, to sign in with), expired,
    revoked, its study closed, or unknown."""
    known = known or Invitation.objects.select_related("participant__user").filter(token_hash=hash_token(token)).first()
    account = known.participant.user if known and known.participant.user else None
    return render(
        request,
        "annotator/participant/invitation_unusable.html",
        {
            "state": state or (known.state if known else "unknown"),
            "username": account.get_username() if account and known.state == "used" else "",
            "closes_text": Standing.of(known.participant).context()["closes_text"] if known else "",
        },
        status=410 if known else 404,
    )


@sensitive_post_parameters("new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str):
    """First use of an invitation: the holder chooses a password, which creates their account (or,
    for a participant who already has one, sets a new password on it) and signs them in. Once the
    study has closed, a link not used yet no longer makes an account."""
    invitation = Invitation.find_usable(token)
    if invitation is None:
        return _unusable_invitation(request, token)
    participant = invitation.participant
    standing = Standing.of(participant)
    if standing.closed:
        return _unusable_invitation(request, token, invitation, state="closed")
    user = participant.user or get_user_model()(username=username_for(participant))
    form = SetPasswordForm(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if not use_invitation(invitation, user, form.cleaned_data["new_password1"]):
            return _unusable_invitation(request, token)
        # The password was just chosen, not checked by a backend: say which one holds the account.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("annotator:participant_study", participant.study.name)
    return render(
        request,
        "annotator/participant/welcome.html",
        {
            "participant": participant,
            "study": participant.study,
            "username": user.get_username(),
            "form": form,
            **standing.context(),
        },
    )
