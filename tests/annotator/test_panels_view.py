"""The panel view: WebP from the cache, with caching headers, no metadata, and only for who may see it."""

import io

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from annotator.models import config_of
from annotator.panel_composition import PANELS
from annotator.panels import panel_urls
from study.models import ReferenceLabel, Sample
from study.store import sample_store
from tests.factories import channel_pixels, reading_study


@pytest.fixture
def reading(db, settings):
    return reading_study("view", test_samples=3, train_samples=2)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def study_sample(reading) -> Sample:
    return reading.study.items.first().sample


def training_sample(reading) -> Sample:
    return reading.study.dataset.samples.filter(split="train").first()


def add_sample(dataset, split: str, shape: tuple[int, int]) -> Sample:

    key = f"{dataset.name}-extra-{split}-{shape[0]}x{shape[1]}.npy"
    sample_store().write(key, channel_pixels(99, shape))
    sample = Sample.objects.create(
        dataset=dataset, source_id=key, height=shape[0], width=shape[1], bit_depth=16, store_key=key, split=split
    )
    ReferenceLabel.objects.create(sample=sample, class_index=0)
    return sample


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_it_serves_webp_with_immutable_private_caching_and_a_neutral_file_name(reading):
    url = panel_urls(reading.study, study_sample(reading))["nucleus"]
    response = signed_in(reading.participant.user).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')
    assert response["Content-Disposition"] == 'inline; filename="nucleus.webp"'
    image = Image.open(io.BytesIO(body(response)))
    assert image.format == "WEBP" and image.mode == "RGB"


def test_served_images_carry_no_metadata(reading):
    client = signed_in(reading.participant.user)
    for url in panel_urls(reading.study, study_sample(reading)).values():
        image = Image.open(io.BytesIO(body(client.get(url))))
        for key in ("exif", "xmp", "icc_profile", "XML:com.adobe.xmp", "comment"):
            assert key not in image.info
        assert not image.getexif()


def test_the_image_shows_the_rendered_panel_losslessly(reading, settings):
    from annotator.panel_composition import render_panels

    sample = study_sample(reading)
    url = panel_urls(reading.study, sample)["microtubules"]
    served = np.asarray(Image.open(io.BytesIO(body(signed_in(reading.coordinator).get(url)))))
    pixels = sample_store().open(sample.store_key)
    expected = render_panels(pixels, config_of(reading.study).display_percentiles)["microtubules"]
    assert np.array_equal(served, expected)


def test_a_second_request_is_served_from_the_cache_without_reading_the_store(reading, settings):
    sample = study_sample(reading)
    urls = panel_urls(reading.study, sample)
    client = signed_in(reading.participant.user)
    first = {panel: body(client.get(url)) for panel, url in urls.items()}
    sample_store().delete(sample.store_key)
    second = {panel: body(client.get(url)) for panel, url in urls.items()}
    assert first == second


def test_a_browser_that_has_the_image_gets_not_modified(reading):
    client = signed_in(reading.participant.user)
    url = panel_urls(reading.study, study_sample(reading))["er"]
    etag = client.get(url)["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again["ETag"] == etag
    assert again["Cache-Control"] == "private, max-age=31536000, immutable"


def test_display_panels_have_their_longest_side_at_most_1024_pixels_and_full_ones_the_native_size(reading):
    sample = add_sample(reading.study.dataset, "train", (1100, 700))
    client = signed_in(reading.coordinator)
    display = Image.open(io.BytesIO(body(client.get(panel_urls(reading.study, sample, "display")["protein"]))))
    full = Image.open(io.BytesIO(body(client.get(panel_urls(reading.study, sample, "full")["protein"]))))
    assert display.size == (652, 1024)  # 700 x 1024 / 1100, rounded
    assert full.size == (700, 1100)


def test_a_display_panel_is_the_full_panel_reduced_with_a_lanczos_filter(reading, settings):
    from annotator.panel_composition import render_panels

    sample = add_sample(reading.study.dataset, "train", (1100, 700))
    url = panel_urls(reading.study, sample, "display")["er"]
    served = np.asarray(Image.open(io.BytesIO(body(signed_in(reading.coordinator).get(url)))))
    pixels = sample_store().open(sample.store_key)
    full = Image.fromarray(render_panels(pixels, config_of(reading.study).display_percentiles)["er"])
    assert np.array_equal(served, np.asarray(full.resize((652, 1024), Image.Resampling.LANCZOS)))


def test_changed_display_settings_render_a_new_image(reading):
    sample = study_sample(reading)
    client = signed_in(reading.participant.user)
    before = body(client.get(panel_urls(reading.study, sample)["protein"]))
    config = config_of(reading.study)
    config.display_percentiles = {**config.display_percentiles, "green": [20, 80]}
    config.save()
    after = body(client.get(panel_urls(reading.study, sample)["protein"]))
    assert before != after


@pytest.mark.parametrize(
    "visitor, served",
    [
        ("participant", True),
        ("other_participant", True),
        ("coordinator", True),
        ("analyst", True),
        ("outsider", False),
        ("foreign_participant", False),
        ("anonymous", False),
    ],
)
def test_a_study_samples_panels_are_served_to_its_readers_and_staff_only(reading, visitor, served):
    foreign = reading_study("view-foreign", test_samples=1, train_samples=0)
    users = reading.visitors(foreign)
    client = signed_in(users[visitor]) if visitor in users else Client()
    response = client.get(panel_urls(reading.study, study_sample(reading))["protein"])
    assert response.status_code == (200 if served else 404)


def test_a_participant_sees_training_panels_only_while_the_gallery_is_open(reading):
    url = panel_urls(reading.study, training_sample(reading))["protein"]
    client = signed_in(reading.participant.user)
    config = config_of(reading.study)
    config.gallery_open = True
    config.save()
    assert client.get(url).status_code == 200
    config.gallery_open = False
    config.save()
    assert client.get(url).status_code == 404
    assert signed_in(reading.coordinator).get(url).status_code == 200


def test_a_participant_never_sees_a_test_sample_outside_their_study_set(reading):
    outside = add_sample(reading.study.dataset, "test", (48, 64))
    url = panel_urls(reading.study, outside)["protein"]
    assert signed_in(reading.participant.user).get(url).status_code == 404
    assert signed_in(reading.analyst).get(url).status_code == 200


def test_an_unknown_token_is_not_found(reading):
    from django.urls import reverse

    response = signed_in(reading.coordinator).get(reverse("annotator:panel", args=["0" * 48]))
    assert response.status_code == 404


def test_panels_cannot_be_posted_to(reading):
    url = panel_urls(reading.study, study_sample(reading))["protein"]
    assert signed_in(reading.participant.user).post(url).status_code == 405


def test_every_panel_of_a_sample_is_served(reading):
    client = signed_in(reading.participant.user)
    urls = panel_urls(reading.study, study_sample(reading))
    images = {panel: np.asarray(Image.open(io.BytesIO(body(client.get(url))))) for panel, url in urls.items()}
    assert set(images) == set(PANELS)
    assert not images["protein"][..., 0].any() and images["nucleus"][..., 0].any()
