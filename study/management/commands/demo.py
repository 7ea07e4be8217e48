from django.core.management import call_command
from django.core.management.base import BaseCommand

from study import demo


class Command(BaseCommand):
    help = (
        "Run the whole study on synthetic data: data set, import, split, GapNet-PL training and fine-tune, "
        "a 200-sample study with simulated expert and scholar readers, predictions, panels and the report. "
        "Steps already done are skipped."
    )

    def add_arguments(self, parser):
        defaults = demo.DemoOptions()
        parser.add_argument("--samples", type=int, default=defaults.samples)
        parser.add_argument("--size", type=int, default=defaults.size)
        parser.add_argument("--study-size", type=int, default=defaults.study_size)
        parser.add_argument("--epochs", type=int, default=defaults.epochs, help="Training epochs on a CPU.")
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--workers", type=int, default=defaults.workers)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        base_url = options.pop("base_url").rstrip("/")
        known = demo.DemoOptions.__dataclass_fields__
        demo_options = demo.DemoOptions(**{k: v for k, v in options.items() if k in known})
        call_command("migrate", verbosity=0)
        demo.data_set(demo_options, self.step)
        demo.models(demo_options, self.step)
        study = demo.reading_study(demo_options, self.step)
        demo.simulated_readers(demo_options, self.step)
        report = demo.predictions_and_report(demo_options, self.step)
        access = demo.access(study, self.step)
        self.stdout.write(self.style.SUCCESS("\nDemo ready.") + f" The report's files: {report}")
        self.stdout.write(
            f"  coordinator: {base_url}/accounts/login/  user coordinator, password {access.coordinator_password}\n"
            f"  analyst:     {base_url}/accounts/login/  user analyst, password {access.analyst_password}\n"
            f"  participant: {base_url}{access.invitation_path}  (an expert's invitation; label by hand)"
        )

    def step(self, name: str, detail: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {name}: ") + detail, ending="\n")
        self.stdout.flush()
