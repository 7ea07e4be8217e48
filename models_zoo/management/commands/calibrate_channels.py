import math

import numpy as np
from django.core.management.base import CommandError
from tqdm import tqdm

from models_zoo.channel_calibration import (
    ALL_ORDERS,
    SAMPLES_TO_SETTLE,
    ChannelOrderError,
    compose,
    evaluate_orders,
    parse_channel_order,
    score_orders,
    tied_with_best,
)
from models_zoo.management.command_options import add_whole_image_options, check_whole_image_options
from models_zoo.models import ModelRun
from models_zoo.prediction import check_same_label_set
from models_zoo.runs import RunError, get_run, load_run_model
from models_zoo.training.data import SplitSamples, WholeImageDataset, whole_image_loader
from site_machinery.commands import DatabaseCommand
from study.lookups import get_dataset
from study.models import Sample
from study.store import CHANNELS, sample_store

from .predict import SPLITS


class Command(DatabaseCommand):
    help = (
        "Rank the 24 orders in which the four store channels (red, green, blue, yellow) can feed a run's four "
        "inputs by macro-F1 and mean AUC on labelled samples, best first; with --apply ORDER or --apply-best, "
        "store that order with the run, so that predict (and everything that loads the run's model) feeds its "
        "inputs in it. For the released GapNet-PL weights, whose channel order the authors did not document."
    )

    def add_arguments(self, parser):
        parser.add_argument("run")
        parser.add_argument("--dataset", help="The labelled data set to rank the orders on (default: the run's).")
        parser.add_argument("--split", choices=SPLITS, help="Only this split of --dataset (default: every sample).")
        apply = parser.add_mutually_exclusive_group()
        apply.add_argument(
            "--apply", metavar="ORDER",
            help="Store this order with the run, e.g. green,red,blue,yellow: network input i gets the i-th channel.",
        )
        apply.add_argument("--apply-best", action="store_true", help="Store the order ranked first.")
        add_whole_image_options(
            parser, batch_size=1,
            batch_help="Tiles per forward pass, each under all 24 orders (so 24 times as many inputs; default 1).",
        )

    def handle(self, *args, **options):
        try:
            run = get_run(options["run"])
        except RunError as error:
            raise CommandError(f"RUN: {error}") from None
        check_whole_image_options(options)
        chosen = None
        if options["apply"]:
            try:
                chosen = parse_channel_order(options["apply"])
            except ChannelOrderError as error:
                raise CommandError(f"--apply: {error}") from None
        if (chosen or options["apply_best"]) and run.status != ModelRun.Status.FINISHED:
            option = "--apply-best" if options["apply_best"] else "--apply"
            raise CommandError(f"{option}: run {run.name!r} is {run.get_status_display()}, not finished")
        dataset = get_dataset(options["dataset"]) if options["dataset"] else run.dataset
        try:
            check_same_label_set(run, dataset, f"--dataset {dataset.name!r}")
        except RunError as error:
            raise CommandError(str(error)) from None
        split = options["split"]
        samples, truth = labelled_samples(dataset, split)
        where = f"the {split} split of {dataset.name!r}" if split else f"data set {dataset.name!r}"
        if not samples:
            raise CommandError(f"{where} has no labelled samples to calibrate on")
        try:
            model, tile = load_run_model(run, apply_channel_order=False)
        except RunError as error:
            raise CommandError(f"RUN: {error}") from None

        self.stdout.write(
            f"Ranking the {len(ALL_ORDERS)} channel orders of run {run.name!r} on {len(samples)} labelled samples "
            f"of {where}."
        )
        classes_present = int(truth.any(axis=0).sum())
        if len(samples) < SAMPLES_TO_SETTLE:
            self.stdout.write(
                self.style.WARNING(
                    f"WARNING: {len(samples)} samples ({classes_present} of {truth.shape[1]} classes present) cannot "
                    f"settle the channel order: with so few, a wrong order can rank first by chance. Take the ranking "
                    f"as a hint, and settle it on {SAMPLES_TO_SETTLE} or more labelled samples covering most classes."
                )
            )
        images = whole_image_loader(
            WholeImageDataset(
                sample_store(), SplitSamples([s.pk for s in samples], [s.store_key for s in samples], truth)
            ),
            list(range(len(samples))),
            options["workers"],
            pin_memory=options["device"].startswith("cuda"),
        )
        probabilities = evaluate_orders(
            model, images, len(samples), tile, options["batch_size"], options["device"],
            progress=lambda items: tqdm(items, total=len(samples), desc="calibrating", unit="sample", disable=None),
        )
        ranked = score_orders(probabilities, truth, run.single_class, run.thresholds)
        stored = tuple(run.channel_order) if run.channel_order else CHANNELS
        self.write_table(ranked, stored, run)

        tied = tied_with_best(ranked)
        if len(tied) > 1:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(tied)} orders tie for first place: "
                    f"{'; '.join(','.join(score.order) for score in tied)}."
                )
            )
        if options["apply_best"]:
            if len(tied) > 1:
                raise CommandError(
                    "--apply-best: the first place is tied, so these samples do not single out an order; "
                    "calibrate on more labelled samples, or choose one with --apply ORDER"
                )
            chosen = ranked[0].order
        if chosen:
            self.apply(run, chosen)

    def write_table(self, ranked, stored, run) -> None:
        header = "order (network inputs 1-4)"
        width = max(len(header), *(len(",".join(order)) for order in ALL_ORDERS))
        self.stdout.write(f"rank  {header:<{width}}  macro-F1  mean AUC  p(labels)")
        for rank, score in enumerate(ranked, start=1):
            auc = "     n/a" if math.isnan(score.mean_auc) else f"{score.mean_auc:8.4f}"
            mark = "  (stored)" if score.order == stored else ""
            self.stdout.write(
                f"{rank:>4}  {','.join(score.order):<{width}}  {score.macro_f1:8.4f}  {auc}  "
                f"{score.labelled_probability:9.4f}{mark}"
            )
        best = ranked[0]
        self.stdout.write(
            f"macro-F1 over all {len(run.label_set)} classes, {decision(run)}; mean AUC over the "
            f"{best.classes_with_auc} classes with labelled and unlabelled samples here; p(labels): the mean "
            "probability of each sample's labelled classes. Ranked by macro-F1, then AUC, then p(labels)."
        )
        imported = released_order(run)
        if imported:
            self.stdout.write(
                f"For the released weights, the best order means the authors' network gets "
                f"{','.join(compose(best.order, imported))} (what import_released_gapnet --channel-order would take)."
            )

    def apply(self, run: ModelRun, order: tuple[str, ...]) -> None:
        before = ",".join(run.channel_order) if run.channel_order else ",".join(CHANNELS)
        run.channel_order = list(order)
        run.save(update_fields=["channel_order"])
        imported = released_order(run)
        authors_order = compose(order, imported) if imported else order
        authors = f" (the authors' network gets {','.join(authors_order)})" if authors_order != order else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Stored channel order {','.join(order)}{authors} with run {run.name!r} (was {before}): predict, and "
                f"everything that loads the run's model, now feeds its network input i the i-th of these channels."
            )
        )


