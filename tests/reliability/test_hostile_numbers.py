"""Every number the site takes from a browser, in every JSON body, form field, query and address, gets
hostile values and is refused with a 4xx and a message, never a 500 and never stored."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from annotator.models import Answer, Cohort, PracticeAnswer, config_of
from study.store import CHANNELS
from tests.annotator.openings import opened_an_hour_ago
from tests.factories import reading_study

# As a browser would send them: in JSON, numbers (JSON has no NaN, but Python's parser takes it) and
# strings; in forms and addresses, text.
JSON_VALUES = [1e12, 1e308, 10**40, -1, float("nan"), 10**300, "3", "many", [3], {"a": 1}]
TEXT_VALUES = ["1e12", "1e308", "1" + "0" * 40, "-1", "NaN", "inf", "9" * 5000, "many", "0x10", "1e9999"]
ADDRESS_VALUES = ["1" + "0" * 40, "9" * 400, "99999999999999999999"]


@pytest.fixture
def site(db):
    reading = reading_study("hostile", test_samples=8, train_samples=4)
    config = config_of(reading.study)
    config.gallery_open = True
    config.background_fields = [
        {"key": "years", "label": "Years of experience", "kind": "number", "options": [], "required": True,
         "minimum": 0, "maximum": 60}
    ]
    config.save()
    Cohort.objects.filter(pk=reading.other_participant.cohort_id).update(training_required=True, practice_cases=2)
    for participant in (reading.participant, reading.other_participant):
        participant.background = {"years": 3}
        participant.background_given_at = participant.created_at
        participant.save()
    opened_an_hour_ago(reading.participant)
    return reading


def signed_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def refused_with_a_message(response) -> bool:
    if not 400 <= response.status_code < 500:
        return False
    if response["Content-Type"].startswith("application/json"):
        return bool(json.loads(response.content).get("error"))
    text = response.content.decode()
    return 'class="error-summary"' in text or 'class="errorlist' in text or 'role="alert"' in text or (
        response.status_code == 404 and "There is nothing here" in text
    )


@pytest.mark.parametrize("field", ["class_index", "active_seconds", "answered_seconds_ago"])
@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_the_answer_endpoint_refuses_every_hostile_number(site, field, value):
    body = {"class_index": 2, field: value}
    url = reverse("annotator:participant_answer", args=["hostile", 1])
    response = signed_in(site.participant.user).post(url, json.dumps(body), content_type="application/json")
    assert refused_with_a_message(response), (response.status_code, response.content[:200])
    assert not Answer.readings.exists()


@pytest.mark.parametrize("value", TEXT_VALUES)
def test_the_practice_form_refuses_every_hostile_class(site, value):
    url = reverse("annotator:participant_practice", args=["hostile", 1])
    response = signed_in(site.other_participant.user).post(url, {"class_index": value})
    assert refused_with_a_message(response), response.status_code
    assert not PracticeAnswer.objects.exists()


@pytest.mark.parametrize("value", TEXT_VALUES)
def test_the_background_form_refuses_every_hostile_number(site, value):
    site.participant.background_given_at = None
    site.participant.save()
    response = signed_in(site.participant.user).post(reverse("annotator:participant_background", args=["hostile"]), {"years": value})
    assert refused_with_a_message(response), response.status_code
    site.participant.refresh_from_db()
    assert site.participant.background_given_at is None


def configuration_form(site, **changes):
    data = {"action": "configure", "instructions": "", "gallery_open": "on"}
    for channel in CHANNELS:
        data[f"{channel}_low"], data[f"{channel}_high"] = 1, 99
    data.update(changes)
    return data


def window_form(**changes):
    data = {"action": "window", "window-repeated_cases": "0", "window-opens_at": "", "window-closes_at": "",
            "window-invitations_expire_at": ""}
    data.update({f"window-{name}": value for name, value in changes.items()})
    return data


def cohorts_form(site, practice_cases):
    cohorts = list(site.study.cohorts.order_by("name"))
    data = {"action": "cohorts", "cohort-TOTAL_FORMS": str(len(cohorts)), "cohort-INITIAL_FORMS": str(len(cohorts)),
            "cohort-MIN_NUM_FORMS": "0", "cohort-MAX_NUM_FORMS": "1000"}
    for number, cohort in enumerate(cohorts):
        data.update({f"cohort-{number}-id": str(cohort.pk), f"cohort-{number}-practice_cases": practice_cases,
                     f"cohort-{number}-gallery_scope": "single"})
    return data


def background_questions_form(minimum, maximum):
    return {"action": "background", "background-TOTAL_FORMS": "1", "background-INITIAL_FORMS": "0",
            "background-MIN_NUM_FORMS": "0", "background-MAX_NUM_FORMS": "1000", "background-0-label": "Years",
            "background-0-kind": "number", "background-0-options": "", "background-0-key": "",
            "background-0-minimum": minimum, "background-0-maximum": maximum}


COORDINATOR_FORMS = {
    "contrast low": lambda site, value: configuration_form(site, red_low=value),
    "contrast high": lambda site, value: configuration_form(site, green_high=value),
    "cases read twice": lambda site, value: window_form(repeated_cases=value),
    "practice cases": lambda site, value: cohorts_form(site, value),
    "lowest answer": lambda site, value: background_questions_form(value, "100"),
    "highest answer": lambda site, value: background_questions_form("0", value),
}


# Hostile elsewhere, sound here: a question's answers may go below zero (a temperature, a score).
SOUND = {("lowest answer", "-1")}


@pytest.mark.parametrize("form", sorted(COORDINATOR_FORMS))
@pytest.mark.parametrize("value", TEXT_VALUES)
def test_the_coordinators_forms_refuse_every_hostile_number(site, form, value):
    if (form, value) in SOUND:
        return
    before = config_of(site.study).__class__.objects.values().get(study=site.study)
    cohorts_before = list(site.study.cohorts.values())
    response = signed_in(site.coordinator).post(
        reverse("annotator:coordinator_study", args=["hostile"]), COORDINATOR_FORMS[form](site, value)
    )
    assert refused_with_a_message(response), response.status_code
    after = config_of(site.study).__class__.objects.values().get(study=site.study)
    assert {k: v for k, v in after.items() if k != "updated_at"} == {k: v for k, v in before.items() if k != "updated_at"}
    assert list(site.study.cohorts.values()) == cohorts_before


@pytest.mark.parametrize("moment", ["0001-01-01T00:00", "1900-01-01T00:00", "2999-12-31T23:59", "99999-01-01T00:00", "now"])
@pytest.mark.parametrize("field", ["opens_at", "closes_at", "invitations_expire_at"])
def test_the_reading_window_refuses_times_beyond_2000_to_2100(site, field, moment):
    response = signed_in(site.coordinator).post(
        reverse("annotator:coordinator_study", args=["hostile"]), window_form(**{field: moment})
    )
    assert refused_with_a_message(response), response.status_code
    assert getattr(config_of(site.study).__class__.objects.get(study=site.study), field) is None


@pytest.mark.parametrize("value", TEXT_VALUES)
def test_the_invitation_form_refuses_every_hostile_count(site, value):
    response = signed_in(site.coordinator).post(
        reverse("annotator:coordinator_invite", args=["hostile"]), {"cohort": "expert", "count": value}
    )
    assert refused_with_a_message(response), response.status_code
    assert site.study.participants.count() == 2


@pytest.mark.parametrize("value", ["1e12", "-1", "NaN", "9" * 5000, "many", "1.5"])
@pytest.mark.parametrize("parameter", ["seed", "margin"])
def test_the_report_refuses_every_hostile_query(site, parameter, value):
    response = signed_in(site.analyst).get(reverse("analysis:study_report", args=["hostile"]), {parameter: value})
    if parameter == "margin" and value == "1.5":
        assert response.status_code == 400
    else:
        assert 400 <= response.status_code < 500, response.status_code


@pytest.mark.parametrize("value", ADDRESS_VALUES)
def test_numbers_in_addresses_are_404_pages(site, value):
    participant, coordinator = signed_in(site.participant.user), signed_in(site.coordinator)
    scholar, analyst = signed_in(site.other_participant.user), signed_in(site.analyst)
    pages = [
        (participant, "get", f"/s/hostile/case/{value}/"),
        (participant, "post", f"/s/hostile/case/{value}/answer/"),
        (scholar, "get", f"/s/hostile/training/practice/{value}/"),
        (participant, "get", f"/s/hostile/gallery/{value}/1/"),
        (participant, "get", f"/s/hostile/gallery/0/{value}/"),
        (coordinator, "post", f"/coordinate/hostile/invitations/{value}/revoke/"),
        (analyst, "get", f"/analysis/hostile/files/{value}/table2.csv"),
    ]
    for client, method, url in pages:
        response = getattr(client, method)(url)
        assert response.status_code == 404, (url[:60], response.status_code)
