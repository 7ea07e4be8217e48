"""Who the readers are: the coordinator's background questions, the participant's answers on first
sign-in, and where they go (the answers export, the report's reader covariates)."""

import csv
import io

import pytest

from django.urls import reverse

from annotator.answer_files import EXPORT_COLUMNS, export_answers
from annotator.answers import save_answer
from annotator.forms import background_key
from annotator.models import config_of
from annotator.reader_data import reader_covariates
from tests.factories import reading_study

QUESTIONS = [
    {"key": "microscopy_years", "label": "Years of experience with fluorescence microscopy", "kind": "number",
     "options": [], "required": True, "minimum": 0, "maximum": 60},
    {"key": "field", "label": "Your field", "kind": "choice", "options": ["cell biology", "pathology", "other"],
     "required": True},
    {"key": "how_often", "label": "How often do you see such images?", "kind": "text", "options": [],
     "required": False},
]


@pytest.fixture
def reading(db):
    return reading_study("about", test_samples=3, train_samples=0)


@pytest.fixture
def with_questions(reading):
    config = config_of(reading.study)
    config.background_fields = QUESTIONS
    config.save()
    return reading


def background_url():
    return reverse("annotator:participant_background", args=["about"])


def questions_form(rows):
    """A POST of the coordinator's background form with ``rows`` (label, kind, options, required) and
    two empty rows."""
    rows = list(rows) + [("", "number", "", False)] * 2
    data = {
        "action": "background",
        "background-TOTAL_FORMS": str(len(rows)),
        "background-INITIAL_FORMS": "0",
        "background-MIN_NUM_FORMS": "0",
        "background-MAX_NUM_FORMS": "1000",
    }
    for number, (label, kind, options, required) in enumerate(rows):
        data.update({f"background-{number}-label": label, f"background-{number}-kind": kind,
                     f"background-{number}-options": options, f"background-{number}-key": ""})
        if required:
            data[f"background-{number}-required"] = "on"
    return data


def test_the_coordinator_defines_the_questions_in_the_browser(client, reading):
    client.force_login(reading.coordinator)
    page = reverse("annotator:coordinator_study", args=["about"])
    response = client.post(page, questions_form([
        ("Years of experience with fluorescence microscopy", "number", "", True),
        ("Your field", "choice", "cell biology; pathology ;other", True),
        ("How often do you see such images?", "text", "", False),
    ]))
    assert response.status_code == 302
    assert config_of(reading.study).__class__.objects.get(study=reading.study).background_fields == [
        {"key": "years_of_experience_with_fluorescence", "label": "Years of experience with fluorescence microscopy",
         "kind": "number", "options": [], "required": True, "minimum": 0, "maximum": 100},
        {"key": "your_field", "label": "Your field", "kind": "choice", "options": ["cell biology", "pathology", "other"],
         "required": True},
        {"key": "how_often_do_you_see_such_images", "label": "How often do you see such images?", "kind": "text",
         "options": [], "required": False},
    ]
    text = client.get(page).text
    assert "background_your_field" in text and 'value="cell biology; pathology; other"' in text


def test_a_choice_without_options_is_refused_naming_the_row(client, reading):
    client.force_login(reading.coordinator)
    response = client.post(
        reverse("annotator:coordinator_study", args=["about"]), questions_form([("Your field", "choice", "biology", True)])
    )
    assert response.status_code == 400
    assert "at least two options" in " ".join(response.context["background_forms"].forms[0].errors["options"])
    assert config_of(reading.study).__class__.objects.get(study=reading.study).background_fields == []


def test_renaming_a_question_keeps_its_column(client, with_questions):
    client.force_login(with_questions.coordinator)
    data = questions_form([("Years with fluorescence microscopy", "number", "", True)])
    data["background-0-key"] = "microscopy_years"
    client.post(reverse("annotator:coordinator_study", args=["about"]), data)
    fields = config_of(with_questions.study).__class__.objects.get(study=with_questions.study).background_fields
    assert [(f["key"], f["label"]) for f in fields] == [("microscopy_years", "Years with fluorescence microscopy")]


def test_column_names_are_made_of_the_question(db):
    assert background_key("Years of experience (fluorescence)") == "years_of_experience_fluorescence"
    assert background_key("2nd field") == "q_2nd_field"
    assert background_key("Years of experience with fluorescence microscopy") == "years_of_experience_with_fluorescence"
    assert background_key("?") == "q"


def test_on_first_sign_in_the_participant_is_asked_before_anything_else(client, with_questions):
    client.force_login(with_questions.participant.user)
    for name, args in (("participant_study", ["about"]), ("participant_instructions", ["about"]),
                       ("participant_case", ["about", 1]), ("participant_submit", ["about"])):
        response = client.get(reverse(f"annotator:{name}", args=args))
        assert response.status_code == 302 and response["Location"] == background_url(), name
    text = client.get(background_url()).text
    for question in QUESTIONS:
        assert question["label"] in text
    assert '<option value="pathology">pathology</option>' in text


def test_a_missing_required_answer_shows_the_form_again_with_the_question_marked(client, with_questions):
    client.force_login(with_questions.participant.user)
    response = client.post(background_url(), {"microscopy_years": "", "field": "pathology", "how_often": "weekly"})
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["microscopy_years"]
    text = response.text
    assert 'class="question invalid" data-question="microscopy_years"' in text
    assert 'class="question" data-question="field"' in text
    assert 'aria-invalid="true"' in text and "Please answer this question." in text
    assert '<option value="pathology" selected>pathology</option>' in text, "what was given is kept"
    with_questions.participant.refresh_from_db()
    assert with_questions.participant.background_given_at is None


