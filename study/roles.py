"""Roles of the study's staff: coordinators run studies, analysts read their reports.

A role is given for one study (``StudyRole``, ``grant ROLE USER --study NAME``) or for every study,
through the role's Django group (``grant ROLE USER --all-studies``, or the admin's groups), which is
how a lab head sees everything and how roles given before per-study grants keep working. Superusers
hold every role for every study.

A participant is not a role: whoever holds an invitation to a study takes part in it.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.db.models import QuerySet

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
