"""``torchrun --nproc_per_node=2 manage.py train ...`` on the CPU (the gloo backend): two processes train
one run together, sharing out the global batch (and an average of the weights, whose batch-norm buffers
are shared before validation), and only the first writes the run, its metrics and its checkpoints; when
the second fails, the run is marked failed."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = (str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node=2")


def manage(data_dir: Path, *args: str, launcher: tuple[str, ...] = (sys.executable,)) -> subprocess.CompletedProcess:
    environment = dict(os.environ, DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    environment.pop("DATABASE_URL", None)
    return subprocess.run(
        [*launcher, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600
    )


def succeeds(data_dir: Path, *args: str, **kwargs) -> None:
    done = manage(data_dir, *args, **kwargs)
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_processes_train_one_run_and_only_the_first_writes_and_a_failure_in_the_second_fails_the_run(tmp_path):
    data_dir = tmp_path / "data"
    source = tmp_path / "source"
    succeeds(data_dir, "migrate")
    succeeds(data_dir, "generate_synthetic", str(source), "--samples", "48", "--size", "64", "--seed", "5")
    succeeds(data_dir, "import_dataset", str(source), "--name", "tiny", "--label-set", "cyto13")
    succeeds(data_dir, "make_splits", "tiny", "--seed", "0")

    succeeds(
        data_dir, "train", "gapnet_pl", "--dataset", "tiny", "--name", "together", "--epochs", "2",
        "--crop", "64", "--batch-size", "4", "--device", "cpu", "--average-weights", launcher=TORCHRUN,
    )

    database = data_dir / "study.sqlite3"
    with sqlite3.connect(database) as connection:
        runs = connection.execute("SELECT name, status FROM models_zoo_modelrun").fetchall()
        epochs = connection.execute("SELECT epoch FROM models_zoo_epochmetric ORDER BY epoch").fetchall()
    assert runs == [("together", "finished")]
    assert epochs == [(1,), (2,)]
    lines = [json.loads(line) for line in (data_dir / "runs" / "together" / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert all(line["processes"] == 2 and line["batch_per_process"] == 2 for line in lines)  # the global batch of 4
    assert {path.name for path in (data_dir / "runs" / "together").glob("*.pt")} >= {"last.pt", "best.pt"}

    # The second process validates the second, fourth, ... validation image; take the second away.
    with sqlite3.connect(database) as connection:
        keys = connection.execute(
            "SELECT store_key FROM study_sample WHERE split = 'val' ORDER BY source_id"
        ).fetchall()
    (data_dir / "store" / keys[1][0]).unlink()
    done = manage(data_dir, "train", "gapnet_pl", "--resume", "together", "--epochs", "3", launcher=TORCHRUN)
    assert done.returncode != 0
    assert "No such file or directory" in done.stderr
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT status FROM models_zoo_modelrun").fetchall() == [("failed",)]
