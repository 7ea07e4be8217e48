from pathlib import Path

from django.core.management.base import CommandError

from analysis.predictions_import import PredictionsFileError, import_predictions
from site_machinery.commands import DatabaseCommand
from study.lookups import get_study


class Command(DatabaseCommand):
    help = (
        "Import a model's predictions made elsewhere as a model run: a CSV with a 'sample' column (the "
        "sample's id) and either a 'class' column (index or name) or one probability column per class name."
    )

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--file", type=Path, required=True)
        parser.add_argument("--name", required=True, help="The new model run's name (use it with report --model).")

    def handle(self, *args, **options):
        study = get_study(options["study"])
        try:
            imported = import_predictions(study, options["file"], options["name"])
        except PredictionsFileError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {imported.n_predictions} predictions ({imported.form}) as model run {imported.run.name!r}"
            )
        )
