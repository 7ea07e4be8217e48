"""The two options that go beyond the paper's recipe: weight averaging and test-time augmentation."""

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo.models import ModelRun
from models_zoo.runs import load_run_model
from models_zoo.tiling import predict_whole_image
from models_zoo.training.checkpoint import load_checkpoint
from models_zoo.training.config import ConfigError, TrainConfig
from models_zoo.training.data import WholeImageDataset, split_samples
from study.store import sample_store
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db

CLASSES = [[i % 13, (i + 5) % 13] if i % 3 == 0 else [i % 13] for i in range(20)]
SPLITS = ["train"] * 14 + ["val"] * 6
TINY = dict(crop=32, batch_size=4, lr=0.01, seed=3, workers=0)


def test_the_paper_recipe_stays_the_default():
    config = TrainConfig.for_architecture("gapnet_pl")
    assert config.average_weights is False and config.tta is False and config.average_decay == 0.999


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("average_decay", 1.0, "average_decay must be between 0 and 1"),
        ("average_decay", 0, "average_decay must be between 0 and 1"),
        ("average_decay", -0.5, "average_decay must be between 0 and 1"),
        ("average_weights", "yes", "average_weights must be true or false, got 'yes'"),
        ("tta", 1, "tta must be true or false, got 1"),
    ],
)
def test_bad_averaging_and_tta_settings_are_named(setting, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig().replace(**{setting: value})


def test_the_train_command_names_bad_averaging_options():
    pixel_dataset("split", [[0], [1], [2], [3]], ["train", "train", "val", "test"])
    with pytest.raises(CommandError, match=r"--average-decay: average_decay must be between 0 and 1.*got 1\.5"):
        call_command("train", "gapnet_pl", dataset="split", average_weights=True, average_decay=1.5)
    with pytest.raises(CommandError, match=r"--average-decay: .*--average-weights, which is not given"):
        call_command("train", "gapnet_pl", dataset="split", average_decay=0.99)
    assert not ModelRun.objects.exists()


# DenseNet-121 has batch normalisation, whose running statistics are averaged too.
@pytest.mark.parametrize("architecture", ["gapnet_pl", "densenet121"])
def test_the_best_checkpoint_holds_the_averaged_weights_that_were_validated_with_tta(architecture):
    dataset = pixel_dataset("tiny", CLASSES, SPLITS)
    call_command(
        "train", architecture, dataset="tiny", name="averaged", epochs=1, average_weights=True, average_decay=0.8,
        tta=True, **TINY,
    )
    run = ModelRun.objects.get(name="averaged")
    assert run.config["average_weights"] is True and run.config["average_decay"] == 0.8 and run.config["tta"] is True
    last = load_checkpoint(run.directory / "last.pt")
    best = load_checkpoint(run.directory / "best.pt")
    assert best["epoch"] == 1  # the first validation is always the best so far

    # best.pt holds the average (batch-norm statistics included), not the trained weights of last.pt.
    # one update per optimizer step: 14 samples, 3 full batches of 4 (the last, smaller one is left out)
    assert int(last["averaged"]["n_averaged"]) == 3
    assert best["model"].keys() == last["model"].keys()
    for name, value in best["model"].items():
        assert torch.equal(value, last["averaged"][f"module.{name}"]), name
    differ = {name for name, value in best["model"].items() if not torch.equal(value, last["model"][name])}
    assert any(name.endswith(".weight") for name in differ)
    statistics = {name for name in best["model"] if name.endswith((".running_mean", ".running_var"))}
    assert bool(statistics) == (architecture == "densenet121")
    assert statistics <= differ

    # Those weights, predicting with test-time augmentation, give the validation probabilities stored.
    model, tile = load_run_model(run)
    images = WholeImageDataset(sample_store(), split_samples(dataset, "val"))
    augmented = np.array([predict_whole_image(model, images[i][1], tile, tta=True) for i in range(len(images))])
    plain = np.array([predict_whole_image(model, images[i][1], tile) for i in range(len(images))])
    np.testing.assert_allclose(best["val_probabilities"].numpy(), augmented, rtol=0, atol=1e-6)
    assert np.abs(best["val_probabilities"].numpy() - plain).max() > 1e-5
