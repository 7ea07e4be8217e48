from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo.models import ModelRun, Prediction
from models_zoo.runs import load_run_model
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db

RELEASED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "gapnet-pl-released"


def test_the_imported_run_reproduces_the_released_graphs_logits():
    pixel_dataset("cyto", [[0], [1]], ["test", "test"])
    call_command(
        "import_released_gapnet", str(RELEASED), name="released", dataset="cyto", channel_order="red,green,blue,yellow"
    )
    run = ModelRun.objects.get(name="released")
    assert run.kind == ModelRun.Kind.RELEASED and run.status == ModelRun.Status.FINISHED
    assert (run.directory / "LICENSE").is_file()
    model, tile = load_run_model(run)
    assert tile == 1024
    nhwc = np.random.RandomState(0).randn(2, 1024, 1024, 4).astype(np.float32)
    with torch.inference_mode():
        logits = model(torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()).numpy()
    np.testing.assert_allclose(logits, np.load(RELEASED / "logits_randomstate0.npy"), atol=1e-4, rtol=0)


def test_the_imported_run_predicts_like_a_trained_one():
    pixel_dataset("cyto", [[0], [1]], ["test", "test"])
    call_command("import_released_gapnet", str(RELEASED), name="released", dataset="cyto")
    call_command("predict", "released", split="test")
    assert Prediction.objects.filter(run__name="released").count() == 2


def test_bad_import_arguments_are_named(tmp_path):
    pixel_dataset("cyto", [[0]], ["test"])
    pixel_dataset("kaggle", [[0]], ["test"], label_set_key="hpa28")
    with pytest.raises(CommandError, match="--dataset: no data set named 'nowhere'"):
        call_command("import_released_gapnet", str(RELEASED), name="r", dataset="nowhere")
    with pytest.raises(CommandError, match="--channel-order: channel_order must name each of"):
        call_command("import_released_gapnet", str(RELEASED), name="r", dataset="cyto", channel_order="red,green")
    with pytest.raises(CommandError, match="--dataset 'kaggle' has 28 classes"):
        call_command("import_released_gapnet", str(RELEASED), name="r", dataset="kaggle")
    with pytest.raises(CommandError, match=r"weights\.npz: no such file"):
        call_command("import_released_gapnet", str(tmp_path), name="r", dataset="cyto")
    assert not ModelRun.objects.exists()
