"""A scan of everything a participant can fetch: pages, JSON, panels and their metadata, headers.

Nothing may reveal the truth of a test sample, a model's output, another participant's answer, a
sample's source id or store key, or its place in the study set.
"""

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse
from PIL import Image

from annotator.models import Answer
from models_zoo.models import ModelRun, Prediction
from study.models import Sample
from tests.factories import reading_study

PANEL_URL = re.compile(r"/panels/[^\"'/]+/")
MODEL_OUTPUT = "0.987654321"


@pytest.fixture
def reading(db):
    reading = reading_study("blind", test_samples=6, train_samples=4)
    run = ModelRun.objects.create(name="blind-model", kind="imported", dataset=reading.study.dataset, status="finished")
    for item in reading.study.items.all():
        Prediction.objects.create(run=run, sample=item.sample, probabilities=[float(MODEL_OUTPUT)] + [0.0] * 12, classes=[0])
    # The other participant has answered everything; none of it may show on the participant's pages.
    for item in reading.study.items.all():
        Answer.objects.create(
            participant=reading.other_participant, item=item, class_index=(item.position + 5) % 13,
            display_percentiles={},
        )
    return reading


def secrets_of(reading) -> list[str]:
    samples = Sample.objects.filter(dataset=reading.study.dataset)
    return (
        [s.source_id for s in samples]
        + [s.store_key for s in samples]
        + [MODEL_OUTPUT, reading.other_participant.pseudonym, "blind-model"]
    )


def case_pages(client, reading) -> list[str]:
    total = reading.study.items.count()
    return [
        client.get(reverse("annotator:participant_case", args=[reading.study.name, n])).content.decode()
        for n in range(1, total + 1)
    ]


def without_place(html: str) -> str:
    """A case page with what legitimately differs between cases removed: the panel URLs and the
    participant's own case number and navigation, and the CSRF token (masked anew for each response)."""
    html = PANEL_URL.sub("PANEL", html)
    html = re.sub(r'(csrfmiddlewaretoken" value|data-csrf-token)="[^"]+"', r'\1="TOKEN"', html)
    html = re.sub(r"/case/\d+/", "/case/N/", html)
    html = re.sub(r"<strong>\d+</strong>", "<strong>N</strong>", html)
    html = re.sub(r'data-number="\d+"', 'data-number="N"', html)
    return re.sub(r"<title>.*?</title>", "", html, flags=re.S)


def test_case_pages_do_not_differ_by_the_samples_truth(client, reading):
    client.force_login(reading.participant.user)
    pages = case_pages(client, reading)
    inner = {without_place(page) for page in pages[1:-1]}
    assert len(inner) == 1, "two case pages differ in more than their panels and their number"


def test_nothing_a_participant_fetches_names_a_sample_a_model_or_another_reader(client, reading):
    client.force_login(reading.participant.user)
    study = reading.study.name
    responses = [
        client.get(reverse("annotator:participant_study", args=[study]), follow=True),
        client.get(reverse("annotator:participant_instructions", args=[study])),
        client.get(reverse("annotator:gallery", args=[study])),
    ]
    for number in range(1, reading.study.items.count() + 1):
        case = client.get(reverse("annotator:participant_case", args=[study, number]))
        responses.append(case)
        for url in set(PANEL_URL.findall(case.content.decode())):
            responses.append(client.get(url))
        responses.append(
            client.post(
                reverse("annotator:participant_answer", args=[study, number]),
                {"class_index": 1, "active_seconds": 2},
                content_type="application/json",
            )
        )
    responses.append(client.get(reverse("annotator:participant_submit", args=[study])))
    leaks = []
    for response in responses:
        assert response.status_code == 200, (response.request["PATH_INFO"], response.status_code)
        texts = [f"{name}: {value}" for name, value in response.items()] + [response.request["PATH_INFO"]]
        if response["Content-Type"].startswith("image/"):
            content = b"".join(response.streaming_content) if response.streaming else response.content
            image = Image.open(io.BytesIO(content))
            assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info), image.info
            texts.append(content.decode("latin-1"))
        else:
            texts.append(response.content.decode())
        for secret in secrets_of(reading):
            leaks += [f"{response.request['PATH_INFO']} shows {secret!r}" for text in texts if secret in text]
    assert not leaks, "\n".join(sorted(set(leaks)))


def test_the_answer_reply_holds_only_the_participants_own_answer(client, reading):
    client.force_login(reading.participant.user)
    reply = client.post(
        reverse("annotator:participant_answer", args=[reading.study.name, 1]),
        {"class_index": 4, "active_seconds": 1},
        content_type="application/json",
    ).json()
    assert set(reply) == {"number", "arm", "finished", "class_index", "changes", "answered", "total", "next"}
    assert reply["class_index"] == 4 and reply["answered"] == 1


def test_a_sequential_study_shows_nothing_of_the_suggestion_before_the_answer_alone(client, db):
    """Before its stage a case page holds no trace of the suggestion; after it, the suggestion but never
    the model's name, whether it is right, or whether it was controlled."""
    from annotator.assistance import AssistanceSettings, set_assistance

    reading = reading_study("blind-aided", test_samples=6, train_samples=4)
    run = ModelRun.objects.create(name="blind-model", kind="imported", dataset=reading.study.dataset, status="finished")
    for item in reading.study.items.all():
        Prediction.objects.create(run=run, sample=item.sample, probabilities=[0.99] + [0.0] * 12, classes=[0])
    set_assistance(reading.study, AssistanceSettings("sequential", "blind-model"))
    client.force_login(reading.participant.user)
    for page in case_pages(client, reading):
        assert "suggest" not in page.lower() and "99%" not in page and "blind-model" not in page
    first = reading.participant.case_at(1)
    answer_url = reverse("annotator:participant_answer", args=[reading.study.name, 1])
    client.post(answer_url, '{"class_index": 5, "arm": "unaided"}', content_type="application/json")
    shown = client.get(reverse("annotator:participant_case", args=[reading.study.name, 1])).content.decode()
    assert "The model suggests" in shown and "99%" in shown
    for secret in ("blind-model", "controlled", "correct", first.item.sample.source_id):
        assert secret not in shown
