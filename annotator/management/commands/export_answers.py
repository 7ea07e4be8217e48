from pathlib import Path

from django.core.management.base import CommandError

from annotator.answer_files import EXPORT_COLUMNS, GALLERY_VISIT_COLUMNS, export_answers, export_gallery_visits
from site_machinery.commands import DatabaseCommand
from study.lookups import get_study


class Command(DatabaseCommand):
    help = (
        f"Write a study's answers as CSV, one row per answer: {', '.join(EXPORT_COLUMNS)}, then "
        "background_<question> for each question of the study's background form. With --gallery-visits, "
        f"also the participants' visits to the training gallery: {', '.join(GALLERY_VISIT_COLUMNS)}."
    )

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--out", type=Path, help="The CSV file of the answers to write.")
        parser.add_argument("--gallery-visits", type=Path, help="A CSV file to write the gallery visits to.")

    def handle(self, *args, **options):
        study = get_study(options["study"])
        if not options["out"] and not options["gallery_visits"]:
            raise CommandError("give --out FILE for the answers, --gallery-visits FILE for the gallery visits, or both")
        for option, export, what in (
            ("out", export_answers, "answers"),
            ("gallery_visits", export_gallery_visits, "gallery visits"),
        ):
            if not options[option]:
                continue
            try:
                count = export(study, options[option])
            except OSError as error:
                raise CommandError(f"{options[option]}: cannot write it ({error.strerror})") from None
            self.stdout.write(self.style.SUCCESS(f"Wrote {count} {what} of {study.name} to {options[option]}"))
