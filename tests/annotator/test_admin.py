"""The annotator's tables in the admin: every list and change page loads; answers stay read-only."""

import pytest

from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from annotator.answers import save_answer
from annotator.models import (
    Answer,
    AnswerHistory,
    CaseOpening,
    Cohort,
    GalleryVisit,
    InstructionsSeen,
    Invitation,
    PanelToken,
    Participant,
    PracticeAnswer,
    StudyConfig,
    config_of,
)
from annotator.operations import invite
from annotator.panels import panel_urls
from tests.factories import reading_study

MODELS = [
    StudyConfig, Cohort, Participant, Invitation, Answer, AnswerHistory, CaseOpening, GalleryVisit, PanelToken,
    PracticeAnswer, InstructionsSeen,
]


@pytest.fixture
def admin_client(client, db):
    """A signed-in superuser, and one row in every annotator table."""
    reading = reading_study("admin-pages", test_samples=2, train_samples=1)
    config_of(reading.study)
    item = reading.participant.order()[0]
    CaseOpening.record(reading.participant, item)
    save_answer(reading.participant, item, 3, 5)
    save_answer(reading.participant, item, 4, 5)
    invite(reading.study, "expert", 1)
    GalleryVisit.objects.create(
        participant=reading.participant, sample=reading.study.dataset.samples.get(split="train"), class_index=0
    )
    panel_urls(reading.study, item.sample)
    PracticeAnswer.objects.create(
        participant=reading.participant, number=1, sample=reading.study.dataset.samples.get(split="train"),
        class_index=0, correct=True,
    )
    InstructionsSeen.record(reading.participant, "Name where the protein is.")
    client.force_login(User.objects.create_superuser("root", password="a-long-admin-password-7"))
    return client


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_annotator_model_is_registered():
    assert all(admin.site.is_registered(model) for model in MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_list_and_change_pages_load(admin_client, model):
    assert model.objects.exists()
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "changelist"), {"q": "expert"}).status_code == 200
    assert admin_client.get(admin_url(model, "change", model.objects.first().pk)).status_code == 200


def test_an_invitation_shows_its_state_but_never_its_token_hash(admin_client):
    invitation = Invitation.objects.first()
    text = admin_client.get(admin_url(Invitation, "change", invitation.pk)).text
    assert "open" in text
    assert invitation.token_hash not in text and 'name="token_hash"' not in text
    assert invitation.token_hash not in admin_client.get(admin_url(Invitation, "changelist")).text
    assert admin_client.get(admin_url(Invitation, "add")).status_code == 403


def test_the_revoke_action_revokes_open_invitations(admin_client):
    invitation = Invitation.objects.first()
    admin_client.post(
        admin_url(Invitation, "changelist"), {"action": "revoke", admin.helpers.ACTION_CHECKBOX_NAME: [invitation.pk]}
    )
    invitation.refresh_from_db()
    assert invitation.state == "revoked"


def test_an_answer_shows_its_history_and_cannot_be_edited(admin_client):
    answer = Answer.objects.get(changes=1)
    response = admin_client.get(admin_url(Answer, "change", answer.pk))
    assert "history" in response.text.lower()
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 2
    admin_client.post(admin_url(Answer, "change", answer.pk), {"class_index": 0})
    answer.refresh_from_db()
    assert answer.class_index == 4
    assert admin_client.get(admin_url(Answer, "add")).status_code == 403


def test_the_answers_list_shows_second_readings_too(admin_client):
    first = Answer.objects.get()
    second = Answer.readings.create(
        participant=first.participant, item=first.item, repeat=1, class_index=7, display_percentiles={}
    )
    response = admin_client.get(admin_url(Answer, "changelist"))
    assert response.context["cl"].result_count == 2
    assert admin_client.get(admin_url(Answer, "change", second.pk)).status_code == 200