def labelled_samples(dataset, split: str | None) -> tuple[list[Sample], np.ndarray]:
    """The samples of ``dataset`` (or its ``split``) that have reference labels, and their multi-hot truth."""
    chosen = Sample.objects.filter(dataset=dataset).order_by("source_id").prefetch_related("reference_labels")
    if split:
        chosen = chosen.filter(split=split)
    labelled = [(s, [label.class_index for label in s.reference_labels.all()]) for s in chosen]
    labelled = [(s, classes) for s, classes in labelled if classes]
    truth = np.zeros((len(labelled), len(dataset.label_set)), dtype=bool)
    for row, (_, classes) in enumerate(labelled):
        truth[row, classes] = True
    return [s for s, _ in labelled], truth


def decision(run: ModelRun) -> str:
    """How the classes macro-F1 counts are chosen: as ``predict`` chooses them."""
    if run.single_class:
        return "the most probable class of each sample"
    if run.thresholds:
        return "classes at or over the run's tuned thresholds (else the most probable)"
    return "classes at or over 0.5 (else the most probable)"


def released_order(run: ModelRun) -> tuple[str, ...] | None:
    """The ``--channel-order`` a released run was imported with (built into its ``best.pt``)."""
    if run.kind != ModelRun.Kind.RELEASED:
        return None
    try:
        return parse_channel_order(run.config.get("channel_order") or CHANNELS)
    except ChannelOrderError:
        return None
