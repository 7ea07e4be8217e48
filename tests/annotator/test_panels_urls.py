"""panel_urls: opaque, per study, per display setting."""

import pytest

from annotator.models import config_of
from annotator.panel_composition import PANELS
from annotator.panels import panel_urls
from tests.factories import reading_study


@pytest.fixture
def reading(db, settings):
    return reading_study("urls", test_samples=3, train_samples=2)


def test_panel_urls_name_nothing_about_the_sample(reading):
    for item in reading.study.items.select_related("sample"):
        sample = item.sample
        urls = panel_urls(reading.study, sample)
        assert tuple(urls) == PANELS
        class_names = [reading.study.label_set.by_index(i).name for i in sample.class_indices]
        for url in urls.values():
            token = url.rstrip("/").rsplit("/", 1)[-1]
            assert len(token) >= 32 and all(c in "0123456789abcdef" for c in token)
            for leak in [sample.source_id, sample.store_key, sample.store_key.removesuffix(".npy"), *class_names]:
                assert leak.lower() not in url.lower()
            assert f"/{sample.pk}/" not in url and f"/{item.position}/" not in url


def test_every_panel_and_resolution_gets_its_own_url(reading):
    sample = reading.study.items.first().sample
    display = panel_urls(reading.study, sample, "display")
    full = panel_urls(reading.study, sample, "full")
    assert len(set(display.values()) | set(full.values())) == 2 * len(PANELS)


def test_the_same_panel_keeps_its_url_so_the_browser_can_cache_it(reading):
    sample = reading.study.items.first().sample
    assert panel_urls(reading.study, sample) == panel_urls(reading.study, sample)


def test_the_same_sample_has_different_urls_in_another_study(reading):
    from study.models import Study, StudySample

    sample = reading.study.items.first().sample
    second = Study.objects.create(name="urls-second", dataset=reading.study.dataset, seed=1)
    StudySample.objects.create(study=second, sample=sample, position=0)
    assert set(panel_urls(reading.study, sample).values()).isdisjoint(panel_urls(second, sample).values())


def test_changing_the_display_percentiles_changes_the_urls(reading):
    sample = reading.study.items.first().sample
    before = panel_urls(reading.study, sample)
    config = config_of(reading.study)
    config.display_percentiles = {**config.display_percentiles, "green": [1, 99]}
    config.save()
    assert set(before.values()).isdisjoint(panel_urls(reading.study, sample).values())


def test_it_refuses_a_sample_of_another_data_set(reading):
    foreign = reading_study("urls-foreign", test_samples=1, train_samples=0)
    with pytest.raises(ValueError, match="does not belong"):
        panel_urls(reading.study, foreign.study.items.first().sample)


def test_it_refuses_an_unknown_resolution(reading):
    with pytest.raises(ValueError, match="display, full"):
        panel_urls(reading.study, reading.study.items.first().sample, "huge")
