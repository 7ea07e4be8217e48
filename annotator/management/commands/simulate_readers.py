from django.core.management.base import CommandError

from annotator.simulation import SimulationError, simulate_readers
from site_machinery.commands import DatabaseCommand
from study.lookups import get_study


class Command(DatabaseCommand):
    help = (
        "Create simulated readers (sim-<cohort>-01, ...) who answer every sample of a study: the true class "
        "with probability --skill, else a class people often confuse with it. Marked as simulated in every report."
    )

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--cohort", required=True, help="e.g. expert or scholar; created if the study lacks it.")
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--skill", type=float, required=True, help="Probability of answering the true class.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--reliance", type=float, default=0.0,
            help="In a sequential assisted study, the probability of taking a suggestion that differs from their own answer.",
        )

    def handle(self, *args, **options):
        study = get_study(options["study"])
        try:
            result = simulate_readers(
                study, options["cohort"], options["count"], options["skill"], options["seed"], options["reliance"]
            )
        except SimulationError as error:
            raise CommandError(str(error)) from None
        if result.kept:
            self.stdout.write(f"Already there, left unchanged: {', '.join(result.kept)}")
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created {len(result.created)} simulated readers ({', '.join(result.created)}) "
                    f"with {result.n_answers} answers"
                )
            )
        else:
            self.stdout.write("Nothing new to create.")
