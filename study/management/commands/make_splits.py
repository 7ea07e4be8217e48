from pathlib import Path

from django.core.management.base import CommandError

from site_machinery.commands import DatabaseCommand
from study.lookups import get_dataset
from study.operations import OperationError, apply_split_file, export_splits, make_splits


class Command(DatabaseCommand):
    help = "Split a data set into training, validation and test samples (seeded, stratified), or apply a split file."

    def add_arguments(self, parser):
        parser.add_argument("dataset")
        parser.add_argument("--seed", type=int)
        parser.add_argument("--ratios", type=float, nargs=3, default=[0.8, 0.1, 0.1], metavar=("TRAIN", "VAL", "TEST"))
        parser.add_argument("--export", type=Path, help="Write the split as an id,split CSV.")
        parser.add_argument("--from", dest="from_file", type=Path, help="Apply a published id,split CSV.")

    def handle(self, *args, **options):
        dataset = get_dataset(options["dataset"])
        if options["from_file"] and options["seed"] is not None:
            raise CommandError("give either --seed (make a split) or --from (apply one), not both")
        if not options["from_file"] and options["seed"] is None:
            raise CommandError("--seed is required (or --from FILE to apply a published split)")
        try:
            if options["from_file"]:
                counts = apply_split_file(dataset, options["from_file"])
                source = f"from {options['from_file']}"
            else:
                counts = make_splits(dataset, options["seed"], tuple(options["ratios"]))
                source = f"seed {options['seed']}, ratios {' '.join(map(str, options['ratios']))}"
        except OperationError as error:
            raise CommandError(str(error)) from None
        summary = ", ".join(f"{name} {counts.get(name, 0)}" for name in ("train", "val", "test"))
        self.stdout.write(self.style.SUCCESS(f"Split {dataset.name!r} ({source}): {summary}"))
        if options["export"]:
            rows = export_splits(dataset, options["export"])
            self.stdout.write(f"Wrote {rows} rows to {options['export']}")
