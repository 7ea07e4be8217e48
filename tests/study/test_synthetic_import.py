"""The generator's faulty files against the importer: every fault kind is skipped with its reason
(or, for a colour-encoded channel, imported with the intensities of the clean file)."""

import csv
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from synthetic.dataset import generate_dataset
from study.models import Sample
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

    call_command("import_dataset", str(tmp_path / "syn"), name="syn", label_set="cyto13", skipped=str(skipped_file), stdout=StringIO())

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
    call_command("import_dataset", str(tmp_path / "clean"), name="clean", label_set="cyto13", stdout=StringIO())
    call_command("import_dataset", str(tmp_path / "faulty"), name="faulty", label_set="cyto13", stdout=StringIO())
    store = sample_store()
    clean = store.open(Sample.objects.get(dataset__name="clean", source_id=coloured["id"]).store_key)
    faulty = store.open(Sample.objects.get(dataset__name="faulty", source_id=coloured["id"]).store_key)
    channel = CHANNELS.index(coloured["channel"])
    # An 8-bit colour encoding keeps the intensities up to the 8-bit scale: compare as correlation.
    assert np.corrcoef(clean[channel].ravel(), faulty[channel].ravel())[0, 1] > 0.99
