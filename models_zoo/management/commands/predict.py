from pathlib import Path

from django.core.management.base import CommandError

from models_zoo.management.command_options import add_whole_image_options, check_whole_image_options
from models_zoo.prediction import (
    CHUNK_SAMPLES,
    PredictionPlan,
    SampleListError,
    UnknownSamplesError,
    check_same_label_set,
    listed_samples,
    predict_samples,
)
from models_zoo.runs import RunError, get_run
from models_zoo.training.processes import current_processes, process_group
from site_machinery.commands import DatabaseCommand
from study.lookups import get_dataset, get_study
from study.models import Sample

SPLITS = [choice for choice, _ in Sample.Split.choices if choice]


class Command(DatabaseCommand):
    help = (
        "Predict whole samples with a run (mean of 1024 tiles' probabilities) into Prediction rows: a study's "
        "samples (--study), every sample of a data set (--dataset), a split of it (--split), or the samples a file "
        "lists (--samples). A data set other than the run's must have the run's label set. Samples the run has "
        "predicted already are skipped (so predicting again after an interruption does what is left) unless "
        "--replace. Predictions are stored as they come, --chunk-size at a time. Under torchrun (torchrun "
        "--nproc_per_node N manage.py predict ...) the N processes share the samples out, one GPU each with "
        "--device cuda."
    )

    def add_arguments(self, parser):
        parser.add_argument("run")
        parser.add_argument("--study", help="Predict the samples of this study.")
        parser.add_argument("--split", choices=SPLITS, help="Predict this split of --dataset.")
        parser.add_argument(
            "--samples", type=Path, metavar="FILE",
            help="Predict the samples of --dataset this file lists: one sample id (as imported) a line, or a CSV "
            "file with a 'sample' column.",
        )
        parser.add_argument(
            "--dataset",
            help="The data set to predict: every sample, or its --split, or the --samples listed (default: the "
            "run's). Another data set must have the run's label set.",
        )
        add_whole_image_options(parser, batch_size=4, batch_help="Tiles per forward pass.")
        parser.add_argument("--amp", action="store_true", help="bfloat16 autocast.")
        parser.add_argument(
            "--tta", action="store_true",
            help="Test-time augmentation (beyond the paper): each tile's probabilities averaged over its 8 flips "
            "and quarter turns; 8 times the forward passes. A run's tuned thresholds fit the probabilities its "
            "validation used (train --tta or not).",
        )
        parser.add_argument(
            "--replace", action="store_true",
            help="Predict again the samples the run has predicted already, replacing those predictions (after "
            "calibrate_channels --apply, or to change --tta); by default they are skipped.",
        )
        parser.add_argument(
            "--chunk-size", type=int, default=CHUNK_SAMPLES, metavar="N",
            help=f"Predictions stored per transaction (default {CHUNK_SAMPLES}); a killed prediction loses at most "
            "its last chunk (per process).",
        )

    def handle(self, *args, **options):
        try:
            run = get_run(options["run"])
        except RunError as error:
            raise CommandError(f"RUN: {error}") from None
        check_whole_image_options(options)
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1")
        samples, what = self.samples(run, options)
        if not samples:
            hint = "; without --split, every sample of the data set" if options["split"] else ""
            raise CommandError(f"{what} has no samples to predict{hint}")
        processes = current_processes()

        def announce(plan: PredictionPlan) -> None:
            self.announce(run, samples, what, options, plan)

        # Under torchrun: connected through gloo (the processes exchange Python objects only, whatever
        # the device), and a process that torchrun stops (SIGTERM, when another fails) stores what it
        # has predicted on the way out.
        try:
            with process_group(processes, "cpu"):
                summary = predict_samples(
                    run, samples, device=options["device"], batch_size=options["batch_size"],
                    workers=options["workers"], amp=options["amp"], tta=options["tta"], replace=options["replace"],
                    chunk_size=options["chunk_size"], progress=True, announce=announce,
                )
        except RunError as error:
            raise CommandError(str(error)) from None
        if not processes.is_writer:
            return
        if summary.predicted:
            by = f" by {summary.processes} processes" if summary.processes > 1 else ""
            self.stdout.write(self.style.SUCCESS(
                f"Stored {summary.predicted} predictions ({summary.replaced} replaced earlier ones) in "
                f"{summary.seconds:.1f} s{by}: {summary.per_second:.2f} samples/s."
            ))
        if summary.skipped:
            self.stdout.write(
                f"Skipped {summary.skipped} samples run {run.name!r} had predicted already; --replace predicts them "
                "again (as needed after calibrate_channels --apply, or to change --tta)."
            )

    def announce(self, run, samples, what: str, options, plan: PredictionPlan) -> None:
        augmented = " with test-time augmentation" if options["tta"] else ""
        processes = f" in {plan.processes} processes" if plan.processes > 1 else ""
        if not plan.to_predict:
            self.stdout.write(
                f"Nothing to predict: run {run.name!r} has predicted all {plan.samples} samples of {what} already."
            )
            return
        if plan.skipped:
            self.stdout.write(
                f"Predicting {plan.to_predict} of the {plan.samples} samples of {what} with run {run.name!r}"
                f"{augmented}{processes}; it has predicted the other {plan.skipped} already."
            )
        else:
            self.stdout.write(
                f"Predicting {plan.samples} samples of {what} with run {run.name!r}{augmented}{processes}."
            )
        foreign = sorted({s.dataset.name for s in samples if s.dataset_id != run.dataset_id})
        if foreign:
            self.stdout.write(
                f"Run {run.name!r} was made for data set {run.dataset.name!r}; {', '.join(map(repr, foreign))} "
                f"has its label set, {run.dataset.label_set_key}."
            )
        if run.channel_order:
            self.stdout.write(f"Channel order (network input 1-4): {','.join(run.channel_order)}.")
        self.stdout.flush()

    @staticmethod
    def samples(run, options) -> tuple[list[Sample], str]:
        if options["study"]:
            given = [f"--{name}" for name in ("dataset", "split", "samples") if options[name]]
            if given:
                raise CommandError(f"--study takes the study's samples; give no {' or '.join(given)} with it")
            study = get_study(options["study"])
            check_label_set(run, study.dataset, f"--study {study.name!r}")
            items = study.items.select_related("sample__dataset").order_by("position")
            return [item.sample for item in items], f"study {study.name!r}"
        if not (options["dataset"] or options["split"] or options["samples"]):
            raise CommandError(
                "say what to predict: --study STUDY, --dataset NAME (every sample), --split SPLIT (of --dataset, "
                "default the run's) or --samples FILE"
            )
        if options["split"] and options["samples"]:
            raise CommandError("give --split SPLIT or --samples FILE, not both")
        dataset = get_dataset(options["dataset"]) if options["dataset"] else run.dataset
        check_label_set(run, dataset, f"--dataset {dataset.name!r}")
        if options["samples"]:
            try:
                samples = listed_samples(dataset, options["samples"])
            except SampleListError as error:
                unknown = isinstance(error, UnknownSamplesError) and not options["dataset"]
                hint = "; --dataset NAME looks them up in another data set" if unknown else ""
                raise CommandError(f"--samples: {error}{hint}. Nothing was predicted.") from None
            return samples, f"{options['samples']} (data set {dataset.name!r})"
        chosen = Sample.objects.filter(dataset=dataset).select_related("dataset").order_by("source_id")
        if options["split"]:
            return list(chosen.filter(split=options["split"])), f"the {options['split']} split of {dataset.name!r}"
        return list(chosen), f"data set {dataset.name!r}"


def check_label_set(run, dataset, what: str) -> None:
    try:
        check_same_label_set(run, dataset, what)
    except RunError as error:
        raise CommandError(str(error)) from None
