import time
from urllib.parse import quote

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.urls import reverse

from config import demo


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
        started = time.monotonic()
        call_command("migrate", verbosity=0)
        self.timed(demo.data_set, demo_options)
        self.timed(demo.models, demo_options)
        study = self.timed(demo.reading_study, demo_options)
        self.timed(demo.simulated_readers, demo_options)
        report = self.timed(demo.predictions_and_report, demo_options)
        access = self.timed(demo.access, study)
        self.stdout.write(
            self.style.SUCCESS("\nDemo ready") + f" in {duration(time.monotonic() - started)}. The report's files: {report}"
        )
        # Sign-in links that land on the progress page and on the demo's report: its seed, and computed
        # on the answers there are, since the hand-labelling invitation starts with none.
        progress = reverse("annotator:coordinator_progress", args=[study.name])
        report_page = reverse("analysis:study_report", args=[study.name]) + f"?seed={demo_options.seed}&allow_missing=1"
        login = f"{base_url}{reverse('login')}?next="
        self.stdout.write(
            f"  coordinator: {login}{quote(progress)}  user coordinator, password {access.coordinator_password}\n"
            f"  analyst:     {login}{quote(report_page)}  user analyst, password {access.analyst_password}\n"
            f"  participant: {base_url}{access.invitation_path}  (an expert's invitation; label by hand)"
        )

    def timed(self, stage, argument):
        """Run one stage of the demo and say how long it took, so that a newcomer sees where time goes."""
        started = time.monotonic()
        result = stage(argument, self.step)
        self.stdout.write(f"   ({duration(time.monotonic() - started)})")
        return result

    def step(self, name: str, detail: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {name}: ") + detail, ending="\n")
        self.stdout.flush()


def duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
