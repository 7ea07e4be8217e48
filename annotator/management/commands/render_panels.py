import sys

from django.core.management.base import CommandError
from tqdm import tqdm

from annotator.panels import PanelRenderError, prerender_study
from site_machinery.commands import DatabaseCommand
from study.models import Study


class Command(DatabaseCommand):
    help = (
        "Render the four panels of every sample of a study once, under its current display settings, "
        "so that participants are served from the cache."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="The study's name.")
        parser.add_argument("--full", action="store_true", help="Also render the full-resolution panels.")

    def handle(self, *args, **options):
        try:
            study = Study.objects.select_related("dataset").get(name=options["study"])
        except Study.DoesNotExist:
            raise CommandError(f"no study named {options['study']!r}; see the coordinator's study list") from None
        resolutions = ("display", "full") if options["full"] else ("display",)
        show = options["verbosity"] > 0

        def progress(items):
            return tqdm(items, desc="samples", unit="sample", disable=not show, file=sys.stderr)

        try:
            rendered = prerender_study(study, resolutions, progress=progress)
        except PanelRenderError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Rendered {rendered} sample panel sets of study {study.name!r} ({', '.join(resolutions)}); "
                "the rest were cached already"
            )
        )