def test_the_answers_are_stored_with_the_participant_and_the_study_opens(client, with_questions):
    client.force_login(with_questions.participant.user)
    response = client.post(background_url(), {"microscopy_years": "12", "field": "cell biology", "how_often": ""})
    assert response.status_code == 302 and response["Location"] == reverse("annotator:participant_study", args=["about"])
    participant = with_questions.participant
    participant.refresh_from_db()
    assert participant.background == {"microscopy_years": 12, "field": "cell biology", "how_often": None}
    assert participant.background_given_at is not None
    assert client.get(reverse("annotator:participant_case", args=["about", 1])).status_code == 200


@pytest.mark.parametrize(
    "years, words",
    [
        ("many", "Enter a number"),
        ("nan", "Enter a number"),
        ("-3", "greater than or equal to 0"),
        ("61", "less than or equal to 60"),
        ("1e308", "less than or equal to 60"),
        ("1" + "0" * 40, "less than or equal to 60"),
    ],
)
def test_a_number_must_be_a_number(client, with_questions, years, words):
    client.force_login(with_questions.participant.user)
    response = client.post(background_url(), {"microscopy_years": years, "field": "other"})
    assert response.status_code == 400 and words in response.text
    assert "Years of experience with fluorescence microscopy</a>:" in response.text, "the summary names the question"
    with_questions.participant.refresh_from_db()
    assert with_questions.participant.background_given_at is None


def test_a_text_too_long_is_refused_saying_so(client, with_questions):
    client.force_login(with_questions.participant.user)
    response = client.post(
        background_url(), {"microscopy_years": "3", "field": "other", "how_often": "x" * 600}
    )
    assert response.status_code == 400
    assert "at most 500 characters (it has 600)" in response.text
    assert "Please answer the marked question" not in response.text


def test_the_coordinator_sets_a_number_questions_bounds(client, reading):
    client.force_login(reading.coordinator)
    data = questions_form([("Years of experience", "number", "", True)])
    data.update({"background-0-minimum": "0", "background-0-maximum": "50"})
    assert client.post(reverse("annotator:coordinator_study", args=["about"]), data).status_code == 302
    (question,) = config_of(reading.study).__class__.objects.get(study=reading.study).background_fields
    assert (question["minimum"], question["maximum"]) == (0, 50)


def test_a_minimum_above_the_maximum_is_refused(client, reading):
    client.force_login(reading.coordinator)
    data = questions_form([("Years of experience", "number", "", True)])
    data.update({"background-0-minimum": "10", "background-0-maximum": "5"})
    response = client.post(reverse("annotator:coordinator_study", args=["about"]), data)
    assert response.status_code == 400
    assert "Question 1: Highest answer (for a number)</a>: The highest answer (5) must be above the lowest (10)." in response.text
    assert config_of(reading.study).__class__.objects.get(study=reading.study).background_fields == []


def test_an_answer_outside_the_options_is_refused(client, with_questions):
    client.force_login(with_questions.participant.user)
    response = client.post(background_url(), {"microscopy_years": "3", "field": "astronomy"})
    assert response.status_code == 400 and list(response.context["form"].errors) == ["field"]


def test_the_answers_are_exported_with_every_row_of_the_participant(with_questions):
    participant, other = with_questions.participant, with_questions.other_participant
    participant.background = {"microscopy_years": 12, "field": "pathology", "how_often": None}
    participant.save()
    for item in participant.order()[:2]:
        save_answer(participant, item, 1)
    save_answer(other, other.order()[0], 2)
    out = io.StringIO()
    export_answers(with_questions.study, out)
    header, *rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == list(EXPORT_COLUMNS) + ["background_microscopy_years", "background_field", "background_how_often"]
    by_reader = [dict(zip(header, row)) for row in rows]
    mine = [row for row in by_reader if row["participant"] == "expert-01"]
    assert len(mine) == 2
    assert all((r["background_microscopy_years"], r["background_field"], r["background_how_often"]) == ("12", "pathology", "")
               for r in mine)
    theirs = [row for row in by_reader if row["participant"] == "scholar-01"]
    assert theirs[0]["background_field"] == "", "never asked yet: empty"


def test_the_report_gets_the_answers_as_reader_covariates(with_questions):
    with_questions.participant.background = {"microscopy_years": 12, "field": "pathology", "how_often": "weekly", "old": 1}
    with_questions.participant.save()
    assert reader_covariates(with_questions.study) == {
        "expert-01": {"microscopy_years": 12, "field": "pathology", "how_often": "weekly"},
        "scholar-01": {"microscopy_years": None, "field": None, "how_often": None},
    }


def test_a_study_without_questions_asks_nothing(client, reading):
    client.force_login(reading.participant.user)
    assert client.get(reverse("annotator:participant_study", args=["about"]))["Location"].endswith("/instructions/")
    assert client.get(background_url())["Location"] == reverse("annotator:participant_study", args=["about"])
    assert reader_covariates(reading.study) == {"expert-01": {}, "scholar-01": {}}
