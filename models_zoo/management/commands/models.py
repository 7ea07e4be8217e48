from django.core.management.base import BaseCommand

from models_zoo.complexity import count_macs, count_parameters
from models_zoo.registry import create_model, list_models

# Table 6 of the paper, for comparison (4 inputs, 13 outputs).
PAPER_PARAMETERS = {
    "conv_mil": 593_143,
    "gapnet_pl": 626_221,
    "mcnn": 34_193_853,
    "densenet121": 6_970_317,
    "deeploc": 201_716_967,
}


class Command(BaseCommand):
    help = "List every architecture with its parameter count and multiply-accumulates per image."

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=1024, help="Input height and width for the MAC count.")
        parser.add_argument("--classes", type=int, default=13)

    def handle(self, *args, **options):
        size = options["size"]
        self.stdout.write(f"{'model':<12} {'parameters':>12} {'paper':>12} {f'GMACs@{size}':>12}")
        for name in list_models():
            model = create_model(name, num_classes=options["classes"], in_channels=4)
            parameters = count_parameters(model)
            macs = count_macs(model, (1, 4, size, size)) / 1e9
            paper = f"{PAPER_PARAMETERS[name]:,}" if name in PAPER_PARAMETERS else "-"
            self.stdout.write(f"{name:<12} {parameters:>12,} {paper:>12} {macs:>12.2f}")
