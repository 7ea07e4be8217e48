"""A cohort's training phase: the coordinator requires it per cohort; the participant learns the
classes from training examples, practises with the answer shown after each choice, sees a score, and
only then reaches the study's cases. Practice answers stay out of the study's answers."""

import io
import re

import pytest

from django.test import Client
from django.urls import reverse

from annotator.answer_files import export_answers
from annotator.models import Answer, Cohort, PanelToken, PracticeAnswer, config_of
from annotator.training import practice_samples
from study.models import Sample
from tests.annotator.test_gallery import add_sample
from tests.factories import reading_study

PRACTICE = 5
PANEL_URL = re.compile(r"/panels/([0-9a-f]+)/")


@pytest.fixture
def reading(db):
    """A study whose scholar cohort trains on 5 practice cases, from 13 single-location training samples
    (one per class) and one with two locations, which is never a practice case."""
    reading = reading_study("train", test_samples=4, train_samples=13)
    add_sample(reading.study.dataset, "two-locations", "train", [0, 1])
    Cohort.objects.filter(pk=reading.other_participant.cohort_id).update(training_required=True, practice_cases=PRACTICE)
    reading.other_participant.refresh_from_db()
    config = config_of(reading.study)
    config.gallery_open = False
    config.class_descriptions = {"0": "Long straight fibres across the cell."}
    config.save()
    return reading


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name, *args):
    return reverse(f"annotator:{name}", args=["train", *args])


def practise(client, scholar, choose=lambda sample: sample.class_indices[0]):
    """Answer every practice case with ``choose``."""
    for number, sample in enumerate(practice_samples(scholar), start=1):
        response = client.post(url("participant_practice", number), {"class_index": choose(sample)})
        assert response.status_code == 302 and response["Location"] == url("participant_practice", number)


def test_the_coordinator_requires_the_training_per_cohort(client, reading):
    client.force_login(reading.coordinator)
    expert, scholar = reading.study.cohorts.order_by("name")
    data = {
        "action": "cohorts",
        "cohort-TOTAL_FORMS": "2", "cohort-INITIAL_FORMS": "2", "cohort-MIN_NUM_FORMS": "0", "cohort-MAX_NUM_FORMS": "1000",
        "cohort-0-id": expert.pk, "cohort-0-practice_cases": "20", "cohort-0-gallery_scope": "all",
        "cohort-1-id": scholar.pk, "cohort-1-training_required": "on", "cohort-1-practice_cases": "12",
        "cohort-1-gallery_scope": "single",
    }
    assert client.post(url("coordinator_study"), data).status_code == 302
    expert.refresh_from_db()
    scholar.refresh_from_db()
    assert (expert.training_required, expert.gallery_scope) == (False, "all")
    assert (scholar.training_required, scholar.practice_cases, scholar.gallery_scope) == (True, 12, "single")

    data["cohort-1-practice_cases"] = "-1"
    response = client.post(url("coordinator_study"), data)
    assert response.status_code == 400
    assert response.context["cohort_settings"].forms[1].errors["practice_cases"]


def test_the_study_cases_lead_to_the_training_until_it_is_done(reading):
    client = signed_in(reading.other_participant.user)
    for name, args in (("participant_case", [1]), ("participant_submit", [])):
        response = client.get(url(name, *args))
        assert response.status_code == 302 and response["Location"] == url("participant_training"), name
    refused = client.post(url("participant_answer", 1), {"class_index": 1}, content_type="application/json")
    assert refused.status_code == 409 and "training" in refused.json()["error"]
    instructions = client.get(url("participant_instructions")).text
    assert url("participant_training") in instructions and "Start the training" in instructions
    # The expert's cohort has no training: their cases are open.
    assert signed_in(reading.participant.user).get(url("participant_case", 1)).status_code == 200


def test_the_training_begins_with_every_class_described_with_a_training_example(reading):
    client = signed_in(reading.other_participant.user)
    response = client.get(url("participant_training"))
    assert response.status_code == 200
    text = response.text
    for label_class in reading.study.label_set.classes:
        assert f"<h2>{label_class.name}</h2>" in text.replace("&#x27;", "'")
    assert "Long straight fibres across the cell." in text
    tokens = set(PANEL_URL.findall(text))
    shown = set(PanelToken.objects.filter(token__in=tokens).values_list("sample__split", flat=True))
    assert shown == {"train"}, "examples come from the training split only"
    samples = Sample.objects.filter(pk__in=PanelToken.objects.filter(token__in=tokens).values("sample"))
    assert all(len(sample.class_indices) == 1 for sample in samples)
    # The gallery is closed, yet the training's examples are shown to this participant.
    assert client.get(PANEL_URL.search(text).group(0)).status_code == 200
    assert signed_in(reading.participant.user).get(PANEL_URL.search(text).group(0)).status_code == 404


