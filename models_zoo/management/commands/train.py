from django.core.management.base import BaseCommand, CommandError

from models_zoo.management.command_options import DEVICES, check_device, config_error
from models_zoo.models import ModelRun
from models_zoo.registry import list_models
from models_zoo.runs import RunError, create_run, get_run
from models_zoo.training.checkpoint import LAST, CheckpointError, load_checkpoint
from models_zoo.training.config import ConfigError, TrainConfig
from models_zoo.training.loop import train
from models_zoo.training.processes import current_processes, decided_by_writer, per_process_batch, process_group
from site_machinery.commands import DatabaseCommand
from study.lookups import get_dataset
from study.models import Sample

# Settings that may change when a run is resumed: how it runs, and how long, not what it computes.
RESUMABLE = ("epochs", "device", "workers", "compile")


def check_batch(config: TrainConfig, world_size: int) -> None:
    """--batch-size is the global batch: it must share out evenly among the processes."""
    try:
        per_process_batch(config.batch_size, world_size)
    except ConfigError as error:
        raise config_error(error) from None


def run_training(command: BaseCommand, run: ModelRun, config: TrainConfig, resume: bool = False) -> None:
    """Train, marking the run failed if training stops on an error (an interrupt leaves it resumable).

    Under torchrun every process marks the run failed when it fails itself, whichever its rank: the
    others may be waiting for it, or stopped by torchrun, and never know why.
    """
    processes = current_processes()
    try:
        outcome = train(config, run, resume=resume)
    except FloatingPointError as error:
        ModelRun.objects.filter(pk=run.pk).update(status=ModelRun.Status.FAILED)
        raise CommandError(f"run {run.name!r}: {error}; try a lower --lr") from None
    except ConfigError as error:
        ModelRun.objects.filter(pk=run.pk).update(status=ModelRun.Status.FAILED)
        raise config_error(error) from None
    except Exception:
        ModelRun.objects.filter(pk=run.pk).update(status=ModelRun.Status.FAILED)
        raise
    if not processes.is_writer:
        return
    best = "none" if outcome.best_epoch is None else f"{outcome.best_val_macro_f1:.4f} at epoch {outcome.best_epoch}"
    command.stdout.write(command.style.SUCCESS(f"Run {run.name!r} finished: best validation macro-F1 {best}."))
    command.stdout.write(f"Checkpoints and metrics: {run.directory}")


