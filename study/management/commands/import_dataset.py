from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from study.imaging import DEFAULT_MAX_PIXELS
from study.importer import LAYOUTS, ImportError_, detect_layout, run_import, write_skipped
from study.labelfiles import LabelFileError, read_label_file
from study.labels import LABEL_SETS, get_label_set
from study.models import Dataset, name_validator
from study.store import CHANNELS, TrainingStore


class Command(BaseCommand):
    help = "Import a folder of samples (channel images or .npz files) into a data set and the training store."

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument("--name", required=True, help="The data set's name (created if new).")
        parser.add_argument("--labels", type=Path, help="Labels file (default: labels.csv or labels.txt in FOLDER).")
        parser.add_argument("--layout", choices=LAYOUTS, help="Default: detected from the file names.")
        parser.add_argument("--label-set", choices=list(LABEL_SETS), default="cyto13")
        parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="Per channel image.")
        parser.add_argument("--workers", type=int, default=1, help="Processes decoding images.")
        parser.add_argument(
            "--npz-channels",
            default=",".join(CHANNELS),
            help="What the 4 planes of an .npz 'sample' array are, in order (default: red,green,blue,yellow).",
        )
        parser.add_argument("--skipped", type=Path, help="Where to write the skipped samples (CSV).")

    def handle(self, *args, **options):
        folder: Path = options["folder"]
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        name = options["name"]
        try:
            name_validator(name)
        except Exception:
            raise CommandError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only") from None
        npz_channels = tuple(c.strip().lower() for c in options["npz_channels"].split(","))
        if sorted(npz_channels) != sorted(CHANNELS):
            raise CommandError(f"--npz-channels {options['npz_channels']!r}: name each of {', '.join(CHANNELS)} once")

        label_set = get_label_set(options["label_set"])
        labels_path = options["labels"] or self._default_labels(folder)
        try:
            layout = options["layout"] or detect_layout(folder)
            label_file = read_label_file(labels_path, label_set)
        except (ImportError_, LabelFileError) as error:
            raise CommandError(str(error)) from None

        with transaction.atomic():
            dataset, created = Dataset.objects.get_or_create(
                name=name, defaults={"label_set_key": label_set.key, "source": str(folder.resolve())}
            )
        if dataset.label_set_key != label_set.key:
            raise CommandError(
                f"data set {name!r} uses the {dataset.label_set_key} label set, not {label_set.key}"
            )

        self.stdout.write(f"Importing {folder} ({layout} layout, labels from {labels_path}) into {name!r}")
        store = TrainingStore(settings.STORE_DIR)
        try:
            summary = run_import(
                folder,
                dataset,
                label_file,
                store,
                layout,
                max_pixels=options["max_pixels"],
                workers=max(1, options["workers"]),
                npz_channels=npz_channels,
                progress=lambda items: tqdm(items, desc="samples", unit="sample", disable=None),
            )
        except ImportError_ as error:
            if created and not dataset.samples.exists():
                dataset.delete()
            raise CommandError(str(error)) from None

        self.stdout.write(self.style.SUCCESS(f"Imported {summary.imported} samples."))
        if summary.already_imported:
            self.stdout.write(f"Already in {name!r} (left as they were): {summary.already_imported}.")
        if summary.skipped or summary.labels_without_images:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            default_path = settings.DATA_DIR / "imports" / f"{name}-{stamp}-skipped.csv"
            skipped_path = Path(options["skipped"]) if options["skipped"] else default_path
            write_skipped(skipped_path, summary)
            self.stdout.write(self.style.WARNING(f"Skipped {len(summary.skipped)} samples:"))
            for reason, count in sorted(summary.skipped_by_reason.items()):
                self.stdout.write(f"  {reason}: {count}")
            if summary.labels_without_images:
                self.stdout.write(f"  labelled but without images: {len(summary.labels_without_images)}")
            self.stdout.write(f"The list is in {skipped_path}")
        self.stdout.write(f"Data set {name!r} now holds {dataset.samples.count()} samples.")

    @staticmethod
    def _default_labels(folder: Path) -> Path:
        for candidate in ("labels.csv", "labels.txt"):
            if (folder / candidate).is_file():
                return folder / candidate
        raise CommandError(f"no labels file in {folder} (labels.csv or labels.txt): pass --labels FILE")
