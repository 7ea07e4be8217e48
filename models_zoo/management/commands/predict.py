from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from models_zoo.prediction import predict_samples
from models_zoo.runs import RunError, get_run
from study.lookups import get_dataset, get_study
from study.models import Sample

from .train import check_device

SPLITS = [choice for choice, _ in Sample.Split.choices if choice]


class Command(BaseCommand):
    help = (
        "Predict whole samples with a run (mean of 1024 tiles' probabilities) into Prediction rows: a study's "
        "samples (--study) or a split of a data set (--split --dataset). Predicting again replaces them."
    )

    def add_arguments(self, parser):
        parser.add_argument("run")
        parser.add_argument("--study", help="Predict the samples of this study.")
        parser.add_argument("--split", choices=SPLITS, help="Predict this split of --dataset.")
        parser.add_argument("--dataset", help="The data set of --split (default: the run's).")
        parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
        parser.add_argument("--batch-size", type=int, default=4, help="Tiles per forward pass.")
        parser.add_argument("--workers", type=int, default=0, help="Processes reading images ahead.")
        parser.add_argument("--amp", action="store_true", help="bfloat16 autocast.")
        parser.add_argument(
            "--tta", action="store_true",
            help="Test-time augmentation (beyond the paper): each tile's probabilities averaged over its 8 flips "
            "and quarter turns; 8 times the forward passes. A run's tuned thresholds fit the probabilities its "
            "validation used (train --tta or not).",
        )

    def handle(self, *args, **options):
        try:
            run = get_run(options["run"])
        except RunError as error:
            raise CommandError(f"RUN: {error}") from None
        check_device(options["device"])
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["workers"] < 0:
            raise CommandError("--workers must be 0 or more")
        samples, what = self.samples(run, options)
        if not samples:
            raise CommandError(f"{what} has no samples to predict")
        augmented = " with test-time augmentation" if options["tta"] else ""
        self.stdout.write(f"Predicting {len(samples)} samples of {what} with run {run.name!r}{augmented}.")
        try:
            summary = predict_samples(
                run, samples, device=options["device"], batch_size=options["batch_size"],
                workers=options["workers"], amp=options["amp"], tta=options["tta"],
                progress=lambda items: tqdm(items, total=len(samples), desc="predicting", unit="sample", disable=None),
            )
        except RunError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Stored {summary.predicted} predictions ({summary.replaced} replaced earlier ones).")
        )

    @staticmethod
    def samples(run, options) -> tuple[list[Sample], str]:
        if bool(options["study"]) == bool(options["split"]):
            raise CommandError("give either --study STUDY or --split SPLIT (with --dataset), not both or neither")
        if options["study"]:
            study = get_study(options["study"])
            if study.dataset_id != run.dataset_id:
                raise CommandError(
                    f"--study {study.name!r} is on data set {study.dataset.name!r}; run {run.name!r} "
                    f"belongs to {run.dataset.name!r}"
                )
            items = study.items.select_related("sample").order_by("position")
            return [item.sample for item in items], f"study {study.name!r}"
        dataset = get_dataset(options["dataset"]) if options["dataset"] else run.dataset
        if dataset.pk != run.dataset_id:
            raise CommandError(
                f"--dataset {dataset.name!r}: run {run.name!r} belongs to data set {run.dataset.name!r}"
            )
        samples = list(Sample.objects.filter(dataset=dataset, split=options["split"]).order_by("source_id"))
        return samples, f"the {options['split']} split of {dataset.name!r}"
