"""The one place that decides who may see what, for every app's views.

Every view fetches its objects through these helpers, so an access rule is written once. A page a
person may not see answers 404 rather than 403 when its existence alone would tell them something
(another study, another participant's sample). Participations are reached through the user
(``user.participations``), so this module, at the bottom of the layers, imports no app above it.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from study.models import Sample, Study
from study.roles import ANALYST, COORDINATOR, has_role, has_role_for


def role_required(role: str):
    """Signed-out visitors go to the sign-in page; signed-in users without ``role`` get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                raise PermissionDenied(f"This page needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def study_for_role(request: HttpRequest, study_name: str, role: str) -> Study:
    """The named study, for a user who holds ``role`` for it (call it from a ``role_required`` view).
    A study not given to them answers 404, as an unknown one does: its name alone tells nothing."""
    if not has_role(request.user, role):
        raise PermissionDenied(f"This page needs the {role} role.")
    study = Study.objects.select_related("dataset").filter(name=study_name).first()
    if study is None or not has_role_for(request.user, role, study):
        raise Http404("No such study.")
    return study


def participant_for(request: HttpRequest, study_name: str):
    """The signed-in user's own participation (an ``annotator.Participant``) in the named study, or 404."""
    participation = None
    if request.user.is_authenticated:
        participation = (
            request.user.participations.select_related("study", "study__dataset", "cohort")
            .filter(study__name=study_name)
            .first()
        )
    if participation is None:
        raise Http404("You do not take part in this study.")
    return participation


def is_staff_of(request: HttpRequest, study: Study) -> bool:
    """The study's coordinators and analysts see every sample of its data set."""
    return has_role_for(request.user, COORDINATOR, study) or has_role_for(request.user, ANALYST, study)


def may_see_sample(request: HttpRequest, study: Study, sample: Sample, training_open) -> bool:
    """Staff see any sample of the study's data set; a participant sees the samples of their study
    set, and a training sample when ``training_open`` says so: a bool (the study's gallery is open),
    or a function of the participant and the sample (what their cohort's training phase and gallery
    show them). Anyone else gets Http404 from ``participant_for``."""
    if is_staff_of(request, study):
        return True
    participant = participant_for(request, study.name)
    if study.items.filter(sample_id=sample.pk).exists():
        return True
    if sample.split != Sample.Split.TRAIN:
        return False
    return bool(training_open(participant, sample) if callable(training_open) else training_open)
