"""Options the models_zoo commands share, declared and checked in one place: the device, the options of
the commands that read whole images (``predict``, ``calibrate_channels``), and training settings' errors
named by the option that sets them."""

from __future__ import annotations

import torch
from django.core.management.base import CommandError

from models_zoo.training.config import ConfigError
from models_zoo.training.processes import current_processes, process_device

DEVICES = ["cpu", "cuda"]
# TrainConfig field -> the option that sets it, for error messages.
TRAINING_OPTIONS = {
    "epochs": "--epochs", "batch_size": "--batch-size", "crop": "--crop", "learning_rate": "--lr",
    "device": "--device", "workers": "--workers", "max_train_samples": "--max-train-samples",
    "average_weights": "--average-weights", "average_decay": "--average-decay", "tta": "--tta",
}


def config_error(error: ConfigError) -> CommandError:
    """A training setting's error, named by its option."""
    message = str(error)
    field = message.split()[0]
    return CommandError(f"{TRAINING_OPTIONS[field]}: {message}" if field in TRAINING_OPTIONS else message)


def check_device(device: str) -> None:
    """``--device``: CUDA must be there, and under torchrun a GPU for every process of the machine."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CommandError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    try:
        process_device(device, current_processes())
    except ConfigError as error:
        raise CommandError(f"--device: {error}") from None


def add_whole_image_options(parser, batch_size: int, batch_help: str) -> None:
    """``--device``, ``--batch-size`` (tiles per forward pass) and ``--workers`` (processes reading images ahead)."""
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=batch_help)
    parser.add_argument("--workers", type=int, default=0, help="Processes reading images ahead.")


def check_whole_image_options(options: dict) -> None:
    check_device(options["device"])
    if options["batch_size"] < 1:
        raise CommandError("--batch-size must be at least 1")
    if options["workers"] < 0:
        raise CommandError("--workers must be 0 or more")
