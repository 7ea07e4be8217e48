from pathlib import Path

from django.core.management.base import CommandError

from annotator.answer_files import EXPORT_COLUMNS, export_answers
from study.commands import DatabaseCommand
from study.lookups import get_study


class Command(DatabaseCommand):
    help = f"Write a study's answers as CSV, one row per answer: {', '.join(EXPORT_COLUMNS)}."

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--out", type=Path, required=True, help="The CSV file to write.")

    def handle(self, *args, **options):
        study = get_study(options["study"])
        try:
            count = export_answers(study, options["out"])
        except OSError as error:
            raise CommandError(f"{options['out']}: cannot write it ({error.strerror})") from None
        self.stdout.write(self.style.SUCCESS(f"Wrote {count} answers of {study.name} to {options['out']}"))
