from io import StringIO
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.management import CommandError, call_command

from study.models import Dataset, ReferenceLabel, Sample
from study.store import sample_store
from tests.factories import channel_pixels, write_channels, write_labels
from tests.fixture_files import REAL_HPA_FIELD

pytestmark = pytest.mark.django_db


def run_import(*args) -> str:
    """``import_dataset`` with ``args``; the labels' class indices are the paper's 13 unless a test says."""
    if "--label-set" not in args:
        args = (*args, "--label-set", "cyto13")
    out = StringIO()
    call_command("import_dataset", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def stored_files(settings) -> list[Path]:
    return [p for p in Path(settings.STORE_DIR).rglob("*") if p.is_file()]


def test_it_imports_16_bit_tiffs_with_their_labels_into_the_store(tmp_path, settings):
    folder = tmp_path / "in"
    pixels = {f"s{i}": channel_pixels(i, shape=(40 + i, 60)) for i in range(3)}
    for sample_id, array in pixels.items():
        write_channels(folder, sample_id, array)
    write_labels(folder, {"s0": [10], "s1": [2, 11], "s2": [3]})

    output = run_import(folder, "--name", "cells")

    assert "Imported 3 samples." in output
    dataset = Dataset.objects.get(name="cells")
    store = sample_store()
    for sample in dataset.samples.all():
        assert np.array_equal(store.open(sample.store_key), pixels[sample.source_id])
        assert (sample.height, sample.width, sample.bit_depth) == (pixels[sample.source_id].shape[1], 60, 16)
    assert Sample.objects.get(source_id="s1").class_indices == [2, 11]


def test_it_imports_8_bit_pngs_and_names_in_a_class_name_label_file(tmp_path):
    folder = tmp_path / "in"
    write_channels(folder, "a", channel_pixels(1, dtype=np.uint8), suffix=".png")
    (folder / "labels.txt").write_text("a, Golgi apparatus, Vesicles\n")
    run_import(folder, "--name", "pngs")
    sample = Sample.objects.get()
    assert sample.bit_depth == 8 and sample.class_indices == [4, 12]


def test_it_imports_the_reference_codes_npz_layout(tmp_path, settings):
    folder = tmp_path / "npz"
    folder.mkdir()
    hwc = np.random.default_rng(0).integers(0, 255, (50, 70, 4)).astype(np.uint8)
    np.savez_compressed(folder / "k1.npz", sample=hwc)
    write_labels(folder, {"k1": [6]})
    output = run_import(folder, "--name", "ref")
    assert "npz layout" in output
    sample = Sample.objects.get()
    stored = sample_store().open(sample.store_key)
    assert np.array_equal(stored, np.moveaxis(hwc, -1, 0))


def test_npz_planes_can_be_declared_in_another_order(tmp_path, settings):
    folder = tmp_path / "npz"
    folder.mkdir()
    hwc = np.random.default_rng(0).integers(0, 255, (20, 30, 4)).astype(np.uint8)
    np.savez(folder / "k1.npz", sample=hwc)
    write_labels(folder, {"k1": [6]})
    run_import(folder, "--name", "ref", "--channels", "blue,green,red,yellow")
    stored = sample_store().open(Sample.objects.get().store_key)
    assert np.array_equal(stored[2], hwc[..., 0]) and np.array_equal(stored[0], hwc[..., 2])


def test_the_real_hpa_field_imports_like_any_data(tmp_path, settings):
    labels = tmp_path / "labels.txt"
    labels.write_text("57_F11_1, Plasma membrane, Cytosol\n")
    run_import(REAL_HPA_FIELD, "--name", "hpa", "--labels", labels)
    sample = Sample.objects.get()
    assert (sample.width, sample.height, sample.bit_depth) == (1728, 1728, 8)
    assert sample.class_indices == [2, 11]
    assert sample_store().open(sample.store_key).shape == (4, 1728, 1728)


def faulty_folder(tmp_path) -> Path:
    folder = tmp_path / "faulty"
    for i in range(6):
        write_channels(folder, f"s{i}", channel_pixels(i))
    (folder / "s1_yellow.tif").unlink()  # missing channel
    truncated = folder / "s2_green.tif"
    truncated.write_bytes(truncated.read_bytes()[:200])
    tifffile.imwrite(folder / "s3_red.tif", np.zeros((10, 10), np.uint16))  # size mismatch
    (folder / "s4_blue.tif").write_bytes(b"not an image at all" * 50)  # corrupt
    write_labels(folder, {f"s{i}": [i] for i in range(6)} | {"ghost": [1]})
    return folder


def test_bad_samples_are_skipped_with_their_reasons_and_the_rest_imported(tmp_path, settings):
    folder = faulty_folder(tmp_path)
    skipped_file = tmp_path / "skipped.csv"

    output = run_import(folder, "--name", "faulty", "--skipped", skipped_file)

    assert "Imported 2 samples." in output
    assert "missing channel: 1" in output and "size mismatch: 1" in output and "unreadable: 2" in output
    assert "labelled but without images: 1" in output
    assert sorted(Sample.objects.values_list("source_id", flat=True)) == ["s0", "s5"]
    rows = skipped_file.read_text().splitlines()
    assert rows[0] == "id,reason,detail"
    assert {row.split(",")[0] for row in rows[1:]} == {"s1", "s2", "s3", "s4", "ghost"}
    assert len(stored_files(settings)) == 2  # nothing stored for the skipped samples


def test_importing_the_same_folder_twice_creates_no_duplicates(tmp_path, settings):
    folder = faulty_folder(tmp_path)
    run_import(folder, "--name", "faulty")
    output = run_import(folder, "--name", "faulty")
    assert "Imported 0 samples." in output and "Already in 'faulty' (left as they were): 2." in output
    assert Sample.objects.count() == 2 and ReferenceLabel.objects.count() == 2
    assert len(stored_files(settings)) == 2


def test_a_database_failure_leaves_no_half_sample(tmp_path, settings, monkeypatch):
    folder = tmp_path / "in"
    write_channels(folder, "a", channel_pixels(0))
    write_labels(folder, {"a": [1]})

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ReferenceLabel.objects, "bulk_create", fail)
    with pytest.raises(RuntimeError):
        run_import(folder, "--name", "x")
    assert not Sample.objects.exists() and not ReferenceLabel.objects.exists()
    assert stored_files(settings) == []


