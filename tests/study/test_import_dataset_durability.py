"""An import killed at any point leaves every sample either whole in the store and the database or
in neither; the next import of the data set clears what the killed one left."""

import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from study.importer import store_key
from study.models import Dataset, Sample
from study.store import sample_store
from tests.factories import channel_pixels, write_channels, write_labels

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = 6

# An import in a process of its own, with a store flushed two samples at a time, that kills itself
# (SIGKILL: no clean-up runs) when the flush of the second batch begins or has just ended, the first
# batch recorded.
IMPORT_AND_DIE = """
import os, signal, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from django.core.management import call_command
import study.importer
from study.store import SampleStore

study.importer.FLUSH_SAMPLES = 2
study.importer.FLUSHES_AHEAD = 0  # each batch recorded before the next is flushed: the first is in
moment, folder = sys.argv[1], sys.argv[2]
call_command("migrate", verbosity=0)
flush = SampleStore.make_durable
flushes = []

def make_durable(store, keys):
    flushes.append(keys)
    if moment == "before the flush" and len(flushes) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    flush(store, keys)
    if moment == "after the flush" and len(flushes) == 2:
        os.kill(os.getpid(), signal.SIGKILL)

if moment != "never":
    SampleStore.make_durable = make_durable
call_command("import_dataset", folder, "--name", "x", "--label-set", "cyto13", "--no-qc", stdout=open(os.devnull, "w"))
"""


def import_in_a_process(data_dir: Path, folder: Path, moment: str) -> int:
    # A fresh environment: no DATABASE_URL, so the process uses its own SQLite file in data_dir.
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(data_dir), "DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_DIE, moment, str(folder)], cwd=ROOT, env=environment, capture_output=True
    )
    return done.returncode


def stored(data_dir: Path) -> tuple[dict[str, str], set[str]]:
    """The rows (source id -> store key) and every file under the store."""
    with sqlite3.connect(data_dir / "study.sqlite3") as database:
        rows = dict(database.execute("select source_id, store_key from study_sample"))
    store = data_dir / "store"
    files = {path.relative_to(store).as_posix() for path in store.rglob("*") if path.is_file()}
    return rows, files


@pytest.fixture
def folder(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    pixels = {f"s{i}": channel_pixels(i, shape=(24, 32)) for i in range(SAMPLES)}
    for sample_id, array in pixels.items():
        write_channels(tmp_path / "in", sample_id, array)
    write_labels(tmp_path / "in", {sample_id: [1] for sample_id in pixels})
    return tmp_path / "in", pixels


@pytest.mark.parametrize("moment", ["before the flush", "after the flush"])
def test_an_import_killed_mid_way_leaves_only_whole_samples_and_the_next_import_clears_the_rest(
    tmp_path, folder, moment
):
    source, pixels = folder
    data_dir = tmp_path / "data"

    assert import_in_a_process(data_dir, source, moment) == -9
    rows, files = stored(data_dir)
    for sample_id, key in rows.items():
        assert key in files
        assert np.array_equal(np.load(data_dir / "store" / key), pixels[sample_id])
    assert len(rows) == 2
    assert files - set(rows.values())  # staged files, or files flushed but not yet recorded

    # The samples it did not record are gone from the folder now: what it left of them is cleared.
    kept = tmp_path / "kept"
    kept.mkdir()
    for path in source.iterdir():
        if path.name == "labels.csv" or path.name.split("_")[0] in rows:
            shutil.copy(path, kept / path.name)
    assert import_in_a_process(data_dir, kept, "never") == 0
    assert stored(data_dir) == (rows, set(rows.values()))

    assert import_in_a_process(data_dir, source, "never") == 0
    rows, files = stored(data_dir)
    assert set(rows) == set(pixels)
    assert files == set(rows.values())
    for sample_id, key in rows.items():
        assert np.array_equal(np.load(data_dir / "store" / key), pixels[sample_id])


@pytest.mark.django_db
def test_an_import_beside_another_of_the_same_data_set_leaves_its_files_alone(folder):
    source, _ = folder
    call_command("import_dataset", str(source), "--name", "x", "--label-set", "cyto13", stdout=StringIO())
    dataset = Dataset.objects.get()
    store = sample_store()
    other_import = store.path(store_key(dataset, "being-imported-elsewhere"))
    other_import.write_bytes(b"a sample another import has flushed and not yet recorded")
    Sample.objects.filter(source_id="s5").delete()

    descriptor = os.open(other_import.parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)  # as the other import holds it
        call_command("import_dataset", str(source), "--name", "x", stdout=StringIO())
        assert other_import.exists()
    finally:
        os.close(descriptor)
    assert Sample.objects.filter(source_id="s5").exists()

    call_command("import_dataset", str(source), "--name", "x", stdout=StringIO())
    assert not other_import.exists()
