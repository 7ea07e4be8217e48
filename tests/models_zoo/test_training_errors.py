import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo.models import ModelRun
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def split_dataset():
    return pixel_dataset("split", [[0], [1], [2], [3]], ["train", "train", "val", "test"])


def test_an_unknown_model_is_named(split_dataset):
    with pytest.raises(CommandError, match=r"MODEL 'gapnet': unknown model; choose one of: .*gapnet_pl"):
        call_command("train", "gapnet", dataset="split")


def test_an_unknown_dataset_is_named():
    with pytest.raises(CommandError, match=r"--dataset: no data set named 'nowhere'"):
        call_command("train", "gapnet_pl", dataset="nowhere")


def test_a_dataset_without_a_validation_split_is_refused_with_what_to_do():
    pixel_dataset("unsplit", [[0], [1]], ["train", "test"])
    with pytest.raises(CommandError, match=r"--dataset 'unsplit' has no validation samples; split it first"):
        call_command("train", "gapnet_pl", dataset="unsplit")
    assert not ModelRun.objects.exists()


def test_cuda_without_cuda_is_refused(split_dataset, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CommandError, match=r"--device cuda: CUDA is not available"):
        call_command("train", "gapnet_pl", dataset="split", device="cuda")
    assert not ModelRun.objects.exists()


def test_a_bad_setting_names_its_option(split_dataset):
    with pytest.raises(CommandError, match=r"--batch-size: batch_size must be a positive whole number, got 0"):
        call_command("train", "gapnet_pl", dataset="split", batch_size=0)
    with pytest.raises(CommandError, match=r"--lr: learning_rate must be positive"):
        call_command("train", "gapnet_pl", dataset="split", lr=-1.0)


def test_a_taken_run_name_is_refused(split_dataset):
    ModelRun.objects.create(name="taken", kind="trained", architecture="gapnet_pl", dataset=split_dataset)
    with pytest.raises(CommandError, match=r"--name: run name 'taken' is taken"):
        call_command("train", "gapnet_pl", dataset="split", name="taken")


def test_resuming_an_unknown_run_is_named():
    with pytest.raises(CommandError, match=r"--resume: no model run named 'ghost'"):
        call_command("train", "gapnet_pl", resume="ghost")


def test_a_resume_may_not_change_what_the_run_computes(split_dataset):
    call_command("train", "gapnet_pl", dataset="split", name="short", epochs=1, crop=32, batch_size=2)
    with pytest.raises(CommandError, match=r"--resume: crop cannot change"):
        call_command("train", "gapnet_pl", resume="short", epochs=2, crop=64)
    with pytest.raises(CommandError, match=r"has trained 1 of 1 epochs; raise --epochs"):
        call_command("train", "gapnet_pl", resume="short")
    with pytest.raises(CommandError, match=r"--resume: average_weights, tta cannot change"):
        call_command("train", "gapnet_pl", resume="short", epochs=2, average_weights=True, tta=True)
