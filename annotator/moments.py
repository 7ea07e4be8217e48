"""How the pages write a moment in time, the same on every page and in every message."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def moment_text(moment: datetime) -> str:
    """A time as participants and coordinators read it on the pages: 2025-05-01 17:00 UTC."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
