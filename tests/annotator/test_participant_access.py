"""Who may open the participant pages: each view, each role."""

import pytest

from django.urls import reverse

from tests.factories import reading_study



PAGES = [
    ("participant_study", {}),
    ("participant_instructions", {}),
    ("participant_case", {"number": 1}),
    ("participant_submit", {}),
    ("participant_done", {}),
]


@pytest.fixture
def reading(db):
    return reading_study("access", test_samples=3, train_samples=1)


def url_of(name, study, **kwargs):
    return reverse(f"annotator:{name}", kwargs={"study": study.name, **kwargs})


@pytest.mark.parametrize("name, kwargs", PAGES)
def test_a_signed_out_visitor_is_sent_to_sign_in(client, reading, name, kwargs):
    url = url_of(name, reading.study, **kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name, kwargs", PAGES)
@pytest.mark.parametrize("role", ["coordinator", "analyst", "outsider"])
def test_someone_who_does_not_take_part_gets_404(client, reading, name, kwargs, role):
    client.force_login(getattr(reading, role))
    assert client.get(url_of(name, reading.study, **kwargs)).status_code == 404


@pytest.mark.parametrize("attribute", ["participant", "other_participant"])
def test_each_participant_opens_their_own_pages(client, reading, attribute):
    client.force_login(getattr(reading, attribute).user)
    assert client.get(url_of("participant_instructions", reading.study)).status_code == 200
    assert client.get(url_of("participant_case", reading.study, number=1)).status_code == 200
    assert client.get(url_of("participant_submit", reading.study)).status_code == 200


def test_a_participant_of_another_study_gets_404(client, reading):
    other = reading_study("access-other", test_samples=2, train_samples=0)
    client.force_login(other.participant.user)
    assert client.get(url_of("participant_case", reading.study, number=1)).status_code == 404


def test_an_unknown_study_gets_404(client, reading):
    client.force_login(reading.participant.user)
    assert client.get(reverse("annotator:participant_case", args=["no-such-study", 1])).status_code == 404


@pytest.mark.parametrize("number", [0, 4, 99])
def test_a_case_number_outside_the_study_gets_404(client, reading, number):
    client.force_login(reading.participant.user)
    assert client.get(url_of("participant_case", reading.study, number=number)).status_code == 404


def test_the_answer_endpoint_answers_a_signed_out_request_with_401_json(client, reading):
    response = client.post(
        url_of("participant_answer", reading.study, number=1), {"class_index": 0}, content_type="application/json"
    )
    assert response.status_code == 401
    assert "sign in" in response.json()["error"].lower()


@pytest.mark.parametrize("role", ["coordinator", "analyst", "outsider"])
def test_the_answer_endpoint_refuses_non_participants(client, reading, role):
    client.force_login(getattr(reading, role))
    response = client.post(
        url_of("participant_answer", reading.study, number=1), {"class_index": 0}, content_type="application/json"
    )
    assert response.status_code == 404
    assert not reading.study.items.first().answers.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_the_answer_endpoint_takes_only_post(client, reading, method):
    client.force_login(reading.participant.user)
    response = getattr(client, method)(url_of("participant_answer", reading.study, number=1))
    assert response.status_code == 405
