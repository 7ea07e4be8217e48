"""``{{ time|moment }}``: a time as every page shows it, 2025-05-01 17:00 UTC."""

from django import template

from annotator.moments import moment_text

register = template.Library()


@register.filter
def moment(value) -> str:
    return moment_text(value) if value else ""
