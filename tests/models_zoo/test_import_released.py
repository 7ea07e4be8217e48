import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo.models import ModelRun, Prediction
from models_zoo.released import SHIPPED_WEIGHTS
from models_zoo.runs import load_run_model
from tests.factories import pixel_dataset
from tests.fixture_files import RELEASED_TEST_VECTOR

pytestmark = pytest.mark.django_db


def released_logits(run: ModelRun) -> np.ndarray:
    model, tile = load_run_model(run)
    assert tile == 1024
    nhwc = np.random.RandomState(0).randn(2, 1024, 1024, 4).astype(np.float32)
    with torch.inference_mode():
        return model(torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()).numpy()


def test_without_a_folder_the_command_imports_the_shipped_weights_with_their_licence():
    pixel_dataset("cyto", [[0], [1]], ["test", "test"])
    call_command("import_released_gapnet", name="released", dataset="cyto", channel_order="red,green,blue,yellow")
    run = ModelRun.objects.get(name="released")
    assert run.kind == ModelRun.Kind.RELEASED and run.status == ModelRun.Status.FINISHED
    assert run.config["source"] == str(SHIPPED_WEIGHTS.resolve())
    assert "BSD 2-Clause" in (run.directory / "LICENSE").read_text()
    np.testing.assert_allclose(released_logits(run), np.load(RELEASED_TEST_VECTOR), atol=1e-4, rtol=0)


def test_a_folder_given_is_imported_instead(tmp_path):
    pixel_dataset("cyto", [[0], [1]], ["test", "test"])
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "weights.npz").write_bytes((SHIPPED_WEIGHTS / "weights.npz").read_bytes())
    call_command("import_released_gapnet", str(folder), name="released", dataset="cyto")
    run = ModelRun.objects.get(name="released")
    assert run.config["source"] == str(folder.resolve())
    assert not (run.directory / "LICENSE").exists()  # none beside this copy
    np.testing.assert_allclose(released_logits(run), np.load(RELEASED_TEST_VECTOR), atol=1e-4, rtol=0)


def test_the_imported_run_predicts_like_a_trained_one():
    pixel_dataset("cyto", [[0], [1]], ["test", "test"])
    call_command("import_released_gapnet", name="released", dataset="cyto")
    call_command("predict", "released", split="test")
    assert Prediction.objects.filter(run__name="released").count() == 2


def test_bad_import_arguments_are_named(tmp_path):
    pixel_dataset("cyto", [[0]], ["test"])
    pixel_dataset("kaggle", [[0]], ["test"], label_set_key="hpa28")
    with pytest.raises(CommandError, match="--dataset: no data set named 'nowhere'"):
        call_command("import_released_gapnet", name="r", dataset="nowhere")
    with pytest.raises(CommandError, match="--channel-order: channel_order must name each of"):
        call_command("import_released_gapnet", name="r", dataset="cyto", channel_order="red,green")
    with pytest.raises(CommandError, match="--dataset 'kaggle' has 28 classes"):
        call_command("import_released_gapnet", name="r", dataset="kaggle")
    with pytest.raises(CommandError, match=r"weights\.npz: no such file"):
        call_command("import_released_gapnet", str(tmp_path), name="r", dataset="cyto")
    assert not ModelRun.objects.exists()
