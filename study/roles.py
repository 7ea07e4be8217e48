"""Roles of the study's staff: coordinators run studies, analysts read their reports.

A role is given for one study (``StudyRole``, ``grant ROLE USER --study NAME``) or for every study,
through the role's Django group (``grant ROLE USER --all-studies``, or the admin's groups), which is
how a lab head sees everything and how roles given before per-study grants keep working. Superusers
hold every role for every study.

The staff's pages fetch their study through ``study_for_role`` (behind ``role_required``), so the
rule is written once. A study not given to someone answers 404, as an unknown one does: its name
alone tells nothing.

A participant is not a role: whoever holds an invitation to a study takes part in it, and the rules
about participants are the web tool's (``annotator.access``).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from study.models import Study, StudyRole

COORDINATOR = StudyRole.Role.COORDINATOR.value
ANALYST = StudyRole.Role.ANALYST.value
ROLES = (COORDINATOR, ANALYST)


class UnknownRole(ValueError):
    pass


def role_group(role: str) -> Group:
    """The group whose members hold ``role`` for every study."""
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    group, _ = Group.objects.get_or_create(name=role)
    return group


def holds_for_every_study(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name=role).exists()


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    """Whether the user holds ``role`` for at least one study: the pages that list studies open."""
    if not user.is_authenticated:
        return False
    return holds_for_every_study(user, role) or StudyRole.objects.filter(user=user, role=role).exists()


def has_role_for(user: AbstractBaseUser | AnonymousUser, role: str, study: Study) -> bool:
    """Whether the user holds ``role`` for ``study``."""
    if not user.is_authenticated:
        return False
    return holds_for_every_study(user, role) or StudyRole.objects.filter(user=user, role=role, study=study).exists()


def studies_for(user: AbstractBaseUser | AnonymousUser, role: str) -> QuerySet[Study]:
    """The studies for which the user holds ``role``."""
    if not user.is_authenticated:
        return Study.objects.none()
    if holds_for_every_study(user, role):
        return Study.objects.all()
    return Study.objects.filter(staff_roles__user=user, staff_roles__role=role).distinct()


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
    A study not given to them answers 404, as an unknown one does."""
    if not has_role(request.user, role):
        raise PermissionDenied(f"This page needs the {role} role.")
    study = Study.objects.select_related("dataset").filter(name=study_name).first()
    if study is None or not has_role_for(request.user, role, study):
        raise Http404("No such study.")
    return study


def is_staff_of(user: AbstractBaseUser | AnonymousUser, study: Study) -> bool:
    """The study's coordinators and analysts see every sample of its data set."""
    return has_role_for(user, COORDINATOR, study) or has_role_for(user, ANALYST, study)