def test_a_folder_without_samples_is_a_clear_error(tmp_path):
    (tmp_path / "labels.csv").write_text("Id,Target\na,1\n")
    with pytest.raises(CommandError, match="holds no samples"):
        run_import(tmp_path, "--name", "empty")


def test_labels_that_match_no_sample_are_a_clear_error(tmp_path):
    folder = tmp_path / "in"
    write_channels(folder, "a", channel_pixels(0))
    write_labels(folder, {"zzz": [1]})
    with pytest.raises(CommandError, match="none of its 1 sample ids matches"):
        run_import(folder, "--name", "x")
    assert not Dataset.objects.exists()


def test_an_unknown_class_stops_before_anything_is_imported(tmp_path, settings):
    folder = tmp_path / "in"
    write_channels(folder, "a", channel_pixels(0))
    (folder / "labels.txt").write_text("a, Nucleus\nb, Nucleoli, Aggresomes\n")
    with pytest.raises(CommandError, match=r"labels.txt, line 2: column 3: unknown class 'Aggresomes' \(nearest: "):
        run_import(folder, "--name", "x")
    assert not Sample.objects.exists() and stored_files(settings) == []


def test_a_second_import_into_a_data_set_must_use_its_label_set(tmp_path):
    folder = tmp_path / "in"
    write_channels(folder, "a", channel_pixels(0))
    write_labels(folder, {"a": [1]})
    run_import(folder, "--name", "x")
    with pytest.raises(CommandError, match="uses the cyto13 label set, not hpa28"):
        run_import(folder, "--name", "x", "--label-set", "hpa28")


def test_parallel_workers_import_the_same_pixels(tmp_path, settings):
    folder = tmp_path / "in"
    pixels = {f"s{i}": channel_pixels(i) for i in range(4)}
    for sample_id, array in pixels.items():
        write_channels(folder, sample_id, array)
    write_labels(folder, {s: [1] for s in pixels})
    run_import(folder, "--name", "par", "--workers", "2")
    store = sample_store()
    assert all(np.array_equal(store.open(s.store_key), pixels[s.source_id]) for s in Sample.objects.all())


def test_store_file_names_do_not_reveal_the_sample_id(tmp_path, settings):
    folder = tmp_path / "in"
    write_channels(folder, "Nucleus_sample_7", channel_pixels(0))
    write_labels(folder, {"Nucleus_sample_7": [10]})
    run_import(folder, "--name", "x")
    assert "Nucleus" not in Sample.objects.get().store_key
