"""The one place that decides who may see what in the annotator.

Every view fetches its objects through these helpers, so an access rule is written once. A page a
person may not see answers 404 rather than 403 when its existence alone would tell them something
(another study, another participant's sample).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from annotator.models import Participant
from study.models import Study
from study.roles import has_role


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
    """The named study, for a user who holds ``role`` (call it from a ``role_required`` view)."""
    if not has_role(request.user, role):
        raise PermissionDenied(f"This page needs the {role} role.")
    try:
        return Study.objects.select_related("dataset").get(name=study_name)
    except Study.DoesNotExist:
        raise Http404("No such study.") from None


def participant_for(request: HttpRequest, study_name: str) -> Participant:
    """The signed-in user's own participation in the named study, or 404."""
    try:
        return Participant.objects.select_related("study", "study__dataset", "cohort").get(
            study__name=study_name, user_id=request.user.pk
        )
    except Participant.DoesNotExist:
        raise Http404("You do not take part in this study.") from None
