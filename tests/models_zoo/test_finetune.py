import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo.models import ModelRun
from models_zoo.runs import SoftmaxOutputs, load_run_model
from models_zoo.training.checkpoint import load_checkpoint
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db

# Training and validation samples with one location, and some with two (left out of the fine-tune).
CLASSES = [[i % 13] for i in range(12)] + [[0, 1], [2, 3]] + [[i % 13] for i in range(5)] + [[4, 5]]
SPLITS = ["train"] * 14 + ["val"] * 6


@pytest.fixture
def trained_run():
    pixel_dataset("tiny", CLASSES, SPLITS)
    call_command("train", "gapnet_pl", dataset="tiny", name="parent", epochs=1, crop=32, batch_size=4, seed=1)
    return ModelRun.objects.get(name="parent")


def test_the_fine_tune_changes_the_last_layer_only(trained_run):
    call_command("finetune", "parent", single_class=True, name="single", epochs=2, lr=0.05)
    before = load_checkpoint(trained_run.directory / "best.pt")["model"]
    after = load_checkpoint(ModelRun.objects.get(name="single").directory / "last.pt")["model"]
    changed = {name for name, weight in before.items() if not torch.equal(weight, after[name])}
    assert changed == {"classifier.weight", "classifier.bias"}


def test_the_fine_tune_is_a_single_class_child_run_whose_probabilities_sum_to_one(trained_run):
    call_command("finetune", "parent", single_class=True, name="single", epochs=1)
    run = ModelRun.objects.get(name="single")
    assert run.kind == ModelRun.Kind.FINETUNED and run.parent == trained_run and run.single_class
    assert run.status == ModelRun.Status.FINISHED and run.config["last_layer_only"] and run.config["single_class"]
    assert run.epochs.count() == 1
    model, tile = load_run_model(run)
    assert isinstance(model, SoftmaxOutputs) and tile == 32
    with torch.inference_mode():
        sums = model.probabilities(torch.randn(3, 4, 32, 32)).sum(dim=1)
    torch.testing.assert_close(sums, torch.ones(3))


def test_the_fine_tune_trains_on_single_location_samples_only(trained_run):
    from models_zoo.training.data import split_samples

    chosen = split_samples(trained_run.dataset, "train", single_class=True)
    assert len(chosen) == 12 and chosen.targets.tolist() == [i % 13 for i in range(12)]


def test_the_fine_tune_needs_the_single_class_flag_and_a_known_run(trained_run):
    with pytest.raises(CommandError, match="--single-class is required"):
        call_command("finetune", "parent")
    with pytest.raises(CommandError, match="RUN: no model run named 'ghost'"):
        call_command("finetune", "ghost", single_class=True)


def test_a_fine_tune_that_fails_is_marked_failed(trained_run):
    # 12 single-location training samples cannot fill one batch of 16.
    with pytest.raises(CommandError, match=r"--batch-size: batch_size 16 \(per process\) is more than the 12"):
        call_command("finetune", "parent", single_class=True, name="single", epochs=1, batch_size=16)
    assert ModelRun.objects.get(name="single").status == ModelRun.Status.FAILED
