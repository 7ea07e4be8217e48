import shutil
from pathlib import Path

from django.core.management.base import CommandError
from django.utils import timezone

from models_zoo.models import ModelRun
from models_zoo.released import (
    RELEASED_CHANNEL_ORDER,
    SHIPPED_WEIGHTS,
    ReleasedWeightsError,
    load_released_gapnet,
)
from models_zoo.runs import RunError, create_run, model_checkpoint, save_run_model
from site_machinery.commands import DatabaseCommand
from study.lookups import get_dataset

RELEASED_TILE = 1024


class Command(DatabaseCommand):
    help = (
        "Import the GapNet-PL weights the paper's authors released as a finished model run, which predict and "
        "finetune then use like any other. Without FOLDER, the copy the package ships (with its BSD 2-Clause "
        "licence); with FOLDER, the weights.npz in it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "folder", type=Path, nargs="?", default=None,
            help="A folder holding weights.npz (default: the released weights the package ships).",
        )
        parser.add_argument("--name", required=True, help="The new run's name.")
        parser.add_argument("--dataset", required=True, help="The data set (13-class label set) it predicts.")
        parser.add_argument(
            "--channel-order",
            default=",".join(RELEASED_CHANNEL_ORDER),
            help="The channel each of the network's 4 inputs expects, in order "
            f"(default {','.join(RELEASED_CHANNEL_ORDER)}; the authors did not document it).",
        )

    def handle(self, *args, **options):
        folder: Path = options["folder"] or SHIPPED_WEIGHTS
        if not folder.is_dir():
            raise CommandError(f"FOLDER {folder}: not a folder")
        try:
            dataset = get_dataset(options["dataset"])
        except CommandError as error:
            raise CommandError(f"--dataset: {error}") from None
        channel_order = tuple(name.strip().lower() for name in options["channel_order"].split(","))
        try:
            model = load_released_gapnet(folder, channel_order)
        except ReleasedWeightsError as error:
            raise CommandError(str(error)) from None
        except ValueError as error:
            raise CommandError(f"--channel-order: {error}") from None
        if len(dataset.label_set) != model.num_classes:
            raise CommandError(
                f"--dataset {dataset.name!r} has {len(dataset.label_set)} classes; the released GapNet-PL "
                f"predicts the paper's {model.num_classes}"
            )
        origin = {"source": str(folder.resolve()), "channel_order": list(channel_order)}
        config = {**origin, "tile": RELEASED_TILE}
        try:
            run = create_run(options["name"], ModelRun.Kind.RELEASED, "gapnet_pl", dataset, config)
        except RunError as error:
            raise CommandError(f"--name: {error}") from None
        save_run_model(run, model_checkpoint(model, "gapnet_pl", RELEASED_TILE, False, **origin))
        if (folder / "LICENSE").is_file():
            shutil.copyfile(folder / "LICENSE", run.directory / "LICENSE")
        run.status, run.finished_at = ModelRun.Status.FINISHED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        self.stdout.write(self.style.SUCCESS(f"Imported the released GapNet-PL as run {run.name!r} ({run.directory})."))
