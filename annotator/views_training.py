"""A cohort's training phase: the class descriptions with an example each, practice cases with the
correct class shown after each choice, and the score; the study's cases open once it is done.

Practice cases are addressed by their place (1-based) in the participant's practice, like the study's
cases; they are training samples (``annotator.training``) and their answers are ``PracticeAnswer``
rows, which no export or report reads. A practice answer is final: the correct class is shown at once.
"""

from __future__ import annotations

import math

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from annotator.access import participant_for
from annotator.models import Participant
from annotator.panel_composition import PANEL_ALT, PANEL_TITLES, PANELS
from annotator.panels import TRAINING_EXAMPLE, panel_urls, practice_occasion
from annotator.participant_flow import CLASSES_PER_ROW, Standing, class_choices
from annotator.training import class_examples, practice_samples, practice_score, record_practice_answer


def _training_participant(request: HttpRequest, study: str) -> tuple[Participant, Standing, object]:
    """The participant and where they stand, or a redirect when the training is not theirs to do now:
    their cohort has none, they have submitted, or the background form comes first."""
    participant = participant_for(request, study)
    standing = Standing.of(participant)
    if participant.background_pending and standing.takes_preparation:
        return participant, standing, redirect("annotator:participant_background", study)
    if not participant.cohort.training_required or standing.submitted:
        return participant, standing, redirect("annotator:participant_study", study)
    return participant, standing, None


def practice_url(participant: Participant, number: int) -> str:
    return reverse("annotator:participant_practice", args=[participant.study.name, number])


def _next_practice(participant: Participant, total: int) -> str:
    """The first unanswered practice case, or the score when all are answered."""
    answered = set(participant.practice_answers.values_list("number", flat=True))
    number = next((n for n in range(1, total + 1) if n not in answered), None)
    if number is None:
        return reverse("annotator:participant_training_score", args=[participant.study.name])
    return practice_url(participant, number)


@login_required
@require_http_methods(["GET"])
def participant_training(request: HttpRequest, study: str):
    """The first part of the training: every class, its description and one training example."""
    participant, standing, elsewhere = _training_participant(request, study)
    if elsewhere:
        return elsewhere
    examples = class_examples(participant)
    classes = []
    for choice in class_choices(participant):
        example = examples.get(choice.index)
        urls = panel_urls(participant.study, example, occasion=TRAINING_EXAMPLE) if example else {}
        classes.append(
            {
                "name": choice.name,
                "description": choice.description,
                "panels": [(PANEL_TITLES[p], urls[p]) for p in PANELS] if urls else [],
            }
        )
    total = len(practice_samples(participant))
    return render(
        request,
        "annotator/training/overview.html",
        {
            "participant": participant,
            "study": participant.study,
            "classes": classes,
            "practice_total": total,
            "start_url": _next_practice(participant, total),
            "done": participant.training_finished_at is not None,
            "gallery_open": standing.config.gallery_open,
            **standing.context(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def participant_practice(request: HttpRequest, study: str, number: int):
    """GET: practice case ``number``, with the correct class once it is answered; POST: the answer."""
    participant, standing, elsewhere = _training_participant(request, study)
    if elsewhere:
        return elsewhere
    samples = practice_samples(participant)
    if not 1 <= number <= len(samples):
        raise Http404("No such practice case.")
    sample = samples[number - 1]
    given = participant.practice_answers.filter(number=number).first()
    if given is None:
        # Practice cases come in order: one further on waits for those before it.
        next_open = _next_practice(participant, len(samples))
        if next_open != practice_url(participant, number):
            return redirect(next_open)
    label_set = participant.study.label_set
    error = refusal = ""
    if request.method == "POST" and given is None and not standing.takes_preparation:
        refusal = standing.refusal_text()
    elif request.method == "POST":
        try:
            class_index = int(request.POST.get("class_index", ""))
            label_set.by_index(class_index)
        except (ValueError, KeyError):
            error = f"Choose one of the classes (0-{len(label_set) - 1})."
        else:
            record_practice_answer(participant, number, sample, class_index)
            return redirect(practice_url(participant, number))
    display = panel_urls(participant.study, sample, occasion=practice_occasion(participant.pk, number))
    truth = sample.class_indices[0]
    return render(
        request,
        "annotator/training/practice.html",
        {
            "participant": participant,
            "study": participant.study,
            "number": number,
            "total": len(samples),
            "panels": [(name, PANEL_ALT[name], display[name]) for name in PANELS],
            "classes": class_choices(participant),
            "class_rows": math.ceil(len(label_set) / CLASSES_PER_ROW),
            "given": given,
            "chosen": given.class_index if given else None,
            "truth": truth if given else None,
            "truth_name": label_set.by_index(truth).name if given else "",
            "chosen_name": label_set.by_index(given.class_index).name if given else "",
            "next_url": practice_url(participant, number + 1) if number < len(samples) else reverse(
                "annotator:participant_training_score", args=[study]
            ),
            "error": error or refusal,
            **standing.context(),
        },
        status=409 if refusal else 400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def participant_training_score(request: HttpRequest, study: str):
    """GET: the score of the practice; POST: the training is done, on to the study's cases."""
    participant, standing, elsewhere = _training_participant(request, study)
    if elsewhere:
        return elsewhere
    samples = practice_samples(participant)
    next_open = _next_practice(participant, len(samples))
    if next_open != reverse("annotator:participant_training_score", args=[study]):
        return redirect(next_open)
    if request.method == "POST":
        if participant.training_finished_at is None:
            participant.training_finished_at = timezone.now()
            participant.save(update_fields=["training_finished_at"])
        return redirect(standing.continue_url())
    label_set = participant.study.label_set
    rows = [
        (
            answer.number,
            practice_url(participant, answer.number),
            label_set.by_index(answer.class_index).name,
            ", ".join(label_set.by_index(i).name for i in answer.sample.class_indices),
            answer.correct,
        )
        for answer in participant.practice_answers.select_related("sample").prefetch_related("sample__reference_labels")
    ]
    return render(
        request,
        "annotator/training/score.html",
        {
            "participant": participant,
            "study": participant.study,
            "score": practice_score(participant),
            "rows": rows,
            "done": participant.training_finished_at is not None,
            **standing.context(),
        },
    )
