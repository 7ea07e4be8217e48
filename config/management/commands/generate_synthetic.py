from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from synthetic.dataset import generate_dataset
from study.labels import LABEL_SETS, get_label_set

MIN_SIZE = 64


class Command(BaseCommand):
    help = "Write a synthetic microscopy data set in the channel-image layout, with labels.csv."

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path)
        parser.add_argument("--samples", type=int, required=True)
        parser.add_argument("--size", type=int, default=512, help="Field width and height in pixels.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--faults", type=float, default=0.0, help="Fraction of samples given a fault.")
        parser.add_argument("--format", choices=["tif", "png"], default="tif")
        parser.add_argument(
            "--label-set", choices=list(LABEL_SETS), default="cyto13",
            help="The classes to draw; the folder's label_set.txt names it, so import_dataset needs no option.",
        )
        parser.add_argument("--workers", type=int, default=1)

    def handle(self, *args, **options):
        if options["samples"] < 1:
            raise CommandError("--samples must be at least 1")
        if options["size"] < MIN_SIZE:
            raise CommandError(f"--size must be at least {MIN_SIZE} pixels")
        if not 0.0 <= options["faults"] <= 1.0:
            raise CommandError("--faults is a fraction from 0 to 1")
        label_set = get_label_set(options["label_set"])
        with tqdm(total=options["samples"], desc="generating", unit="sample", disable=None) as bar:
            result = generate_dataset(
                options["out"],
                samples=options["samples"],
                size=options["size"],
                seed=options["seed"],
                faults=options["faults"],
                image_format=options["format"],
                label_set=label_set,
                workers=max(1, options["workers"]),
                progress=bar.update,
            )
        self.stdout.write(self.style.SUCCESS(f"Wrote {options['samples']} samples to {options['out']}"))
        self.stdout.write(f"Labels: {result.labels_path} ({label_set.key}); import with: "
                          f"python manage.py import_dataset {options['out']} --name NAME")
