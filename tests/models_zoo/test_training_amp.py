"""Training under bfloat16 autocast (``--amp``) on the CPU: validation probabilities stay float32."""

import pytest
import torch
from django.core.management import call_command

from models_zoo.models import ModelRun
from models_zoo.training.checkpoint import load_checkpoint
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db

CLASSES = [[i % 13, (i + 5) % 13] if i % 3 == 0 else [i % 13] for i in range(20)]
SPLITS = ["train"] * 14 + ["val"] * 6


def test_validation_under_amp_keeps_float32_probabilities():
    pixel_dataset("tiny", CLASSES, SPLITS, shape=(32, 32))  # one tile per image: its probabilities
    call_command("train", "gapnet_pl", dataset="tiny", name="amp", epochs=1, crop=32, batch_size=4, seed=0, amp=True)
    probabilities = load_checkpoint(ModelRun.objects.get(name="amp").directory / "best.pt")["val_probabilities"]
    assert not (probabilities.float().bfloat16().double() == probabilities).any()
    assert len(torch.unique(probabilities)) == probabilities.numel()
