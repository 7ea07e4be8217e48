"""Warming the panel cache: prerender_study, the render_panels command, and rendering that races."""

import io
import threading

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from annotator import panel_cache
from annotator.models import config_of
from annotator.panel_composition import PANELS
from annotator.panels import is_cached, prerender_study, render_to_cache, settings_digest
from study.store import sample_store
from tests.factories import reading_study


@pytest.fixture
def reading(db, settings):
    return reading_study("warm", test_samples=3, train_samples=1)


def samples_of(study):
    return [item.sample for item in study.items.select_related("sample")]


def test_prerendering_renders_every_study_sample_once(reading):
    percentiles = config_of(reading.study).display_percentiles
    assert prerender_study(reading.study) == 3
    assert all(is_cached(s, percentiles, "display") for s in samples_of(reading.study))
    assert not any(is_cached(s, percentiles, "full") for s in samples_of(reading.study))
    assert prerender_study(reading.study) == 0


def test_prerendering_both_resolutions_counts_each(reading):
    assert prerender_study(reading.study, ("display", "full")) == 6


def test_prerendering_leaves_out_training_samples(reading):
    training = reading.study.dataset.samples.get(split="train")
    prerender_study(reading.study)
    assert not is_cached(training, config_of(reading.study).display_percentiles, "display")


def test_prerendering_after_a_settings_change_renders_anew(reading):
    prerender_study(reading.study)
    config = config_of(reading.study)
    config.display_percentiles = {**config.display_percentiles, "blue": [5, 95]}
    config.save()
    assert prerender_study(reading.study) == 3


def test_the_command_renders_a_study_and_says_how_many(reading):
    out = io.StringIO()
    call_command("render_panels", "warm", "--full", stdout=out, verbosity=0)
    assert "Rendered 6 " in out.getvalue()
    percentiles = config_of(reading.study).display_percentiles
    assert all(is_cached(s, percentiles, "full") for s in samples_of(reading.study))


def test_the_command_names_an_unknown_study(reading):
    with pytest.raises(CommandError, match="no study named 'nope'"):
        call_command("render_panels", "nope", verbosity=0)


def test_the_command_names_the_file_of_a_sample_missing_from_the_store(reading, settings):
    sample = samples_of(reading.study)[0]
    sample_store().delete(sample.store_key)
    with pytest.raises(CommandError, match=sample.store_key):
        call_command("render_panels", "warm", verbosity=0)


def test_requests_that_render_the_same_sample_at_once_all_leave_whole_files(reading):
    sample = samples_of(reading.study)[0]
    percentiles = config_of(reading.study).display_percentiles
    errors = []

    def render():
        try:
            render_to_cache(sample, percentiles, "display")
        except Exception as error:  # collected so the main thread can report it
            errors.append(error)

    threads = [threading.Thread(target=render) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for panel in PANELS:
        path = panel_cache.panel_path(sample.store_key, settings_digest(percentiles), panel, "display")
        Image.open(path).load()
        assert not [p for p in path.parent.iterdir() if p.name.startswith(".partial-")]
