"""Case pages served in the past, so that the active time a test saves fits in the time since."""

from datetime import timedelta

from django.utils import timezone

from annotator.models import CaseOpening, Participant


def opened_an_hour_ago(*participants: Participant) -> None:
    """Record every case of the participants as first served to them an hour ago."""
    an_hour_ago = timezone.now() - timedelta(hours=1)
    for participant in participants:
        for item in participant.order():
            CaseOpening.record(participant, item, at=an_hour_ago)
