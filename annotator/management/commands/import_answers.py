from pathlib import Path

from django.core.management.base import CommandError

from annotator.answer_files import import_answers
from site_machinery.commands import DatabaseCommand
from study.lookups import get_study
from study.operations import OperationError


class Command(DatabaseCommand):
    help = (
        "Add answers collected elsewhere to a study, all or nothing. The CSV names its columns in the first line: "
        "participant, cohort, sample (the source id) and class (an index or a name); an export of export_answers "
        "imports as it is. Unknown participants are created in their cohort."
    )

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--file", type=Path, required=True, help="The CSV file to read.")

    def handle(self, *args, **options):
        study = get_study(options["study"])
        try:
            count = import_answers(study, options["file"])
        except OperationError as error:
            raise CommandError(f"{error}. Nothing was imported.") from None
        self.stdout.write(self.style.SUCCESS(f"Imported {count} answers into {study.name}"))
