"""The training gallery: single-location training examples per class, for a study's participants
while it is open and for coordinators."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from annotator.models import GalleryVisit, config_of
from annotator.panels import GALLERY, panel_urls
from study.models import ReferenceLabel, Sample
from study.store import sample_store
from tests.factories import channel_pixels, reading_study


def add_sample(dataset, name: str, split: str, classes: list[int]) -> Sample:

    key = f"{dataset.name}-{name}.npy"
    sample_store().write(key, channel_pixels(len(name), (32, 40)))
    sample = Sample.objects.create(
        dataset=dataset, source_id=f"{name}-source", height=32, width=40, bit_depth=16, store_key=key, split=split
    )
    ReferenceLabel.objects.bulk_create(ReferenceLabel(sample=sample, class_index=c) for c in classes)
    return sample


@pytest.fixture
def reading(db, settings):
    """Training samples of classes 0, 1, 2 and 3, a second one of class 0, and class-0 samples that the
    gallery must never show: a test sample of the study set, a validation sample and a training
    sample with two locations."""
    reading = reading_study("gal", test_samples=2, train_samples=4)
    dataset = reading.study.dataset
    add_sample(dataset, "second-actin", "train", [0])
    add_sample(dataset, "validation-actin", "val", [0])
    add_sample(dataset, "two-locations", "train", [0, 1])
    config = config_of(reading.study)
    config.gallery_open = True
    config.class_descriptions = {"0": "Long straight fibres across the cell."}
    config.save()
    return reading


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def index_url(reading) -> str:
    return reverse("annotator:gallery", args=[reading.study.name])


def example_url(reading, class_index: int, number: int) -> str:
    return reverse("annotator:gallery_sample", args=[reading.study.name, class_index, number])


def shown_panel_urls(text: str) -> set[str]:
    return set(re.findall(r'(?:src|href)="(/panels/[^"]+)"', text))


def test_the_index_lists_every_class_with_its_description_and_number_of_examples(reading):
    response = signed_in(reading.participant.user).get(index_url(reading))
    assert response.status_code == 200
    text = response.content.decode()
    for label_class in reading.study.label_set.classes:
        assert label_class.name in text
    assert "Long straight fibres across the cell." in text
    counts = dict(re.findall(r'gallery/(\d+)/1/">[^<]+</a></td>\s*<td>[^<]*</td>\s*<td class="count">(\d+)', text))
    assert counts == {"0": "2", "1": "1", "2": "1", "3": "1"}


def test_an_example_shows_only_single_location_training_samples_of_its_class(reading):
    client = signed_in(reading.participant.user)
    shown = shown_panel_urls(client.get(example_url(reading, 0, 1)).content.decode())
    shown |= shown_panel_urls(client.get(example_url(reading, 0, 2)).content.decode())
    assert client.get(example_url(reading, 0, 3)).status_code == 404
    allowed = set()
    for sample in reading.study.dataset.samples.all():
        urls = set(panel_urls(reading.study, sample, "display", GALLERY).values()) | set(
            panel_urls(reading.study, sample, "full", GALLERY).values()
        )
        if sample.split == "train" and sample.class_indices == [0]:
            allowed |= urls
        else:
            assert shown.isdisjoint(urls), f"the gallery showed {sample.split} sample {sample.class_indices}"
    assert shown == allowed


def test_an_example_page_names_its_class_and_never_a_source_id_or_store_key(reading):
    text = signed_in(reading.participant.user).get(example_url(reading, 0, 2)).content.decode()
    assert "Actin filaments" in text and "Long straight fibres across the cell." in text
    assert "example 2 of 2" in text
    for sample in reading.study.dataset.samples.all():
        assert sample.source_id not in text and sample.store_key.removesuffix(".npy") not in text


def test_examples_link_to_their_previous_and_next(reading):
    client = signed_in(reading.participant.user)
    first = client.get(example_url(reading, 0, 1)).content.decode()
    last = client.get(example_url(reading, 0, 2)).content.decode()
    assert f'rel="next" href="{example_url(reading, 0, 2)}"' in first and 'rel="prev"' not in first
    assert f'rel="prev" href="{example_url(reading, 0, 1)}"' in last and 'rel="next"' not in last


def test_the_arrow_keys_script_is_a_static_file_and_the_pages_have_no_inline_script_or_style(reading):
    client = signed_in(reading.participant.user)
    for url in (index_url(reading), example_url(reading, 0, 1)):
        text = client.get(url).content.decode()
        assert all('src="' in attributes for attributes in re.findall(r"<script([^>]*)>", text))
        assert "style=" not in text and "<style" not in text and "onclick" not in text
    assert "annotator/gallery.js" in client.get(example_url(reading, 0, 1)).content.decode()
    assert "ArrowRight" in open(finders.find("annotator/gallery.js")).read()


def test_gallery_pages_lead_participants_back_to_their_cases_and_coordinators_to_the_study(reading):
    back_to_cases = reverse("annotator:participant_study", args=[reading.study.name])
    back_to_study = reverse("annotator:coordinator_study", args=[reading.study.name])
    for url in (index_url(reading), example_url(reading, 0, 1)):
        participant_page = signed_in(reading.participant.user).get(url).content.decode()
        coordinator_page = signed_in(reading.coordinator).get(url).content.decode()
        assert f'href="{back_to_cases}"' in participant_page and f'href="{back_to_study}"' not in participant_page
        assert f'href="{back_to_study}"' in coordinator_page and f'href="{back_to_cases}"' not in coordinator_page


def test_a_participants_view_of_an_example_is_logged(reading):
    client = signed_in(reading.participant.user)
    client.get(example_url(reading, 0, 2))
    client.get(example_url(reading, 1, 1))
    visits = GalleryVisit.objects.filter(participant=reading.participant).order_by("visited_at", "id")
    assert [(v.class_index, v.sample.split, v.sample.class_indices) for v in visits] == [
        (0, "train", [0]),
        (1, "train", [1]),
    ]
    assert visits[0].sample.source_id == "second-actin-source"


def test_a_coordinators_view_is_not_logged_as_a_participants(reading):
    signed_in(reading.coordinator).get(example_url(reading, 0, 1))
    assert not GalleryVisit.objects.exists()


def test_a_closed_gallery_is_not_found_for_participants_but_open_to_coordinators(reading):
    config = config_of(reading.study)
    config.gallery_open = False
    config.save()
    participant = signed_in(reading.participant.user)
    assert participant.get(index_url(reading)).status_code == 404
    assert participant.get(example_url(reading, 0, 1)).status_code == 404
    assert not GalleryVisit.objects.exists()
    coordinator = signed_in(reading.coordinator)
    assert coordinator.get(index_url(reading)).status_code == 200
    assert coordinator.get(example_url(reading, 0, 1)).status_code == 200


def test_an_unknown_class_or_example_number_is_not_found(reading):
    client = signed_in(reading.participant.user)
    assert client.get(example_url(reading, 13, 1)).status_code == 404
    assert client.get(example_url(reading, 0, 0)).status_code == 404
    assert client.get(example_url(reading, 5, 1)).status_code == 404  # a class without examples


@pytest.mark.parametrize("visitor, status", [
    ("participant", 200),
    ("other_participant", 200),
    ("coordinator", 200),
    ("analyst", 404),
    ("outsider", 404),
    ("foreign_participant", 404),
])
def test_the_gallery_is_for_the_studys_participants_and_coordinators(reading, visitor, status):
    foreign = reading_study("gal-foreign", test_samples=1, train_samples=1)
    users = reading.visitors(foreign)
    client = signed_in(users[visitor])
    assert client.get(index_url(reading)).status_code == status
    assert client.get(example_url(reading, 0, 1)).status_code == status


def test_signed_out_visitors_are_sent_to_sign_in(reading):
    for url in (index_url(reading), example_url(reading, 0, 1)):
        response = Client().get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_panels_shown_in_the_gallery_are_served_to_the_participant(reading):
    client = signed_in(reading.participant.user)
    text = client.get(example_url(reading, 1, 1)).content.decode()
    display = re.findall(r'src="(/panels/[^"]+)"', text)
    assert len(display) == 4
    for url in display:
        assert client.get(url)["Content-Type"] == "image/webp"
