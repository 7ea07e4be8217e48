"""A lab's own data, each in the form it comes in, imported with one command and no workaround."""

import csv
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from study.labels import CYTO13, HPA28
from study.models import Dataset, Sample
from study.store import sample_store
from synthetic import render_sample
from tests.factories import channel_pixels, write_channels
from tests.fixture_files import REAL_HPA_FIELD

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def run_import(*args) -> str:
    out = StringIO()
    call_command("import_dataset", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def nothing_written(settings) -> bool:
    stored = [path for path in Path(settings.STORE_DIR).rglob("*") if path.is_file()]
    return not Dataset.objects.exists() and not stored


def cyto13(name: str) -> int:
    return CYTO13.by_name(name).index


def test_the_real_field_imports_with_its_hpa_annotation_as_given(tmp_path):
    folder = tmp_path / "hpa"
    shutil.copytree(REAL_HPA_FIELD, folder)
    (folder / "labels.txt").write_text("57_F11_1, Plasma membrane, Cytoplasm\n")

    output = run_import(folder, "--name", "hpa")

    sample = Sample.objects.get(source_id="57_F11_1")
    assert sample.class_indices == sorted([cyto13("Plasma membrane"), cyto13("Cytosol")])
    assert (sample.width, sample.height, sample.bit_depth) == (1728, 1728, 8)
    assert "Label set: cyto13" in output and "mapped 'Cytoplasm' -> Cytosol: 1 time" in output


def test_a_kaggle_id_target_file_without_a_label_set_is_refused_and_writes_nothing(tmp_path, settings):
    folder = tmp_path / "kaggle"
    write_channels(folder, "00070df0-bbc3-11e8-b2bc-ac1f6b6435d0", channel_pixels(0, dtype=np.uint8), ".png")
    (folder / "train.csv").write_text("Id,Target\n00070df0-bbc3-11e8-b2bc-ac1f6b6435d0,16 5\n")

    with pytest.raises(CommandError, match=r"train.csv, line 1: holds class indices .* --label-set hpa28"):
        run_import(folder, "--name", "kaggle", "--labels", folder / "train.csv")
    assert nothing_written(settings)


def test_a_kaggle_id_target_file_with_its_label_set_keeps_kaggles_classes(tmp_path):
    folder = tmp_path / "kaggle"
    write_channels(folder, "00070df0", channel_pixels(0, dtype=np.uint8), ".png")
    (folder / "train.csv").write_text("Id,Target\n00070df0,16 5\n")

    output = run_import(folder, "--name", "kaggle", "--labels", folder / "train.csv", "--label-set", "hpa28")

    sample = Sample.objects.get()
    assert [HPA28.classes[i].name for i in sample.class_indices] == ["Nuclear bodies", "Cytokinetic bridge"]
    assert "Label set: hpa28" in output and "given with --label-set" in output


def test_single_cell_crops_as_npy_in_either_axis_order_and_a_named_channel_order(tmp_path, settings):
    folder = tmp_path / "crops"
    folder.mkdir()
    rng = np.random.default_rng(1)
    # Planes in the order blue, green, red, yellow, as some tools save them.
    hwc = rng.integers(0, 255, (224, 224, 4)).astype(np.uint8)
    chw = rng.integers(0, 65535, (4, 224, 200)).astype(np.uint16)
    np.save(folder / "cell-1.npy", hwc)
    np.save(folder / "cell-2.npy", chw)
    (folder / "labels.csv").write_text("cell-1, Nucleoli\ncell-2, Mitochondria\n")

    run_import(folder, "--name", "crops", "--channels", "blue,green,red,yellow")

    store = sample_store()
    first = store.open(Sample.objects.get(source_id="cell-1").store_key)
    second = store.open(Sample.objects.get(source_id="cell-2").store_key)
    assert np.array_equal(first, np.moveaxis(hwc, -1, 0)[[2, 1, 0, 3]])
    assert np.array_equal(second, chw[[2, 1, 0, 3]])
    assert Sample.objects.get(source_id="cell-2").bit_depth == 16


def test_an_array_whose_channel_axis_cannot_be_told_is_skipped_with_its_reason(tmp_path):
    folder = tmp_path / "crops"
    folder.mkdir()
    np.save(folder / "good.npy", np.zeros((32, 32, 4), np.uint8))
    np.save(folder / "square.npy", np.zeros((4, 9, 4), np.uint8))
    (folder / "labels.csv").write_text("good, Nucleus\nsquare, Nucleus\n")

    output = run_import(folder, "--name", "crops", "--skipped", tmp_path / "skipped.csv")

    assert list(Sample.objects.values_list("source_id", flat=True)) == ["good"]
    assert "unsupported pixel type: 1" in output
    assert "square,unsupported pixel type" in (tmp_path / "skipped.csv").read_text()


def test_a_per_class_0_1_csv_imports_with_its_mappings_counted(tmp_path):
    folder = tmp_path / "lab"
    for number in range(3):
        write_channels(folder, f"s{number}", channel_pixels(number))
    (folder / "labels.csv").write_text(
        "sample,Nucleoplasm,Cytoplasm,Golgi apparatus,Aggresome\n"
        "s0,1,0,0,0\n"
        "s1,1,1,0,0\n"
        "s2,0,0,1,1\n"
    )
    (tmp_path / "map.csv").write_text("source,class\nAggresome,drop\n")

    output = run_import(folder, "--name", "lab", "--map", tmp_path / "map.csv")

    classes = {s.source_id: s.class_indices for s in Sample.objects.all()}
    assert classes == {
        "s0": [cyto13("Nucleus")],
        "s1": sorted([cyto13("Cytosol"), cyto13("Nucleus")]),
        "s2": [cyto13("Golgi apparatus")],
    }
    assert "mapped 'Nucleoplasm' -> Nucleus: 2 times" in output
    assert "mapped 'Cytoplasm' -> Cytosol: 1 time" in output
    assert "mapped 'Aggresome' -> drop: 1 time" in output


def test_a_sample_whose_every_class_is_dropped_is_skipped_and_said_so(tmp_path):
    folder = tmp_path / "lab"
    write_channels(folder, "kept", channel_pixels(0))
    write_channels(folder, "gone", channel_pixels(1))
    (folder / "labels.txt").write_text("kept, Nucleus\ngone, Rods & rings\n")
    (tmp_path / "map.csv").write_text("Rods & rings,drop\n")

    output = run_import(folder, "--name", "lab", "--map", tmp_path / "map.csv")

    assert list(Sample.objects.values_list("source_id", flat=True)) == ["kept"]
    assert "classes dropped: 1" in output


def test_an_unmapped_name_is_an_error_naming_file_line_value_and_the_nearest_classes(tmp_path, settings):
    folder = tmp_path / "lab"
    write_channels(folder, "a", channel_pixels(0))
    (folder / "labels.txt").write_text("a, Mitochondira\n")

    with pytest.raises(CommandError) as raised:
        run_import(folder, "--name", "lab")

    message = str(raised.value)
    assert "labels.txt, line 1: column 2: unknown class 'Mitochondira' (nearest: Mitochondria" in message
    assert "--map FILE" in message
    assert nothing_written(settings)


def test_a_mapping_file_onto_no_class_is_an_error_naming_its_line(tmp_path, settings):
    folder = tmp_path / "lab"
    write_channels(folder, "a", channel_pixels(0))
    (folder / "labels.txt").write_text("a, Aggresome\n")
    (tmp_path / "map.csv").write_text("source,class\nAggresome,Cytosl\n")

    with pytest.raises(CommandError, match=r"map.csv, line 2: 'Cytosl' is not a class of cyto13 \(nearest: Cytosol"):
        run_import(folder, "--name", "lab", "--map", tmp_path / "map.csv")
    assert nothing_written(settings)


def test_on_a_fresh_checkout_the_first_command_sets_up_the_database(tmp_path):
    folder = tmp_path / "in"
    write_channels(folder, "a", channel_pixels(0))
    (folder / "labels.txt").write_text("a, Nucleus\n")
    environment = dict(os.environ, DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="config.settings")
    environment.pop("DATABASE_URL", None)

    done = subprocess.run(
        [sys.executable, "manage.py", "import_dataset", str(folder), "--name", "first"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert "Setting up the database first" in done.stderr
    assert "Imported 1 samples." in done.stdout


def test_quality_control_flags_the_real_fields_er_channel_and_no_other(tmp_path):
    folder = tmp_path / "hpa"
    shutil.copytree(REAL_HPA_FIELD, folder)
    (folder / "labels.txt").write_text("57_F11_1, Plasma membrane, Cytoplasm\n")

    output = run_import(folder, "--name", "hpa", "--qc-out", tmp_path / "qc.csv")

    rows = (tmp_path / "qc.csv").read_text().splitlines()
    assert rows[0] == "sample,channel,check,value,threshold,reason"
    assert [row.split(",")[:3] for row in rows[1:]] == [["57_F11_1", "yellow", "misregistered"]]
    assert [(f["channel"], f["check"]) for f in Sample.objects.get().quality_flags] == [("yellow", "misregistered")]
    assert "Quality control flagged 1 of the 1 samples imported (misregistered 1 channels)" in output


def test_quality_limits_are_options_and_a_blank_channel_is_flagged_not_skipped(tmp_path):
    folder = tmp_path / "in"
    pixels = render_sample(3, 512, [CYTO13.by_name("Nucleus").index], density=9)
    pixels[3] = 1000  # a constant ER channel: nothing recorded
    write_channels(folder, "blank-er", pixels)
    (folder / "labels.txt").write_text("blank-er, Nucleus\n")

    run_import(folder, "--name", "lab", "--qc-min-focus", "0")

    flags = {(f["channel"], f["check"]) for f in Sample.objects.get().quality_flags}
    assert ("yellow", "blank") in flags and all(check != "out_of_focus" for _, check in flags)


def test_a_quality_limit_out_of_range_is_refused_naming_it(tmp_path, settings):
    folder = tmp_path / "in"
    write_channels(folder, "a", channel_pixels(0))
    (folder / "labels.txt").write_text("a, Nucleus\n")
    with pytest.raises(CommandError, match="saturated"):
        run_import(folder, "--name", "lab", "--qc-saturated", "2")
    assert nothing_written(settings)


def test_a_long_import_into_a_log_prints_its_progress_with_samples_per_second(tmp_path, monkeypatch):
    monkeypatch.setattr("study.management.commands.import_dataset.PLAIN_PROGRESS_SECONDS", 0)
    folder = tmp_path / "in"
    for number in range(3):
        write_channels(folder, f"s{number}", channel_pixels(number))
    (folder / "labels.txt").write_text("".join(f"s{number}, Nucleus\n" for number in range(3)))
    errors = StringIO()

    call_command("import_dataset", str(folder), "--name", "lab", stdout=StringIO(), stderr=errors)

    lines = errors.getvalue().splitlines()
    assert lines[-1].startswith("samples: 3/3 (100%), ") and "samples/s, about 0 s left" in lines[-1]


def test_quality_control_says_what_it_could_not_judge_and_lists_why(tmp_path):
    folder = tmp_path / "crops"
    write_channels(folder, "one-cell", render_sample(5, 128, [CYTO13.by_name("Cytosol").index], density=4))
    (folder / "labels.txt").write_text("one-cell, Cytosol\n")

    output = run_import(folder, "--name", "crops", "--qc-out", tmp_path / "qc.csv")

    assert "Quality control: no sample flagged." in output
    assert "Too little to judge (misregistered 1 samples)" in output
    with open(tmp_path / "qc.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["check"] for row in rows} == {"misregistered"} and len(rows) == 4
    assert all(row["value"] == row["threshold"] == "" for row in rows)
    assert all(row["reason"].startswith("too few cells to judge") for row in rows)
    assert Sample.objects.get().quality_flags == []
