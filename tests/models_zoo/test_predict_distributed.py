"""``torchrun --nproc_per_node=2 manage.py predict ...`` on the CPU (gloo): two processes share the samples
out, each stores its own chunks, and the predictions are those of one process; a prediction under torchrun
resumes with what is left."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = (str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node=2")

# The database, a data set "tiny" of 21 random 96 px images (unsplit), and a finished run of a randomly
# initialised GapNet-PL evaluated with 64 px tiles (four per image): one process, not five commands.
SETUP = """
import numpy as np
import torch
from django.conf import settings
from django.core.management import call_command
from models_zoo.models import ModelRun
from models_zoo.registry import create_model
from models_zoo.runs import create_run, model_checkpoint, save_run_model
from study.models import Dataset, Sample
from study.store import sample_store
call_command("migrate", verbosity=0)
dataset = Dataset.objects.create(name="tiny", label_set_key="cyto13")
store = sample_store()
for i in range(21):
    store.write(f"tiny-{i}.npy", np.random.default_rng(i).integers(0, 4000, (4, 96, 96)).astype(np.uint16))
    Sample.objects.create(dataset=dataset, source_id=f"s{i:02d}", height=96, width=96, bit_depth=16,
                          store_key=f"tiny-{i}.npy")
torch.manual_seed(0)
network = create_model("gapnet_pl", num_classes=len(dataset.label_set))
run = create_run("random", ModelRun.Kind.TRAINED, "gapnet_pl", dataset, {})
save_run_model(run, model_checkpoint(network, "gapnet_pl", 64, False))
ModelRun.objects.filter(pk=run.pk).update(status=ModelRun.Status.FINISHED)
"""


def manage(data_dir: Path, *args: str, launcher: tuple[str, ...] = (sys.executable,)) -> str:
    environment = dict(os.environ, DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    environment.pop("DATABASE_URL", None)
    done = subprocess.run(
        [*launcher, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def predictions(data_dir: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    with sqlite3.connect(data_dir / "study.sqlite3") as database:
        rows = database.execute(
            "SELECT s.source_id, p.probabilities, p.classes FROM models_zoo_prediction p "
            "JOIN study_sample s ON s.id = p.sample_id"
        ).fetchall()
    return {
        source: (np.array(json.loads(probabilities)), json.loads(classes)) for source, probabilities, classes in rows
    }


def assert_same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for source, (probabilities, classes) in expected.items():
        # One process uses both cores' threads, each of two one: sums may differ in the last bits.
        np.testing.assert_allclose(got[source][0], probabilities, rtol=0, atol=1e-6)
        assert got[source][1] == classes


def test_two_processes_predict_what_one_does_and_resume_with_what_is_left(tmp_path):
    data_dir = tmp_path / "data"
    manage(data_dir, "shell", "-c", SETUP)

    out = manage(data_dir, "predict", "random", "--dataset", "tiny", "--chunk-size", "4")
    assert "Stored 21 predictions (0 replaced earlier ones)" in out
    one = predictions(data_dir)
    assert len(one) == 21

    # Interrupted: a third of the predictions never made it; two processes predict what is left.
    with sqlite3.connect(data_dir / "study.sqlite3") as database:
        database.execute("DELETE FROM models_zoo_prediction WHERE id % 3 = 0")
    kept = len(predictions(data_dir))
    out = manage(data_dir, "predict", "random", "--dataset", "tiny", "--chunk-size", "2", launcher=TORCHRUN)
    assert f"Predicting {21 - kept} of the 21 samples of data set 'tiny' with run 'random' in 2 processes" in out
    assert f"Stored {21 - kept} predictions (0 replaced earlier ones)" in out and "by 2 processes" in out
    assert f"Skipped {kept} samples" in out
    assert out.count("Stored") == 1  # the first process speaks for both
    assert_same(predictions(data_dir), one)

    # Every sample again, each process writing chunks of two while the other does.
    out = manage(data_dir, "predict", "random", "--dataset", "tiny", "--replace", "--chunk-size", "2",
                 launcher=TORCHRUN)
    assert "Stored 21 predictions (21 replaced earlier ones)" in out and "by 2 processes" in out
    assert_same(predictions(data_dir), one)