class Command(DatabaseCommand):
    help = (
        "Train a model on a data set's training split, validating on whole validation images every epoch. "
        "The defaults are the paper's recipe for the model. Run under torchrun to train on several GPUs "
        "(--batch-size stays the global batch, shared out among the processes; the rate is unchanged). "
        "Two options go beyond the paper and are off by default: "
        "--average-weights (validate and keep an exponential moving average of the weights) and --tta "
        "(validate each tile as the mean over its 8 flips and quarter turns)."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help=f"One of: {', '.join(list_models())}.")
        parser.add_argument("--dataset", help="The data set to train on (it must be split).")
        parser.add_argument("--name", help="The run's name (default: MODEL-DATASET-N).")
        parser.add_argument("--epochs", type=int)
        parser.add_argument(
            "--batch-size", type=int,
            help="The global batch, shared out among torchrun's processes (a multiple of their number). "
            "Default: the paper's for the model (GapNet-PL: 40).",
        )
        parser.add_argument("--crop", type=int, help="Training crop and evaluation tile size (default 1024).")
        parser.add_argument("--lr", type=float, help="Initial learning rate (default: the paper's for the model).")
        parser.add_argument("--device", choices=DEVICES)
        parser.add_argument("--workers", type=int, help="DataLoader worker processes (default 0).")
        parser.add_argument("--amp", action="store_true", default=None, help="bfloat16 autocast.")
        parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model.")
        parser.add_argument("--resume", metavar="RUN", help="Continue a run from its last checkpoint.")
        parser.add_argument("--seed", type=int)
        parser.add_argument("--augment", action="store_true", default=None, help="Random flips and quarter turns.")
        parser.add_argument(
            "--tune-thresholds", action="store_true", default=None,
            help="Tune per-class thresholds on the validation split at the end (default 0.5).",
        )
        parser.add_argument("--max-train-samples", type=int, help="Train on a seeded subset of this many samples.")
        parser.add_argument(
            "--average-weights", action="store_true", default=None,
            help="Beyond the paper: keep an exponential moving average of the weights (and batch-norm "
            "statistics), updated after every optimizer step; it is what is validated and saved as the best model.",
        )
        parser.add_argument(
            "--average-decay", type=float, metavar="DECAY",
            help="With --average-weights: the share of the average kept at each step (default 0.999; "
            "it then spans about 1/(1-DECAY) steps).",
        )
        parser.add_argument(
            "--tta", action="store_true", default=None,
            help="Beyond the paper: test-time augmentation in validation, each tile's probabilities averaged "
            "over its 8 flips and quarter turns (8 times the validation forward passes).",
        )

    def handle(self, *args, **options):
        settings = {
            "epochs": options["epochs"], "batch_size": options["batch_size"], "crop": options["crop"],
            "learning_rate": options["lr"], "device": options["device"], "workers": options["workers"],
            "amp": options["amp"], "compile": options["compile"], "seed": options["seed"],
            "augment": options["augment"], "tune_thresholds": options["tune_thresholds"],
            "max_train_samples": options["max_train_samples"], "average_weights": options["average_weights"],
            "average_decay": options["average_decay"], "tta": options["tta"],
        }
        if options["resume"]:
            self.resume(options, settings)
            return
        model = options["model"]
        if model not in list_models():
            raise CommandError(f"MODEL {model!r}: unknown model; choose one of: {', '.join(list_models())}")
        if not options["dataset"]:
            raise CommandError("--dataset is required: the data set to train on")
        if options["average_decay"] is not None and not options["average_weights"]:
            raise CommandError("--average-decay: it sets the decay of --average-weights, which is not given")
        dataset = self.dataset(options["dataset"])
        try:
            config = TrainConfig.for_architecture(model, dataset=dataset.name, **settings)
        except ConfigError as error:
            raise config_error(error) from None
        check_device(config.device)
        processes = current_processes()
        check_batch(config, processes.world_size)
        with process_group(processes, config.device):
            self.train_new(options, model, dataset, config, processes)

    def train_new(self, options, model, dataset, config: TrainConfig, processes) -> None:
        def new_run() -> int:
            name = options["name"] or self.default_name(model, dataset.name)
            try:
                run = create_run(name, ModelRun.Kind.TRAINED, model, dataset, config.to_dict())
            except RunError as error:
                raise CommandError(f"--name: {error}") from None
            self.stdout.write(f"Training {model} on {dataset.name!r} as run {name!r} ({config.device}).")
            return run.pk

        run = ModelRun.objects.get(pk=decided_by_writer(processes, new_run))
        run_training(self, run, config)

    def resume(self, options, settings) -> None:
        try:
            run = get_run(options["resume"])
            saved = TrainConfig.from_dict(run.config)
            config = saved.replace(**{key: settings[key] for key in RESUMABLE})
            done = load_checkpoint(run.directory / LAST)["epoch"]
        except (RunError, CheckpointError) as error:
            raise CommandError(f"--resume: {error}") from None
        except ConfigError as error:
            raise config_error(error) from None
        if run.kind != ModelRun.Kind.TRAINED:
            raise CommandError(f"--resume: run {run.name!r} is {run.get_kind_display()}; use its own command")
        if options["model"] != run.architecture:
            raise CommandError(f"MODEL {options['model']!r}: run {run.name!r} trains {run.architecture}")
        if options["dataset"] and options["dataset"] != run.dataset.name:
            raise CommandError(f"--dataset {options['dataset']!r}: run {run.name!r} trains on {run.dataset.name!r}")
        changed = sorted(k for k, v in settings.items() if v is not None and k not in RESUMABLE and v != getattr(saved, k))
        if changed:
            raise CommandError(
                f"--resume: {', '.join(changed)} cannot change when a run is resumed (only {', '.join(RESUMABLE)})"
            )
        if done >= config.epochs:
            raise CommandError(f"--resume: run {run.name!r} has trained {done} of {config.epochs} epochs; raise --epochs")
        check_device(config.device)
        processes = current_processes()
        check_batch(config, processes.world_size)
        with process_group(processes, config.device):
            self.continue_run(run, config, done, processes)

    def continue_run(self, run: ModelRun, config: TrainConfig, done: int, processes) -> None:
        def reopen() -> None:
            run.config, run.status, run.finished_at = config.to_dict(), ModelRun.Status.RUNNING, None
            run.save(update_fields=["config", "status", "finished_at"])
            self.stdout.write(f"Resuming run {run.name!r} after epoch {done} of {config.epochs}.")

        decided_by_writer(processes, reopen)
        run_training(self, run, config, resume=True)

    @staticmethod
    def dataset(name: str):
        try:
            dataset = get_dataset(name)
        except CommandError as error:
            raise CommandError(f"--dataset: {error}") from None
        for split, meaning in (("train", "training"), ("val", "validation")):
            if not Sample.objects.filter(dataset=dataset, split=split).exists():
                raise CommandError(
                    f"--dataset {name!r} has no {meaning} samples; split it first "
                    f"(python manage.py make_splits {name} --seed 0)"
                )
        return dataset

    @staticmethod
    def default_name(model: str, dataset: str) -> str:
        number = 1
        while ModelRun.objects.filter(name=f"{model}-{dataset}-{number}").exists():
            number += 1
        return f"{model}-{dataset}-{number}"
