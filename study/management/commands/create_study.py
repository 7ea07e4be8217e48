from pathlib import Path

from django.core.management.base import CommandError

from site_machinery.commands import DatabaseCommand
from study.lookups import get_dataset
from study.models import name_validator
from study.operations import OperationError, create_study, export_study


class Command(DatabaseCommand):
    help = "Create a study: single-location samples chosen from the test split, seeded, at random or balanced."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--size", type=int, default=200)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--balanced", action="store_true", help="An equal share of every class.")
        parser.add_argument(
            "--exclude-flagged", action="store_true",
            help="Leave out the samples that failed a quality check at import (import_dataset --qc-out lists them).",
        )
        parser.add_argument("--export", type=Path, help="Write the study's samples as a position,id CSV.")

    def handle(self, *args, **options):
        try:
            name_validator(options["name"])
        except Exception:
            raise CommandError(f"study name {options['name']!r}: use letters, digits, '.', '_' and '-' only") from None
        dataset = get_dataset(options["dataset"])
        try:
            study = create_study(
                options["name"], dataset, options["size"], options["seed"], options["balanced"],
                exclude_flagged=options["exclude_flagged"],
            )
        except OperationError as error:
            raise CommandError(str(error)) from None
        kind = "balanced across classes" if study.balanced else "at random"
        self.stdout.write(
            self.style.SUCCESS(f"Created study {study.name!r}: {study.items.count()} test samples chosen {kind}")
        )
        flagged = study.items.exclude(sample__quality_flags=[]).count()
        if flagged:
            self.stdout.write(self.style.WARNING(
                f"{flagged} of them carry quality flags from the import (saturated, blank, out-of-focus or "
                "misregistered channels); --exclude-flagged leaves such samples out."
            ))
        if options["export"]:
            rows = export_study(study, options["export"])
            self.stdout.write(f"Wrote {rows} rows to {options['export']}")
