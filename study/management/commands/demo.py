from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from study.models import Dataset, Study

DATASET = "demo"
STUDY = "demo-study"


class Command(BaseCommand):
    help = "Build the demo: a synthetic data set, imported, split, and a 200-sample study. Steps already done are skipped."

    def add_arguments(self, parser):
        parser.add_argument("--samples", type=int, default=5000)
        parser.add_argument("--size", type=int, default=256)
        parser.add_argument("--study-size", type=int, default=200)
        parser.add_argument("--seed", type=int, default=2019)

    def handle(self, *args, **options):
        call_command("migrate", verbosity=0)
        source = settings.DATA_DIR / "demo-source"
        seed = options["seed"]

        if (source / "labels.csv").exists():
            self.step("synthetic data set", f"already in {source}")
        else:
            self.step("synthetic data set", f"{options['samples']} samples of {options['size']} px")
            call_command(
                "generate_synthetic", str(source), samples=options["samples"], size=options["size"], seed=seed,
                workers=2, stdout=self.stdout,
            )

        self.step("import", f"{source} into data set {DATASET!r}")
        call_command("import_dataset", str(source), name=DATASET, workers=2, stdout=self.stdout)

        dataset = Dataset.objects.get(name=DATASET)
        if dataset.split_seed is not None:
            self.step("split", f"already split with seed {dataset.split_seed}")
        else:
            self.step("split", "80/10/10, stratified")
            call_command("make_splits", DATASET, seed=seed, stdout=self.stdout)

        if Study.objects.filter(name=STUDY).exists():
            self.step("study", f"{STUDY!r} exists already")
        else:
            self.step("study", f"{options['study_size']} single-location test samples")
            call_command(
                "create_study", STUDY, dataset=DATASET, size=options["study_size"], seed=seed, stdout=self.stdout
            )
        self.stdout.write(self.style.SUCCESS("Demo ready."))

    def step(self, name: str, detail: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {name}: ") + detail)
