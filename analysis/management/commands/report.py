import math
from pathlib import Path

from django.core.management.base import CommandError

from analysis.report_files import build_report
from analysis.report_content import INFORMATION
from analysis.report_inputs import DEFAULT_REPETITIONS, DEFAULT_SEED, ReportError, ReportOptions
from site_machinery.commands import DatabaseCommand
from study.lookups import get_study


class Command(DatabaseCommand):
    help = (
        "Write a study's human-vs-machine comparison (the paper's Tables 1, 2, 3 and 7, Figure 4 and the "
        "cases every expert got wrong; each model against the population of readers of each cohort, and the "
        "agreement between readers) as CSV, JSON, PNG/SVG and an offline index.html."
    )

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--out", type=Path, required=True, help="The folder to write the files into.")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Seeds tie-breaking and bootstrap.")
        parser.add_argument(
            "--repetitions", type=int, default=DEFAULT_REPETITIONS, help="Tie-breaking repetitions per ensemble."
        )
        parser.add_argument(
            "--model", action="append", default=[], metavar="RUN",
            help="A model run to compare (repeatable); the first is the model of Table 3. Default: every run "
            "that predicted all the study's samples, single-class runs first.",
        )
        parser.add_argument(
            "--allow-missing", action="store_true",
            help="Compute on the answers there are when some are missing (each reader on what they answered).",
        )
        parser.add_argument(
            "--margin", type=float, metavar="M",
            help="A non-inferiority margin, e.g. 0.05: the model against the readers also gets the one-sided test "
            "that it is worse by M or more (p_noninferiority).",
        )

    def handle(self, *args, **options):
        if options["seed"] < 0:
            raise CommandError(f"--seed {options['seed']}: expected a non-negative integer")
        if options["repetitions"] < 1:
            raise CommandError(f"--repetitions {options['repetitions']}: expected a positive integer")
        margin = options["margin"]
        if margin is not None and not (math.isfinite(margin) and 0 < margin < 1):
            raise CommandError(f"--margin {margin}: expected a difference of figures of merit between 0 and 1")
        study = get_study(options["study"])
        report_options = ReportOptions(
            seed=options["seed"],
            repetitions=options["repetitions"],
            models=tuple(options["model"]),
            allow_missing=options["allow_missing"],
            margin=margin,
        )
        try:
            written = build_report(study, options["out"], report_options)
        except ReportError as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"--out {options['out']}: cannot write the report ({error.strerror})") from None
        for note in written.report.notes:
            style = self.style.NOTICE if note.kind == INFORMATION else self.style.WARNING
            self.stdout.write(style(f"{note.kind}: {note.text}"))
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {len(written.files)} files to {written.directory} (open index.html)")
        )
