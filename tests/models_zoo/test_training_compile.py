"""``--compile`` traces the training step once: the last, smaller batch of an epoch is left out, so no
step has another shape (dynamo's eager backend: tracing as torch.compile does, without a C++ compiler)."""

import pytest
import torch
import torch._dynamo
from django.core.management import call_command
from torch._dynamo.utils import counters

from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db


def test_compile_traces_the_model_once_though_the_samples_do_not_fill_the_last_batch(monkeypatch):
    pixel_dataset("tiny", [[i % 13] for i in range(20)], ["train"] * 14 + ["val"] * 6)  # 14 = 3 x 4 + 2
    compile_model = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **options: compile_model(model, backend="eager"))
    torch._dynamo.reset()
    counters.clear()
    call_command("train", "gapnet_pl", dataset="tiny", name="compiled", epochs=2, crop=32, batch_size=4, compile=True)
    assert counters["stats"]["unique_graphs"] == 1
    assert counters["frames"]["total"] == 1
    torch._dynamo.reset()
