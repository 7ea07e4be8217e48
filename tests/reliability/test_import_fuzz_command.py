"""The ``import_dataset`` command on damaged input: a ``CommandError`` whose message names the file
(Django prints it as one line, without a traceback), and no data set, sample or stored file left."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.management import CommandError, call_command, get_commands, load_command_class

from study.models import Dataset, Sample
from study.store import CHANNELS

pytestmark = pytest.mark.django_db

SEED = 20190508


def write_sample(folder: Path, sample_id: str, rng: np.random.Generator) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    paths = {channel: folder / f"{sample_id}_{channel}.tif" for channel in CHANNELS}
    for path in paths.values():
        tifffile.imwrite(path, rng.integers(0, 4096, (20, 28)).astype(np.uint16))
    return paths


def damage(path: Path, rng: np.random.Generator) -> None:
    data = path.read_bytes()
    kind = int(rng.integers(3))
    if kind == 0:
        path.write_bytes(data[: int(rng.integers(1, len(data)))])
    elif kind == 1:
        path.write_bytes(rng.bytes(int(rng.integers(1, 500))))
    else:
        tifffile.imwrite(path, np.zeros((3, 20, 28), np.float32), photometric="minisblack")


def nothing_left(settings) -> bool:
    stored = [path for path in Path(settings.STORE_DIR).rglob("*") if path.is_file()]
    return not Dataset.objects.exists() and not Sample.objects.exists() and not stored


def import_dataset(*args) -> str:
    """``import_dataset`` with ``args``; the labels' class indices are the paper's 13 unless a test says."""
    if "--label-set" not in args:
        args = (*args, "--label-set", "cyto13")
    out = StringIO()
    call_command("import_dataset", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize("draw", range(6))
def test_a_folder_of_only_damaged_samples_is_an_error_that_leaves_nothing(tmp_path, settings, draw):
    rng = np.random.default_rng([SEED, draw])
    folder = tmp_path / "in"
    damaged = []
    for number in range(int(rng.integers(1, 4))):
        paths = write_sample(folder, f"s{number}", rng)
        damaged.append(paths[CHANNELS[int(rng.integers(4))]])
        damage(damaged[-1], rng)
    (folder / "labels.csv").write_text("Id,Target\n" + "".join(f"s{n},{n}\n" for n in range(len(damaged))))

    with pytest.raises(CommandError) as raised:
        import_dataset(folder, "--name", "damaged")

    assert any(path.name in str(raised.value) for path in damaged), raised.value
    assert nothing_left(settings)


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("Id,Target\ns0,3\ns1,Zytosol \xfc\n".encode("latin-1"), "line 3: is not UTF-8 text"),
        (b"s0, Nucleus\ns1, Aggresome\n", "line 2: column 2: unknown class 'Aggresome'"),
        (b"Id,Target\ns0,3\ns0,4\n", "line 3: sample 's0' appears again"),
        (b"PK\x03\x04\x14\x00\x00\x00", "line 1: a NUL character at column 6"),
        (b"", "is empty"),
    ],
)
def test_a_damaged_label_file_is_an_error_naming_its_line_that_leaves_nothing(tmp_path, settings, content, fragment):
    folder = tmp_path / "in"
    write_sample(folder, "s0", np.random.default_rng(SEED))
    write_sample(folder, "s1", np.random.default_rng(SEED + 1))
    (folder / "labels.csv").write_bytes(content)

    with pytest.raises(CommandError, match="labels.csv") as raised:
        import_dataset(folder, "--name", "labels")

    assert fragment in str(raised.value)
    assert nothing_left(settings)


def test_damaged_samples_beside_good_ones_are_listed_and_the_good_ones_imported(tmp_path, settings):
    rng = np.random.default_rng(SEED)
    folder = tmp_path / "in"
    write_sample(folder, "good", rng)
    bad = write_sample(folder, "bad", rng)["green"]
    bad.write_bytes(bad.read_bytes()[:300])
    (folder / "labels.csv").write_text("Id,Target\ngood,1\nbad,2\n")

    output = import_dataset(folder, "--name", "mixed", "--skipped", tmp_path / "skipped.csv")

    assert "Imported 1 samples." in output and "unreadable: 1" in output
    assert "bad_green.tif" in (tmp_path / "skipped.csv").read_text()
    assert list(Sample.objects.values_list("source_id", flat=True)) == ["good"]


def test_from_the_command_line_the_error_is_one_line_without_a_traceback(tmp_path, settings, capsys, monkeypatch):
    folder = tmp_path / "in"
    bad = write_sample(folder, "s0", np.random.default_rng(SEED))["blue"]
    bad.write_bytes(b"")
    (folder / "labels.csv").write_text("Id,Target\ns0,1\n")
    # The command line closes the database connections when it ends; the test's transaction needs them.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    command = load_command_class(get_commands()["import_dataset"], "import_dataset")

    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", "import_dataset", str(folder), "--name", "cli", "--label-set", "cyto13"])

    assert exited.value.code == 1
    errors = capsys.readouterr().err
    assert errors.startswith("CommandError: ") and "s0_blue.tif" in errors
    assert "Traceback" not in errors and len(errors.strip().splitlines()) == 1
    assert nothing_left(settings)
