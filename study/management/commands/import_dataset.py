import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction
from tqdm import tqdm

from site_machinery.commands import DatabaseCommand
from study.imaging import DEFAULT_MAX_PIXELS
from study.importer import run_import, write_quality_report, write_skipped
from study.labelfiles import LabelFileError, read_label_file
from study.labels import CYTO13, LABEL_SET_FILE, LABEL_SETS, get_label_set, label_set_of_folder
from study.vocabulary import read_class_map
from study.models import Dataset, name_validator
from study.sample_files import LAYOUTS, DatasetImportError, detect_layout
from study.quality import QualityThresholds
from study.store import CHANNELS, sample_store


PLAIN_PROGRESS_SECONDS = 5


class Command(DatabaseCommand):
    help = (
        "Import a folder of samples (channel images, or .npz or .npy arrays) into a data set and the sample store."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument("--name", required=True, help="The data set's name (created if new).")
        parser.add_argument("--labels", type=Path, help="Labels file (default: labels.csv or labels.txt in FOLDER).")
        parser.add_argument("--layout", choices=LAYOUTS, help="Default: detected from the file names.")
        parser.add_argument(
            "--label-set", choices=list(LABEL_SETS),
            help="The classes the labels name or index. Required for class indices (Id,Target) unless FOLDER's "
            f"{LABEL_SET_FILE} names it (as the synthetic generator's folders do); class names are read as the "
            "paper's 13 (cyto13) unless given; an existing data set keeps its own.",
        )
        parser.add_argument(
            "--map", type=Path, dest="class_map",
            help="CSV of 'source,class' lines mapping the labels' class names onto the label set ('drop' drops one).",
        )
        parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="Per channel image.")
        parser.add_argument("--workers", type=int, default=1, help="Processes decoding images.")
        parser.add_argument(
            "--channels",
            default=",".join(CHANNELS),
            help="What the 4 planes of an .npz or .npy array are, in order (default: red,green,blue,yellow; "
            "red = microtubules, green = protein, blue = nucleus, yellow = ER).",
        )
        parser.add_argument("--skipped", type=Path, help="Where to write the skipped samples (CSV).")
        defaults = QualityThresholds()
        quality = parser.add_argument_group(
            "quality control",
            "Each channel is measured at import and flagged past these limits (flagged, not skipped). A check with "
            "too little to judge abstains and flags nothing: --qc-out lists where and why.",
        )
        quality.add_argument("--no-qc", action="store_true",
                             help="Skip the quality control (about a tenth of the decoding's time).")
        quality.add_argument("--qc-out", type=Path,
                             help="Write the flags and abstentions as sample,channel,check,value,threshold,reason (CSV; "
                             "an abstention has no value, a reason instead).")
        quality.add_argument("--qc-saturated", type=float, default=defaults.saturated,
                             help="Largest fraction of a channel's pixels at the saturation level (255, 65535, or the top "
                             "of a 10-, 12- or 14-bit sensor), else saturated (default %(default)s). Judged on every "
                             "channel.")
        quality.add_argument("--qc-min-range", type=float, default=defaults.min_range,
                             help="Least dynamic range, in widths of the channel's noise, else blank (default "
                             "%(default)s; pure noise measures 3 to 7.5). Judged only where another channel shows a "
                             "whole cell or nucleus: crops of part of a cell and empty fields abstain.")
        quality.add_argument("--qc-min-focus", type=float, default=defaults.min_focus,
                             help="Least Laplacian-to-gradient energy ratio on the channel's most stained 128 px tiles, "
                             "else out of focus (default %(default)s; sharp channels measure 0.66 to 3, a 2 px blur "
                             "about 0.2). Catches blur of the recorded image, not defocus drowned in camera noise nor "
                             "a blurred dim 8-bit channel; lower it for images that oversample their optics. Needs "
                             "about 1,000 stained pixels.")
        quality.add_argument("--qc-max-shift-px", type=float, default=defaults.max_shift_px,
                             help="Largest offset of a channel against the others, pixels, else misregistered (default "
                             "%(default)s). Judged on fields with three whole nuclei or more (at the synthetic "
                             "densities, from about 512 px): smaller crops abstain. Shifts of 4 px and more are caught "
                             "in most fields, see benchmarks/bench_quality.py.")

    def handle(self, *args, **options):
        folder: Path = options["folder"]
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        name = options["name"]
        try:
            name_validator(name)
        except Exception:
            raise CommandError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only") from None
        array_channels = self._array_channels(options["channels"])
        thresholds = self._thresholds(options)

        existing = Dataset.objects.filter(name=name).first()
        try:
            marked = label_set_of_folder(folder)
        except ValueError as error:
            raise CommandError(str(error)) from None
        label_set, label_set_origin = self._label_set(options["label_set"], existing, marked, folder)
        labels_path = options["labels"] or self._default_labels(folder)
        try:
            class_map = read_class_map(options["class_map"], label_set or CYTO13) if options["class_map"] else None
            layout = options["layout"] or detect_layout(folder)
            label_file = read_label_file(labels_path, label_set, class_map)
        except (DatasetImportError, LabelFileError, ValueError) as error:
            raise CommandError(str(error)) from None
        label_set = label_file.label_set
        label_set_origin = label_set_origin or "the default for class names: the paper's 13 classes"

        with transaction.atomic():
            dataset, created = Dataset.objects.get_or_create(
                name=name, defaults={"label_set_key": label_set.key, "source": str(folder.resolve())}
            )

        self.stdout.write(f"Importing {folder} ({layout} layout, labels from {labels_path}) into {name!r}")
        self.stdout.write(f"Label set: {label_set.key}, {label_set.title} ({label_set_origin}).")
        for (source, target), count in sorted(label_file.mappings.items()):
            self.stdout.write(f"  mapped {source!r} -> {target}: {count} time{'s' if count != 1 else ''}")
        store = sample_store()
        try:
            summary = run_import(
                folder,
                dataset,
                label_file,
                store,
                layout,
                max_pixels=options["max_pixels"],
                workers=max(1, options["workers"]),
                array_channels=array_channels,
                thresholds=None if options["no_qc"] else thresholds,
                progress=self.progress,
            )
        except DatasetImportError as error:
            if created and not dataset.samples.exists():
                dataset.delete()
            raise CommandError(str(error)) from None

        self.stdout.write(self.style.SUCCESS(f"Imported {summary.imported} samples."))
        if summary.already_imported:
            self.stdout.write(f"Already in {name!r} (left as they were): {summary.already_imported}.")
        if summary.skipped or summary.labels_without_images:
            self.report_skipped(summary, name, options["skipped"])
        if not options["no_qc"]:
            self.report_quality(summary, options["qc_out"])
        self.stdout.write(f"Data set {name!r} now holds {dataset.samples.count()} samples.")

    @staticmethod
    def _array_channels(option: str) -> tuple[str, ...]:
        """The four planes of an array sample in order, as ``--channels`` names them."""
        array_channels = tuple(c.strip().lower() for c in option.split(","))
        if sorted(array_channels) != sorted(CHANNELS):
            raise CommandError(f"--channels {option!r}: name each of {', '.join(CHANNELS)} once")
        return array_channels

    @staticmethod
    def _thresholds(options) -> QualityThresholds:
        try:
            return QualityThresholds(
                saturated=options["qc_saturated"], min_range=options["qc_min_range"],
                min_focus=options["qc_min_focus"], max_shift_px=options["qc_max_shift_px"],
            )
        except ValueError as error:
            raise CommandError(f"--qc-...: {error}") from None

    def report_skipped(self, summary, name: str, skipped_option: str | None) -> None:
        """The samples left out, counted by reason, and where their list is written (``--skipped``, or
        a file named after the data set and the time under DATA_DIR/imports)."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        default_path = settings.DATA_DIR / "imports" / f"{name}-{stamp}-skipped.csv"
        skipped_path = Path(skipped_option) if skipped_option else default_path
        write_skipped(skipped_path, summary)
        self.stdout.write(self.style.WARNING(f"Skipped {len(summary.skipped)} samples:"))
        for reason, count in sorted(summary.skipped_by_reason.items()):
            self.stdout.write(f"  {reason}: {count}")
        if summary.labels_without_images:
            self.stdout.write(f"  labelled but without images: {len(summary.labels_without_images)}")
        self.stdout.write(f"The list is in {skipped_path}")

    def progress(self, results, total: int):
        """A bar with samples/s and the time left on a terminal; in a log, a line every tenth of the
        import, at most one every few seconds (a short import prints none)."""
        if sys.stderr.isatty():
            yield from tqdm(results, total=total, desc="samples", unit="sample")
            return
        started = last = time.monotonic()
        step = max(1, total // 10)
        for done, result in enumerate(results, start=1):
            yield result
            now = time.monotonic()
            if done % step == 0 and now - last >= PLAIN_PROGRESS_SECONDS:
                last, rate = now, done / (now - started)
                self.stderr.write(
                    f"samples: {done}/{total} ({done / total:.0%}), {rate:.2f} samples/s, "
                    f"about {(total - done) / rate:.0f} s left"
                )

    def report_quality(self, summary, qc_out: Path | None) -> None:
        flagged = len(summary.quality_flags)
        if not flagged:
            self.stdout.write("Quality control: no sample flagged.")
        else:
            kinds = ", ".join(f"{check} {count}" for check, count in sorted(summary.flags_by_check.items()))
            self.stdout.write(self.style.WARNING(
                f"Quality control flagged {flagged} of the {summary.imported} samples imported ({kinds} channels); "
                "they are imported, and create_study --exclude-flagged leaves them out."
            ))
        if summary.quality_abstentions:
            kinds = ", ".join(f"{check} {count}" for check, count in sorted(summary.abstentions_by_check.items()))
            where = f"the reasons are in {qc_out}" if qc_out else "--qc-out lists why"
            self.stdout.write(
                f"Too little to judge ({kinds} samples): small fields or few cells; those checks abstained "
                f"and flagged nothing there ({where})."
            )
        if qc_out:
            rows = write_quality_report(qc_out, summary)
            self.stdout.write(f"Wrote {rows} quality flags and abstentions to {qc_out}")

    @staticmethod
    def _label_set(key, existing: Dataset | None, marked, folder: Path):
        """The label set to read the labels against and where it came from; (None, "") when nothing
        names one and the data set is new (class names then mean the paper's 13 classes)."""
        marker = folder / LABEL_SET_FILE
        if marked is not None and key and key != marked.key:
            raise CommandError(f"--label-set {key} contradicts {marker}, which names {marked.key}")
        if existing is not None:
            for named, where in ((key, "--label-set"), (marked and marked.key, str(marker))):
                if named and named != existing.label_set_key:
                    raise CommandError(
                        f"data set {existing.name!r} uses the {existing.label_set_key} label set, not {named} "
                        f"(named by {where})"
                    )
            return existing.label_set, f"the data set's own, {existing.name!r}"
        if key:
            return get_label_set(key), "given with --label-set"
        if marked is not None:
            return marked, f"named by {marker}"
        return None, ""

    @staticmethod
    def _default_labels(folder: Path) -> Path:
        for candidate in ("labels.csv", "labels.txt"):
            if (folder / candidate).is_file():
                return folder / candidate
        raise CommandError(f"no labels file in {folder} (labels.csv or labels.txt): pass --labels FILE")
