from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from annotator.assistance import AssistanceSettings, set_assistance
from annotator.models import Assistance
from site_machinery.commands import DatabaseCommand
from study.lookups import get_study
from study.operations import OperationError


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 0.5:
        raise ValueError(text)
    return value


class Command(DatabaseCommand):
    help = (
        "Set how a study's readers read with the machine: none (alone), sequential (alone, then with the "
        "suggestion) or crossover (blocks with and without it, in two sessions). The suggestions are frozen "
        "from a model run's predictions for every sample of the study; refused once anyone has answered."
    )

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("design", choices=Assistance.Design.values)
        parser.add_argument("--suggestions", metavar="RUN", default="", help="The model run whose predictions are shown.")
        parser.add_argument(
            "--controlled", type=fraction, default=0.0, metavar="FRACTION",
            help="The share of cases (0 to 0.5) that show a chosen wrong class, the model's runner-up, instead.",
        )
        parser.add_argument("--top-three", action="store_true", help="Show the model's three most likely classes.")
        parser.add_argument("--block-size", type=int, default=10, help="Crossover: cases per block (default 10).")
        parser.add_argument(
            "--washout-days", type=int, default=28, help="Crossover: days between a reader's two sessions (default 28)."
        )

    def handle(self, *args, **options):
        study = get_study(options["study"])
        if options["design"] != Assistance.Design.NONE and not options["suggestions"]:
            raise CommandError(f"a {options['design']} study needs --suggestions RUN, the model run to show")
        wanted = AssistanceSettings(
            design=options["design"],
            run=options["suggestions"],
            controlled_fraction=options["controlled"],
            show_top_three=options["top_three"],
            block_size=options["block_size"],
            washout_days=options["washout_days"],
        )
        try:
            assistance = set_assistance(study, wanted)
        except OperationError as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError("; ".join(f"--{k.replace('_', '-')}: {' '.join(v)}" for k, v in error.message_dict.items())) from None
        if not assistance.assisted:
            self.stdout.write(f"{study.name} is read without the machine.")
            return
        controlled = assistance.study.suggestions.filter(source="controlled").count()
        self.stdout.write(
            f"{study.name} is read {assistance.design}, with the suggestions of {assistance.source} frozen for its "
            f"{assistance.study.suggestions.count()} samples ({controlled} controlled)."
        )
