"""What a cohort's gallery shows (single-location examples, or the whole training split as the paper's
experts had it), and every gallery view as data for the study of anchoring."""

import csv
import io
import re

import pytest

from django.core.management import call_command
from django.urls import reverse

from annotator.answer_files import GALLERY_VISIT_COLUMNS, export_gallery_visits, opaque_sample_id
from annotator.models import Cohort, GalleryVisit, config_of
from annotator.panels import GALLERY, panel_urls
from tests.annotator.test_gallery import add_sample, example_url, index_url, signed_in
from tests.factories import reading_study


@pytest.fixture
def reading(db):
    """Training samples of classes 0-3, a second one of class 0 and one of classes 0 and 1 (Actin
    filaments and Centrosome); a test and a validation sample of class 0; the gallery open."""
    reading = reading_study("gal", test_samples=2, train_samples=4)
    dataset = reading.study.dataset
    add_sample(dataset, "second-actin", "train", [0])
    add_sample(dataset, "validation-actin", "val", [0])
    add_sample(dataset, "two-locations", "train", [0, 1])
    config = config_of(reading.study)
    config.gallery_open = True
    config.save()
    return reading


@pytest.fixture
def whole_split(reading):
    """The expert cohort's gallery shows the whole training split."""
    Cohort.objects.filter(pk=reading.participant.cohort_id).update(gallery_scope=Cohort.GalleryScope.ALL)
    return reading


def counts(text):
    return dict(re.findall(r'gallery/(\d+)/1/[^"]*">[^<]+</a></td>\s*<td>[^<]*</td>\s*<td class="count">(\d+)', text))


def test_the_whole_training_split_counts_a_multi_location_sample_under_each_of_its_classes(whole_split):
    text = signed_in(whole_split.participant.user).get(index_url(whole_split)).text
    assert counts(text) == {"0": "3", "1": "2", "2": "1", "3": "1"}
    assert "a sample with more than one location" in text
    # The other cohort keeps the single-location gallery.
    assert counts(signed_in(whole_split.other_participant.user).get(index_url(whole_split)).text) == {
        "0": "2", "1": "1", "2": "1", "3": "1"
    }


def multi_location_counts(text):
    return dict(re.findall(r'gallery/(\d+)/1/[^"]*">[^<]+</a></td>\s*<td>[^<]*</td>\s*<td class="count">\d+</td>\s*<td class="count">(\d+)', text))


def test_each_multi_location_sample_counts_once_under_each_of_its_classes(whole_split):
    add_sample(whole_split.study.dataset, "three-locations", "train", [0, 1, 2])
    text = signed_in(whole_split.participant.user).get(index_url(whole_split)).text
    assert counts(text) == {"0": "4", "1": "3", "2": "2", "3": "1"}
    assert multi_location_counts(text) == {"0": "2", "1": "2", "2": "1", "3": "0"}


def test_a_multi_location_example_is_marked_with_all_its_classes(whole_split):
    client = signed_in(whole_split.participant.user)
    last = client.get(example_url(whole_split, 0, 3))
    assert last.status_code == 200
    assert "More than one location:</strong> this sample is labelled Actin filaments, Centrosome" in last.text
    assert "More than one location" not in client.get(example_url(whole_split, 0, 1)).text
    # Its panels are the participant's to see; not the single-location cohort's.
    two = whole_split.study.dataset.samples.get(source_id="two-locations-source")
    panel = panel_urls(whole_split.study, two, occasion=GALLERY)["protein"]
    assert client.get(panel).status_code == 200
    assert signed_in(whole_split.other_participant.user).get(panel).status_code == 404
    assert signed_in(whole_split.other_participant.user).get(example_url(whole_split, 0, 3)).status_code == 404


def test_the_whole_split_never_shows_a_test_or_validation_sample(whole_split):
    client = signed_in(whole_split.participant.user)
    shown = set()
    for number in (1, 2, 3):
        shown |= set(re.findall(r'(?:src|href)="(/panels/[^"]+)"', client.get(example_url(whole_split, 0, number)).text))
    for sample in whole_split.study.dataset.samples.exclude(split="train"):
        assert shown.isdisjoint(panel_urls(whole_split.study, sample, occasion=GALLERY).values())


def test_a_coordinator_looks_at_either_scope(reading):
    client = signed_in(reading.coordinator)
    assert counts(client.get(index_url(reading)).text)["0"] == "2"
    text = client.get(index_url(reading) + "?scope=all").text
    assert counts(text)["0"] == "3" and "?scope=all" in text
    assert client.get(example_url(reading, 0, 3) + "?scope=all").status_code == 200
    assert client.get(example_url(reading, 0, 3)).status_code == 404


def visit(reading, number, class_index=0):
    signed_in(reading.participant.user).get(example_url(reading, class_index, number))


def test_gallery_visits_download_as_csv_from_the_coordinators_pages(client, reading):
    visit(reading, 2)
    visit(reading, 1, class_index=1)
    client.force_login(reading.coordinator)
    url = reverse("annotator:coordinator_gallery_visits", args=[reading.study.name])
    assert url in client.get(reverse("annotator:coordinator_study", args=[reading.study.name])).text
    assert url in client.get(reverse("annotator:coordinator_progress", args=[reading.study.name])).text
    response = client.get(url)
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="gal-gallery-visits.csv"' in response["Content-Disposition"]
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert header == list(GALLERY_VISIT_COLUMNS)
    second_actin = reading.study.dataset.samples.get(source_id="second-actin-source")
    first = dict(zip(header, rows[0]))
    assert (first["participant"], first["cohort"], first["simulated"], first["class_index"], first["class_name"]) == (
        "expert-01", "expert", "false", "0", "Actin filaments"
    )
    assert first["sample"] == opaque_sample_id(second_actin) and re.fullmatch(r"[0-9a-f]{16}", first["sample"])
    assert first["viewed_at"].endswith("Z")
    assert dict(zip(header, rows[1]))["class_name"] == "Centrosome"
    for sample in reading.study.dataset.samples.all():
        assert sample.source_id not in response.content.decode(), "the sample's id is opaque"


def test_export_answers_writes_the_gallery_visits_too(reading, tmp_path):
    visit(reading, 1)
    out = io.StringIO()
    call_command(
        "export_answers", reading.study.name, out=str(tmp_path / "a.csv"), gallery_visits=str(tmp_path / "g.csv"),
        stdout=out,
    )
    assert "Wrote 1 gallery visits" in out.getvalue()
    assert len((tmp_path / "g.csv").read_text().splitlines()) == 2
    call_command("export_answers", reading.study.name, gallery_visits=str(tmp_path / "only.csv"), stdout=io.StringIO())
    assert (tmp_path / "only.csv").exists()


def test_export_answers_needs_a_file_to_write(reading):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--out FILE"):
        call_command("export_answers", reading.study.name, stdout=io.StringIO())


def test_the_export_lists_every_gallery_visit_in_time_order(reading):
    visit(reading, 2)
    visit(reading, 1, class_index=1)
    buffer = io.StringIO()

    assert export_gallery_visits(reading.study, buffer) == GalleryVisit.objects.count() == 2
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [(r["participant"], r["class_name"], r["simulated"]) for r in rows] == [
        ("expert-01", "Actin filaments", "false"), ("expert-01", "Centrosome", "false")
    ]
    assert rows[0]["viewed_at"] <= rows[1]["viewed_at"]
