"""``torchrun --nproc_per_node=2 manage.py train ...`` on the CPU (the gloo backend): two processes train
one run together, and only the first writes the run, its metrics and its checkpoints."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")


def manage(data_dir: Path, *args: str, launcher: tuple[str, ...] = (sys.executable,)) -> None:
    environment = dict(os.environ, DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    environment.pop("DATABASE_URL", None)
    done = subprocess.run(
        [*launcher, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_processes_train_one_run_and_only_the_first_writes(tmp_path):
    data_dir = tmp_path / "data"
    source = tmp_path / "source"
    manage(data_dir, "migrate")
    manage(data_dir, "generate_synthetic", str(source), "--samples", "48", "--size", "64", "--seed", "5")
    manage(data_dir, "import_dataset", str(source), "--name", "tiny", "--label-set", "cyto13")
    manage(data_dir, "make_splits", "tiny", "--seed", "0")

    manage(
        data_dir, "train", "gapnet_pl", "--dataset", "tiny", "--name", "together", "--epochs", "2",
        "--crop", "64", "--batch-size", "4", "--device", "cpu",
        launcher=(str(TORCHRUN), "--standalone", "--nproc_per_node=2"),
    )

    with sqlite3.connect(data_dir / "study.sqlite3") as database:
        runs = database.execute("SELECT name, status FROM models_zoo_modelrun").fetchall()
        epochs = database.execute("SELECT epoch FROM models_zoo_epochmetric ORDER BY epoch").fetchall()
    assert runs == [("together", "finished")]
    assert epochs == [(1,), (2,)]
    lines = (data_dir / "runs" / "together" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert {path.name for path in (data_dir / "runs" / "together").glob("*.pt")} >= {"last.pt", "best.pt"}