def test_practice_cases_are_single_location_training_samples_chosen_per_participant(reading):
    scholar = reading.other_participant
    chosen = practice_samples(scholar)
    assert len(chosen) == PRACTICE and len(set(chosen)) == PRACTICE
    assert all(s.split == "train" and len(s.class_indices) == 1 for s in chosen)
    assert practice_samples(scholar) == chosen, "the same every time"
    Cohort.objects.filter(pk=scholar.cohort_id).update(practice_cases=8)
    scholar.refresh_from_db()
    assert practice_samples(scholar)[:PRACTICE] == chosen, "more practice keeps the cases of less"
    Cohort.objects.filter(pk=scholar.cohort_id).update(practice_cases=PRACTICE)
    scholar.refresh_from_db()
    others = [practice_samples(scholar.__class__(study=scholar.study, cohort=scholar.cohort, order_seed=seed))
              for seed in range(5)]
    assert len({tuple(s.pk for s in samples) for samples in others}) > 1


def test_after_each_choice_the_correct_class_is_shown_and_the_answer_stays(reading):
    scholar = reading.other_participant
    client = signed_in(scholar.user)
    sample = practice_samples(scholar)[0]
    truth = sample.class_indices[0]
    wrong = (truth + 1) % 13
    page = client.get(url("participant_practice", 1)).text
    assert 'id="next-practice"' not in page and "the correct one is shown next" in page
    assert PANEL_URL.search(page)

    client.post(url("participant_practice", 1), {"class_index": wrong})
    page = client.get(url("participant_practice", 1)).text
    names = reading.study.label_set
    assert f"Not quite: this is <strong>{names.by_index(truth).name}</strong>; you chose {names.by_index(wrong).name}" in page
    assert url("participant_practice", 2) in page

    client.post(url("participant_practice", 1), {"class_index": truth})
    answer = PracticeAnswer.objects.get(participant=scholar, number=1)
    assert (answer.class_index, answer.correct, answer.sample) == (wrong, False, sample), "the first answer counts"

    client.post(url("participant_practice", 2), {"class_index": practice_samples(scholar)[1].class_indices[0]})
    assert "Correct: this is" in client.get(url("participant_practice", 2)).text


def test_practice_cases_come_in_order_and_a_bad_answer_is_refused(reading):
    client = signed_in(reading.other_participant.user)
    response = client.get(url("participant_practice", 3))
    assert response.status_code == 302 and response["Location"] == url("participant_practice", 1)
    assert client.get(url("participant_practice", PRACTICE + 1)).status_code == 404
    response = client.post(url("participant_practice", 1), {"class_index": "99"})
    assert response.status_code == 400 and "Choose one of the classes" in response.text
    assert not PracticeAnswer.objects.exists()


def test_the_score_comes_at_the_end_and_then_the_study_opens(reading):
    scholar = reading.other_participant
    client = signed_in(scholar.user)
    client.get(url("participant_instructions"))
    assert client.get(url("participant_training_score"))["Location"] == url("participant_practice", 1)
    samples = practice_samples(scholar)
    wrong_on = {samples[0].pk, samples[3].pk}
    practise(client, scholar, lambda s: (s.class_indices[0] + 1) % 13 if s.pk in wrong_on else s.class_indices[0])

    text = client.get(url("participant_training_score")).text
    assert "You chose the correct location in <strong>3 of 5</strong> practice samples (60%)" in text
    assert text.count('class="wrong"') == 2
    response = client.post(url("participant_training_score"))
    assert response.status_code == 302 and response["Location"] == url("participant_case", 1)
    scholar.refresh_from_db()
    assert scholar.training_finished_at is not None
    assert client.get(url("participant_case", 1)).status_code == 200


def test_practice_answers_never_enter_the_study_answers_or_their_export(reading):
    scholar = reading.other_participant
    client = signed_in(scholar.user)
    practise(client, scholar)
    assert PracticeAnswer.objects.filter(participant=scholar).count() == PRACTICE
    assert not Answer.readings.exists()
    out = io.StringIO()
    assert export_answers(reading.study, out) == 0
    for sample in practice_samples(scholar):
        assert sample.source_id not in out.getvalue()


def test_practice_pages_name_no_sample(reading):
    scholar = reading.other_participant
    client = signed_in(scholar.user)
    practise(client, scholar)
    pages = [client.get(url("participant_training")).text, client.get(url("participant_training_score")).text]
    pages += [client.get(url("participant_practice", n)).text for n in range(1, PRACTICE + 1)]
    secrets = [s.source_id for s in reading.study.dataset.samples.all()] + [
        s.store_key for s in reading.study.dataset.samples.all()
    ]
    assert not [secret for secret in secrets for page in pages if secret in page]


def test_a_cohort_without_training_is_sent_on_from_the_training_pages(reading):
    client = signed_in(reading.participant.user)
    for name, args in (("participant_training", []), ("participant_practice", [1]), ("participant_training_score", [])):
        response = client.get(url(name, *args))
        assert response.status_code == 302 and response["Location"] == url("participant_study"), name


def test_without_training_samples_the_training_is_the_classes_and_an_empty_score(db):
    reading = reading_study("bare", test_samples=3, train_samples=0)
    Cohort.objects.filter(pk=reading.other_participant.cohort_id).update(training_required=True)
    client = signed_in(reading.other_participant.user)
    client.get(reverse("annotator:participant_instructions", args=["bare"]))
    text = client.get(reverse("annotator:participant_training", args=["bare"])).text
    assert "No training example of this class." in text
    assert reverse("annotator:participant_training_score", args=["bare"]) in text
    response = client.post(reverse("annotator:participant_training_score", args=["bare"]))
    assert response["Location"] == reverse("annotator:participant_case", args=["bare", 1])
