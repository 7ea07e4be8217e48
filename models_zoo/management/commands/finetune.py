from django.core.management.base import CommandError

from models_zoo.finetune import DEFAULT_EPOCHS, finetune
from models_zoo.management.command_options import DEVICES, check_device, config_error
from models_zoo.models import ModelRun
from models_zoo.runs import RunError, get_run
from models_zoo.training.checkpoint import CheckpointError
from models_zoo.training.config import ConfigError
from site_machinery.commands import DatabaseCommand


class Command(DatabaseCommand):
    help = (
        "Fine-tune a run's last layer (everything else frozen) on the training samples with exactly one "
        "location, with softmax cross-entropy over the classes: the paper's single-location model."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", help="The trained (or released) run to start from.")
        parser.add_argument(
            "--single-class", action="store_true",
            help="Required: the single-location fine-tune (the only kind there is).",
        )
        parser.add_argument("--name", help="The new run's name (default: RUN-single).")
        parser.add_argument("--epochs", type=int, help=f"Default {DEFAULT_EPOCHS}.")
        parser.add_argument("--lr", type=float, help="Default: the parent run's initial rate.")
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--device", choices=DEVICES)
        parser.add_argument("--workers", type=int)
        parser.add_argument("--seed", type=int)

    def handle(self, *args, **options):
        if not options["single_class"]:
            raise CommandError("--single-class is required: the fine-tune is the paper's single-location one")
        try:
            parent = get_run(options["run"])
        except RunError as error:
            raise CommandError(f"RUN: {error}") from None
        if parent.status != ModelRun.Status.FINISHED:
            raise CommandError(f"RUN: run {parent.name!r} is {parent.get_status_display()}, not finished")
        if options["device"]:
            check_device(options["device"])
        name = options["name"] or f"{parent.name}-single"
        overrides = {
            "epochs": options["epochs"], "learning_rate": options["lr"], "batch_size": options["batch_size"],
            "device": options["device"], "workers": options["workers"], "seed": options["seed"],
        }
        self.stdout.write(f"Fine-tuning the last layer of {parent.name!r} as run {name!r}.")
        try:
            run, outcome = finetune(parent, name, **overrides)
        except RunError as error:
            raise CommandError(str(error)) from None
        except CheckpointError as error:
            raise CommandError(f"RUN: run {parent.name!r} has no usable weights: {error}") from None
        except ConfigError as error:
            raise config_error(error) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.name!r} finished: best validation macro-F1 {outcome.best_val_macro_f1:.4f} "
                f"at epoch {outcome.best_epoch}."
            )
        )
