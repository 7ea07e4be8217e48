import io
import re
import sys

import pytest
from django.core.management import call_command

from models_zoo.training.progress import PlainProgress, plain_interval
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db

# 14 training samples in batches of 1: 14 batches an epoch, a plain line every 2.
CLASSES = [[i % 13] for i in range(16)]
SPLITS = ["train"] * 14 + ["val"] * 2
TINY = dict(epochs=1, crop=32, batch_size=1, lr=0.01, seed=0, workers=0)
PLAIN_LINE = re.compile(
    r"^epoch 1/1: batch (\d+)/14 \(\d+%\), \d+\.\d samples/s, \d\d:\d\d elapsed(, about \d\d:\d\d left)?, "
    r"loss \d+\.\d{4}$"
)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_interval_is_a_tenth_of_the_epoch_or_fifty_batches_whichever_is_fewer():
    assert [plain_interval(n) for n in (0, 1, 9, 14, 300, 500, 501, 10_000)] == [1, 1, 1, 2, 30, 50, 50, 50]


def test_a_line_is_due_every_interval_and_after_the_last_batch():
    progress = PlainProgress("epoch 1/1", 25, stream=io.StringIO())
    assert progress.every == 3
    assert [done for done in range(1, 26) if progress.due(done)] == [3, 6, 9, 12, 15, 18, 21, 24, 25]


def test_training_into_a_pipe_prints_plain_progress_lines_inside_the_epoch(monkeypatch):
    pixel_dataset("tiny", CLASSES, SPLITS)
    piped = io.StringIO()  # not a terminal: tqdm draws no bar there
    monkeypatch.setattr(sys, "stderr", piped)
    call_command("train", "gapnet_pl", dataset="tiny", name="piped", stdout=io.StringIO(), **TINY)
    lines = [line for line in piped.getvalue().splitlines() if PLAIN_LINE.match(line)]
    assert [int(PLAIN_LINE.match(line).group(1)) for line in lines] == [2, 4, 6, 8, 10, 12, 14]
    assert all(" left, " in line for line in lines[:-1])
    assert lines[-1].startswith("epoch 1/1: batch 14/14 (100%), ") and " left, " not in lines[-1]


def test_on_a_terminal_the_bar_shows_progress_and_no_plain_line_is_printed(monkeypatch):
    pixel_dataset("tiny", CLASSES, SPLITS)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    call_command("train", "gapnet_pl", dataset="tiny", name="terminal", stdout=io.StringIO(), **TINY)
    assert "epoch 1/1:" in terminal.getvalue() and "/14 [" in terminal.getvalue()  # tqdm's bar
    assert not any(PLAIN_LINE.match(line) for line in terminal.getvalue().splitlines())
    assert "batch 2/14" not in terminal.getvalue()


def test_each_epoch_says_and_logs_the_loaders_crops_per_second_beside_the_models_rate(capsys):
    import json

    from models_zoo.models import ModelRun

    pixel_dataset("tiny", CLASSES, SPLITS)
    call_command("train", "gapnet_pl", dataset="tiny", name="rates", **dict(TINY, batch_size=2, workers=1))
    printed = capsys.readouterr().out
    record = json.loads((ModelRun.objects.get(name="rates").directory / "metrics.jsonl").read_text())
    assert record["loader_crops_per_second"] > 0 and record["model_samples_per_second"] >= record["samples_per_second"]
    assert 0 <= record["data_wait_fraction"] <= 1
    assert record["processes"] == 1 and record["batch_per_process"] == 2
    line = re.search(
        r"epoch 1: .* samples/s: the model (\S+) samples/s, the loader (\S+) crops/s \(1 worker\), (\d+)% of the time "
        r"waiting for data", printed,
    )
    assert line, printed
    assert float(line.group(2)) == pytest.approx(record["loader_crops_per_second"], rel=1e-3)
