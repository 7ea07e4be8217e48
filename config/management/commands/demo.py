import time
from urllib.parse import quote

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from config import demo, demo_checks


DEVELOPMENT_KEY_WARNING = """
!!  This demo runs with DEBUG on and the public development SECRET_KEY: anyone who has this
!!  repository can forge its sessions and tell which sample every panel URL shows. It is for this
!!  machine only; the site refuses other machines and other host names. For a real study set
!!  SECRET_KEY and DEBUG=0 (README, "Running it for a real study").
"""


class Command(BaseCommand):
    help = (
        "Run the whole study on synthetic data: data set, import, split, GapNet-PL training and fine-tune, "
        "a 200-sample study with simulated expert and scholar readers, predictions, panels and the report. "
        "Steps already done are skipped. The options are checked before anything long starts: options with "
        "which a step would fail are refused with what would work."
    )

    def add_arguments(self, parser):
        defaults = demo.DemoOptions()
        parser.add_argument(
            "--samples", type=int, default=defaults.samples,
            help=f"Synthetic fields to generate (default {defaults.samples}); a fifth go to the test split, and about "
            "half of those have the single location a study sample needs.",
        )
        parser.add_argument(
            "--size", type=int, default=defaults.size,
            help=f"Width and height of each field in pixels, also the training crop (default {defaults.size}).",
        )
        parser.add_argument(
            "--study-size", type=int, default=defaults.study_size,
            help=f"Single-location test samples in the study (default {defaults.study_size}).",
        )
        parser.add_argument(
            "--epochs", type=int, default=defaults.epochs,
            help=f"Epochs of GapNet-PL's training on a CPU, ten times as many on a GPU (default {defaults.epochs}).",
        )
        parser.add_argument(
            "--finetune-epochs", type=int,
            help="Epochs of the last-layer single-location fine-tune, on either device (default: --epochs).",
        )
        parser.add_argument(
            "--seed", type=int, default=defaults.seed,
            help=f"Seed of the data, the split, the study, training and the simulated readers "
            f"(default {defaults.seed}).",
        )
        parser.add_argument(
            "--workers", type=int, default=defaults.workers,
            help=f"Processes generating and importing the fields; training's loader takes at most 2 "
            f"(default {defaults.workers}).",
        )
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the site will be served, for the printed links.",
        )

    def handle(self, *args, **options):
        base_url = options.pop("base_url").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise CommandError(f"--base-url {base_url!r}: give an address starting with http:// or https://")
        known = demo.DemoOptions.__dataclass_fields__
        demo_options = demo.DemoOptions(**{k: v for k, v in options.items() if k in known})
        started = time.monotonic()
        call_command("migrate", verbosity=0)
        try:
            demo_checks.check(demo_options)
        except demo_checks.DemoOptionError as error:
            raise CommandError(str(error)) from None
        self.timed(demo.data_set, demo_options)
        self.timed(demo.models, demo_options)
        study = self.timed(demo.reading_study, demo_options)
        self.timed(demo.assisted_reading, demo_options)
        self.timed(demo.simulated_readers, demo_options)
        self.timed(demo.model_comparison, demo_options)
        report = self.timed(demo.panels_and_report, demo_options)
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
        if settings.USES_DEVELOPMENT_KEY:
            self.stdout.write(self.style.WARNING(DEVELOPMENT_KEY_WARNING))

    step_started = None

    def timed(self, stage, argument):
        """Run one stage of the demo; each of its steps says how long it took, so that a newcomer sees
        where the time goes."""
        result = stage(argument, self.step)
        self.end_step()
        return result

    def step(self, name: str, detail: str) -> None:
        self.end_step()
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {name}: ") + detail, ending="\n")
        self.stdout.flush()
        self.step_name, self.step_started = name, time.monotonic()

    def end_step(self) -> None:
        """Say how long the step under way took, if one is."""
        if self.step_started is not None:
            self.stdout.write(f"   ({self.step_name}: {duration(time.monotonic() - self.step_started)})")
            self.stdout.flush()
            self.step_started = None

def duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
