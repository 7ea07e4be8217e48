"""The generator's folders against the importer: they import with no option, and every fault kind
is skipped with its reason (or, for a colour-encoded channel, imported with the intensities of the
clean file)."""

import csv
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from synthetic.dataset import generate_dataset
from study.models import Dataset, Sample
from study.store import CHANNELS, sample_store

pytestmark = pytest.mark.django_db

EXPECTED_REASON = {
    "truncated": "unreadable",
    "corrupt": "unreadable",
    "missing_channel": "missing channel",
    "size_mismatch": "size mismatch",
}


def test_every_fault_kind_is_skipped_with_its_reason_and_nothing_partial_is_left(tmp_path, settings):
    out = StringIO()
    call_command("generate_synthetic", str(tmp_path / "syn"), samples=20, size=96, seed=3, faults=0.5, stdout=out)
    with open(tmp_path / "syn" / "faults.csv", newline="") as handle:
        faults = {row["id"]: row["fault"] for row in csv.DictReader(handle)}
    assert set(faults.values()) == set(EXPECTED_REASON) | {"colour_encoded"}
    skipped_file = tmp_path / "skipped.csv"

    call_command("import_dataset", str(tmp_path / "syn"), name="syn", skipped=str(skipped_file), stdout=StringIO())

    with open(skipped_file, newline="") as handle:
        skipped = {row["id"]: row["reason"] for row in csv.DictReader(handle)}
    assert skipped == {i: EXPECTED_REASON[f] for i, f in faults.items() if f != "colour_encoded"}
    imported = set(Sample.objects.values_list("source_id", flat=True))
    assert len(imported) == 20 - len(skipped) and not imported & set(skipped)
    assert len([p for p in settings.STORE_DIR.rglob("*") if p.is_file()]) == len(imported)


def test_a_colour_encoded_channel_imports_with_the_clean_intensities(tmp_path, settings):
    generate_dataset(tmp_path / "clean", samples=8, size=96, seed=3)
    generate_dataset(tmp_path / "faulty", samples=8, size=96, seed=3, faults=1.0)
    with open(tmp_path / "faulty" / "faults.csv", newline="") as handle:
        coloured = next(row for row in csv.DictReader(handle) if row["fault"] == "colour_encoded")
    call_command("import_dataset", str(tmp_path / "clean"), name="clean", stdout=StringIO())
    call_command("import_dataset", str(tmp_path / "faulty"), name="faulty", stdout=StringIO())
    store = sample_store()
    clean = store.open(Sample.objects.get(dataset__name="clean", source_id=coloured["id"]).store_key)
    faulty = store.open(Sample.objects.get(dataset__name="faulty", source_id=coloured["id"]).store_key)
    channel = CHANNELS.index(coloured["channel"])
    # An 8-bit colour encoding keeps the intensities up to the 8-bit scale: compare as correlation.
    assert np.corrcoef(clean[channel].ravel(), faulty[channel].ravel())[0, 1] > 0.99


@pytest.mark.parametrize("label_set", ["cyto13", "hpa28"])
def test_a_generated_folder_imports_with_no_option(tmp_path, label_set):
    folder = tmp_path / "syn"
    call_command("generate_synthetic", str(folder), samples=6, size=64, seed=4, label_set=label_set, stdout=StringIO())
    out = StringIO()
    call_command("import_dataset", str(folder), name="x", stdout=out, stderr=StringIO())

    assert f"Label set: {label_set}" in out.getvalue() and "label_set.txt" in out.getvalue()
    dataset = Dataset.objects.get(name="x")
    assert dataset.label_set_key == label_set
    with open(folder / "labels.csv", newline="") as handle:
        written = {row["Id"]: sorted(map(int, row["Target"].split())) for row in csv.DictReader(handle)}
    stored = {s.source_id: sorted(r.class_index for r in s.reference_labels.all()) for s in dataset.samples.all()}
    assert stored == written


def test_a_label_set_option_that_contradicts_the_folder_is_refused(tmp_path):
    folder = tmp_path / "syn"
    call_command("generate_synthetic", str(folder), samples=2, size=64, seed=4, label_set="hpa28", stdout=StringIO())
    with pytest.raises(CommandError, match=r"--label-set cyto13 contradicts .*label_set.txt, which names hpa28"):
        call_command("import_dataset", str(folder), name="x", label_set="cyto13", stdout=StringIO())
    assert not Dataset.objects.exists()


def test_a_folder_naming_another_label_set_than_the_data_sets_is_refused(tmp_path):
    call_command("generate_synthetic", str(tmp_path / "a"), samples=2, size=64, seed=4, stdout=StringIO())
    call_command(
        "generate_synthetic", str(tmp_path / "b"), samples=2, size=64, seed=5, label_set="hpa28", stdout=StringIO()
    )
    call_command("import_dataset", str(tmp_path / "a"), name="x", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match=r"uses the cyto13 label set, not hpa28 \(named by .*label_set.txt\)"):
        call_command("import_dataset", str(tmp_path / "b"), name="x", stdout=StringIO())
    assert Sample.objects.count() == 2


def test_a_label_set_file_naming_no_label_set_is_refused_with_its_name(tmp_path):
    folder = tmp_path / "syn"
    call_command("generate_synthetic", str(folder), samples=2, size=64, seed=4, stdout=StringIO())
    (folder / "label_set.txt").write_text("kaggle\n")
    refused = r"label_set.txt: 'kaggle' is no label set; it should hold one of cyto13, hpa28"
    with pytest.raises(CommandError, match=refused):
        call_command("import_dataset", str(folder), name="x", stdout=StringIO())
    assert not Dataset.objects.exists()
