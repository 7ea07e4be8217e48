"""Roles of the study's staff, kept as Django groups so that the admin can give them too.

A participant is not a role: whoever holds an invitation to a study takes part in it.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group

COORDINATOR = "coordinator"
ANALYST = "analyst"
ROLES = (COORDINATOR, ANALYST)


class UnknownRole(ValueError):
    pass


def role_group(role: str) -> Group:
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    group, _ = Group.objects.get_or_create(name=role)
    return group


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    """Superusers hold every role; everyone else through membership of the role's group."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name=role).exists()
