"""The study page: configuring how the study is presented, and adding cohorts."""

import pytest

from django.urls import reverse
from django.utils.html import escape

from annotator.models import config_of
from study.labels import HPA28
from study.models import Dataset, Study, StudyRole
from study.roles import COORDINATOR
from study.store import CHANNELS
from tests.factories import reading_study


@pytest.fixture
def reading(db):
    return reading_study("coord-config", test_samples=3, train_samples=1)


@pytest.fixture
def page(client, reading):
    client.force_login(reading.coordinator)
    return reverse("annotator:coordinator_study", args=[reading.study.name])


def configuration(reading, **changes):
    """A complete POST of the configuration form, with ``changes`` on top."""
    data = {"action": "configure", "instructions": "Look closely.", "gallery_open": "on"}
    for channel in CHANNELS:
        data[f"{channel}_low"], data[f"{channel}_high"] = 1, 99
    for label_class in reading.study.label_set.classes:
        data[f"description_{label_class.index}"] = ""
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_page_has_one_description_field_per_class_of_the_label_set(client, reading, page):
    text = client.get(page).text
    for label_class in reading.study.label_set.classes:
        assert f'name="description_{label_class.index}"' in text
        assert label_class.name in text
    assert f'name="description_{len(reading.study.label_set)}"' not in text


def test_the_page_follows_a_28_class_label_set(client, reading):
    dataset = Dataset.objects.create(name="hpa-data", label_set_key="hpa28")
    study = Study.objects.create(name="hpa-study", dataset=dataset, seed=0)
    StudyRole.objects.create(user=reading.coordinator, role=COORDINATOR, study=study)
    client.force_login(reading.coordinator)
    text = client.get(reverse("annotator:coordinator_study", args=["hpa-study"])).text
    assert 'name="description_27"' in text and escape(HPA28.by_index(27).name) in text


def test_saving_the_configuration_stores_every_field(client, reading, page):
    data = configuration(
        reading,
        instructions="Take your time.",
        green_low=2.5,
        green_high=97,
        description_1="One or two dots beside the nucleus.",
        description_12="Many small dots in the cytoplasm.",
        gallery_open=None,
        answers_changeable="on",
    )
    response = client.post(page, data)
    assert response.status_code == 302
    config = config_of(reading.study)
    config.refresh_from_db()
    assert config.instructions == "Take your time."
    assert config.display_percentiles["green"] == [2.5, 97]
    assert config.display_percentiles["red"] == [1, 99]
    assert config.class_descriptions == {
        "1": "One or two dots beside the nucleus.",
        "12": "Many small dots in the cytoplasm.",
    }
    assert config.description_of(1) == "One or two dots beside the nucleus."
    assert config.gallery_open is False
    assert config.answers_changeable is True


def test_the_saved_configuration_is_shown_again(client, reading, page):
    client.post(page, configuration(reading, description_4="A blob beside the nucleus.", yellow_low=3))
    response = client.get(page)
    assert "A blob beside the nucleus." in response.text
    assert response.context["config_form"]["yellow_low"].value() == 3
    assert response.context["config_form"]["yellow_high"].value() == 99


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"green_low": 80, "green_high": 20}, "green_high", "must be above the low one (80)"),
        ({"blue_high": 101}, "blue_high", "100"),
        ({"red_low": -1}, "red_low", "0"),
        ({"yellow_low": "bright"}, "yellow_low", "number"),
        ({"red_high": None}, "red_high", "required"),
    ],
)
def test_bad_percentiles_are_refused_naming_the_field(client, reading, page, changes, field, words):
    before = dict(config_of(reading.study).display_percentiles)
    response = client.post(page, configuration(reading, **changes))
    assert response.status_code == 400
    errors = response.context["config_form"].errors
    assert list(errors) == [field]
    assert words in " ".join(errors[field])
    label = response.context["config_form"].fields[field].label
    assert f">{label}</a>: " in response.text, "the summary at the top names the field and links to it"
    config = config_of(reading.study)
    config.refresh_from_db()
    assert config.display_percentiles == before


def test_a_new_cohort_can_be_added_and_is_listed(client, reading, page):
    response = client.post(page, {"action": "add_cohort", "name": "novice"})
    assert response.status_code == 302
    assert reading.study.cohorts.filter(name="novice").exists()
    assert "novice" in client.get(page).text


@pytest.mark.parametrize("name, words", [("expert", "already"), ("two words", "letters"), ("", "required")])
def test_a_bad_or_existing_cohort_name_is_refused(client, reading, page, name, words):
    response = client.post(page, {"action": "add_cohort", "name": name})
    assert response.status_code == 400
    assert words in " ".join(response.context["cohort_form"].errors["name"])
    assert sorted(reading.study.cohorts.values_list("name", flat=True)) == ["expert", "scholar"]


def test_the_forms_carry_a_csrf_token(client, page):
    text = client.get(page).text
    assert text.count('name="csrfmiddlewaretoken"') >= 2


def test_the_contrast_table_describes_each_channel_as_the_panels_show_it(client, reading, page):
    text = client.get(page).text
    assert "yellow channel of the files: the endoplasmic reticulum, red in the ER panel" in text
    assert "red channel of the files: the microtubules, red in the microtubules panel" in text


def test_no_class_description_of_the_demo_names_a_colour_the_participant_never_sees():
    from tests.fixture_files import demo_class_descriptions

    assert not [text for text in demo_class_descriptions().values() if "yellow" in text]
