"""Framing: what participants read says nothing of a model or a contest, and every wording of the
instructions a participant was shown is kept with them for the report."""

import hashlib
import re

import pytest

from django.urls import reverse

from annotator.models import Cohort, InstructionsSeen, config_of
from annotator.reader_data import instructions_seen
from tests.factories import reading_study

# Words that would tell a reader they are compared with a machine, or compete.
FRAMING = re.compile(
    r"\b(model|models|AI|artificial|machine|computer|algorithm|neural|network|deep learning|competition|compete|"
    r"contest|versus|vs\.?|benchmark|human-level|beat)\b",
    re.IGNORECASE,
)


@pytest.fixture
def reading(db):
    reading = reading_study("framing", test_samples=3, train_samples=13)
    config = config_of(reading.study)
    config.background_fields = [
        {"key": "years", "label": "Years of experience", "kind": "number", "options": [], "required": False}
    ]
    config.gallery_open = True
    config.save()
    Cohort.objects.filter(pk=reading.participant.cohort_id).update(training_required=True, practice_cases=2)
    return reading


def visible_text(html: str) -> str:
    """The words on a page, without its tags, attributes, scripts and URLs."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_default_instructions_are_empty_and_every_participant_page_is_neutral(client, reading):
    assert config_of(reading.study).instructions == ""
    client.force_login(reading.participant.user)
    study = reading.study.name
    pages = [
        reverse("annotator:participant_background", args=[study]),
        reverse("annotator:participant_instructions", args=[study]),
        reverse("annotator:participant_training", args=[study]),
        reverse("annotator:participant_practice", args=[study, 1]),
        reverse("annotator:gallery", args=[study]),
    ]
    texts = []

    def read(url):
        response = client.get(url)
        assert response.status_code == 200, url
        texts.append(visible_text(response.text))

    read(pages[0])
    client.post(pages[0], {"years": "4"})
    for page in pages[1:]:
        read(page)
    client.post(pages[3], {"class_index": "1"})
    read(pages[3])
    client.post(reverse("annotator:participant_practice", args=[study, 2]), {"class_index": "1"})
    read(reverse("annotator:participant_training_score", args=[study]))
    client.post(reverse("annotator:participant_training_score", args=[study]))
    read(reverse("annotator:participant_case", args=[study, 1]))
    read(reverse("annotator:participant_submit", args=[study]))
    found = sorted({match.group(0) for text in texts for match in FRAMING.finditer(text)})
    assert found == [], f"participant pages mention {found}"


def test_the_instructions_shown_are_recorded_with_the_participant_once_per_wording(client, reading):
    reading.participant.background_given_at = reading.participant.created_at
    reading.participant.save()
    client.force_login(reading.participant.user)
    page = reverse("annotator:participant_instructions", args=["framing"])
    config = config_of(reading.study)
    config.instructions = "Name where the protein is."
    config.save()
    client.get(page)
    client.get(page)
    config.instructions = "Name where the protein is. Take your time."
    config.save()
    client.get(page)

    seen = list(InstructionsSeen.objects.filter(participant=reading.participant).order_by("first_seen_at"))
    assert [row.text for row in seen] == ["Name where the protein is.", "Name where the protein is. Take your time."]
    assert seen[0].digest == hashlib.sha256(b"Name where the protein is.").hexdigest()

    report = instructions_seen(reading.study)
    assert set(report) == {"expert-01", "scholar-01"}
    assert [version.text for version in report["expert-01"]] == [row.text for row in seen]
    assert report["scholar-01"] == [], "never opened the instructions"


def test_the_background_form_comes_before_the_instructions_are_shown_and_recorded(client, reading):
    client.force_login(reading.participant.user)
    response = client.get(reverse("annotator:participant_instructions", args=["framing"]))
    assert response["Location"] == reverse("annotator:participant_background", args=["framing"])
    assert not InstructionsSeen.objects.exists()


def test_the_coordinators_instructions_field_asks_for_neutral_wording(client, reading):
    client.force_login(reading.coordinator)
    text = client.get(reverse("annotator:coordinator_study", args=["framing"])).text
    assert "Keep them neutral" in text
