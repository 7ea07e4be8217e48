"""The whole study on synthetic data, step by step: what ``python manage.py demo`` runs.

Every step checks whether its result exists and skips itself if so, so the demo can run again safely
and quickly. Simulated readers stand in for people so that the report has something to compare; they
are marked as simulated in the database, on every page and in every file.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import torch
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command

from study.models import Dataset, Study
from study.roles import ANALYST, COORDINATOR, role_group

DATASET = "demo"
STUDY = "demo-study"
RUN = "demo-gapnet"
SINGLE_CLASS_RUN = "demo-gapnet-single"

# A fifth of the samples for testing: about half of the synthetic fields have a single location, and
# the study needs 200 of those from the test split.
SPLIT_RATIOS = [0.7, 0.1, 0.2]
# Of training and of the last-layer fine-tune (which keeps its parent's batch). The paper's batch of 40
# at rate 0.01 suits hundreds of epochs of 1024 px crops; a few epochs of small fields learn more from
# more, larger steps.
BATCH_SIZE = 8
LEARNING_RATE = 0.03

# Readers of different skill, as in the paper: experts near 72% accuracy, scholars lower; and, reading
# with the model's suggestion, a reliance on it (the chance of taking it over their own answer) that is
# larger for the scholars, as assisted reader studies find for the less experienced.
SIMULATED_COHORTS = (("expert", 3, 0.72, 0.2), ("scholar", 5, 0.55, 0.5))
# Cases every reader reads twice (for each reader's consistency), at most a quarter of the study.
REPEATED_CASES = 10
# What the participants read and are asked (the instructions, each class's look in the gallery, and a
# background form of who the readers are), a Django fixture: config/fixtures/demo_study.json.
CONFIGURATION_FIXTURE = "demo_study"


@dataclass
class DemoOptions:
    samples: int = 3000
    size: int = 256
    study_size: int = 200
    epochs: int = 10  # of training on a CPU; ten times as many on a GPU
    finetune_epochs: int | None = None  # of the last-layer fine-tune; None: as many as ``epochs``
    seed: int = 2019
    workers: int = 2

    @property
    def last_layer_epochs(self) -> int:
        return self.epochs if self.finetune_epochs is None else self.finetune_epochs


def the_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def source_folder() -> Path:
    """Where the demo generates its synthetic data set."""
    return Path(settings.DATA_DIR) / "demo-source"


def data_set(options: DemoOptions, say) -> None:
    source = source_folder()
    if (source / "labels.csv").exists():
        say("synthetic data set", f"already in {source}")
    else:
        say("synthetic data set", f"{options.samples} fields of {options.size} px")
        call_command(
            "generate_synthetic", str(source), samples=options.samples, size=options.size, seed=options.seed,
            workers=options.workers,
        )
    say("import", f"{source} into data set {DATASET!r} (only what is new)")
    call_command("import_dataset", str(source), name=DATASET, label_set="cyto13", workers=options.workers)
    dataset = Dataset.objects.get(name=DATASET)
    if dataset.split_seed is not None:
        say("split", f"already split with seed {dataset.split_seed}")
    else:
        say("split", "70/10/20, stratified")
        call_command("make_splits", DATASET, seed=options.seed, ratios=SPLIT_RATIOS)


def models(options: DemoOptions, say) -> None:
    from models_zoo.models import ModelRun

    device = the_device()
    if ModelRun.objects.filter(name=RUN, status=ModelRun.Status.FINISHED).exists():
        say("train", f"GapNet-PL run {RUN!r} exists already")
    else:
        epochs = options.epochs if device == "cpu" else 10 * options.epochs
        say("train", f"GapNet-PL on {device}, {epochs} epochs of {options.size} px fields")
        running = ModelRun.objects.filter(name=RUN).exclude(status=ModelRun.Status.FINISHED)
        if running.exists():
            call_command("train", "gapnet_pl", dataset=DATASET, resume=RUN, device=device)
        else:
            call_command(
                "train", "gapnet_pl", dataset=DATASET, name=RUN, epochs=epochs, crop=options.size,
                batch_size=BATCH_SIZE, lr=LEARNING_RATE, device=device, seed=options.seed,
                workers=min(options.workers, 2),
            )
    if ModelRun.objects.filter(name=SINGLE_CLASS_RUN, status=ModelRun.Status.FINISHED).exists():
        say("fine-tune", f"single-location run {SINGLE_CLASS_RUN!r} exists already")
    else:
        say("fine-tune", f"the last layer for {options.last_layer_epochs} epochs, on the single-location training "
            "samples, softmax over the classes")
        ModelRun.objects.filter(name=SINGLE_CLASS_RUN).delete()
        call_command(
            "finetune", RUN, single_class=True, name=SINGLE_CLASS_RUN, device=device, epochs=options.last_layer_epochs
        )


def reading_study(options: DemoOptions, say) -> Study:
    from annotator.models import Answer, config_of, max_repeated_cases
    from annotator.operations import ensure_cohort

    if Study.objects.filter(name=STUDY).exists():
        say("study", f"{STUDY!r} exists already")
    else:
        say("study", f"{options.study_size} single-location test samples")
        call_command("create_study", STUDY, dataset=DATASET, size=options.study_size, seed=options.seed)
    study = Study.objects.get(name=STUDY)
    config = config_of(study)
    # Loading replaces the whole configuration row, so only one nobody has written to yet.
    if not config.instructions and not config.background_fields:
        call_command("loaddata", CONFIGURATION_FIXTURE, verbosity=0)
        config.refresh_from_db()
    # The repeats shape every reader's order: set only before anyone has answered.
    if not Answer.readings.filter(participant__study=study).exists():
        config.repeated_cases = min(REPEATED_CASES, max_repeated_cases(study.items.count()))
        config.save()
    for cohort, *_ in SIMULATED_COHORTS:
        ensure_cohort(study, cohort)
    # As in the paper, the scholars are taught with training samples before they start.
    study.cohorts.filter(name="scholar").update(training_required=True)
    say("study", f"{config.repeated_cases} cases read twice, a background form of {len(config.background_fields)} "
        "questions, a training phase for the scholars")
    return study


def assisted_reading(options: DemoOptions, say) -> None:
    """The study read sequentially with the fine-tuned model's suggestions: each case answered alone,
    then again with the model's class shown. Its predictions for the study come first, since the
    suggestions are frozen from them; the assistance is set only before anyone has answered."""
    from annotator.assistance import AssistanceSettings, assistance_of, set_assistance
    from annotator.models import Answer
    from models_zoo.models import ModelRun

    run = ModelRun.objects.get(name=SINGLE_CLASS_RUN)
    study = Study.objects.get(name=STUDY)
    if run.predictions.filter(sample__study_items__study=study).count() == study.items.count():
        say("predict", f"{SINGLE_CLASS_RUN!r} has predicted the study already")
    else:
        say("predict", f"{SINGLE_CLASS_RUN!r} on the study's samples, whole images")
        call_command("predict", SINGLE_CLASS_RUN, study=STUDY, device=the_device())
    if Answer.readings.filter(participant__study=study).exists():
        say("assistance", f"read {assistance_of(study).design}, fixed since the first answer")
        return
    say("assistance", f"sequential: each case alone, then beside the suggestion of {SINGLE_CLASS_RUN!r}")
    set_assistance(study, AssistanceSettings("sequential", SINGLE_CLASS_RUN))


def simulated_readers(options: DemoOptions, say) -> None:
    for cohort, count, skill, reliance in SIMULATED_COHORTS:
        say(
            "simulated readers",
            f"{count} {cohort}s of skill {skill:.0%}, taking the suggestion over their own answer {reliance:.0%} "
            "of the time (marked as simulated)",
        )
        call_command(
            "simulate_readers", STUDY, cohort=cohort, count=count, skill=skill, reliance=reliance, seed=options.seed
        )


def panels_and_report(options: DemoOptions, say) -> Path:
    say("panels", "render every study sample's four panels once")
    call_command("render_panels", STUDY)
    out = settings.DATA_DIR / "reports" / "demo"
    say("report", f"Tables 1, 2, 3 and 7, the figures, the cases -> {out}")
    # The demo's hand-labelling invitation may be half done when the demo runs again; the report
    # then says how many answers each reader lacks and computes on those there are.
    call_command("report", STUDY, out=out, seed=options.seed, model=[SINGLE_CLASS_RUN], allow_missing=True)
    return out


@dataclass
class DemoAccess:
    coordinator_password: str
    analyst_password: str
    invitation_path: str


def access(study: Study, say) -> DemoAccess:
    """Demo accounts for the coordinator and the analyst, and a real invitation to label by hand.

    The passwords and the invitation are kept in the data folder so that a second run prints the
    same ones (invitation tokens are stored hashed in the database and cannot be shown again).
    """
    from annotator.models import Invitation
    from annotator.operations import invite

    path = settings.DATA_DIR / "demo-access.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    for username, role in (("coordinator", COORDINATOR), ("analyst", ANALYST)):
        user, created = User.objects.get_or_create(username=username)
        if created or f"{username}_password" not in saved:
            saved[f"{username}_password"] = secrets.token_urlsafe(12)
            user.set_password(saved[f"{username}_password"])
            user.save()
        user.groups.add(role_group(role))
    token = saved.get("invitation_token")
    if not token or Invitation.find_usable(token) is None:
        issued = invite(study, "expert", 1)[0]
        saved["invitation_token"], saved["invitation_path"] = issued.token, issued.path
        say("invitation", f"a new expert invitation for {issued.participant.pseudonym}")
    path.write_text(json.dumps(saved, indent=2))
    path.chmod(0o600)
    return DemoAccess(saved["coordinator_password"], saved["analyst_password"], saved["invitation_path"])


# The paper's second model, so that the report has Tables 1 and 7. Conv-MIL is the cheapest of its
# baselines to train on two CPU cores (a third of M-CNN's cost a crop, the next cheapest;
# benchmarks/bench_models.py), and two epochs of the demo's fields lift its validation macro-F1 above
# chance (0.10 after one epoch, 0.13 after two, AUC 0.66 after one; measured on this demo's data).
BASELINE = "conv_mil"
BASELINE_RUN = "demo-conv-mil"
BASELINE_EPOCHS = 2


def model_comparison(options: DemoOptions, say) -> None:
    """Tables 1 and 7: a second model beside GapNet-PL, both predicting the whole test split, and the
    report's preface saying where the demo's figures come from."""
    from analysis.models import ReportPreface
    from models_zoo.models import ModelRun
    from study.models import Sample

    device = the_device()
    epochs = BASELINE_EPOCHS if device == "cpu" else 10 * BASELINE_EPOCHS
    if ModelRun.objects.filter(name=BASELINE_RUN, status=ModelRun.Status.FINISHED).exists():
        say("train the baseline", f"Conv-MIL run {BASELINE_RUN!r} exists already")
    else:
        say("train the baseline", f"Conv-MIL on {device}, {epochs} epochs of {options.size} px fields")
        if ModelRun.objects.filter(name=BASELINE_RUN).exists():
            call_command("train", BASELINE, dataset=DATASET, resume=BASELINE_RUN, device=device)
        else:
            call_command(
                "train", BASELINE, dataset=DATASET, name=BASELINE_RUN, epochs=epochs, crop=options.size,
                batch_size=8, lr=0.03, device=device, seed=options.seed, workers=min(options.workers, 2),
            )
    test_split = Sample.objects.filter(dataset__name=DATASET, split=Sample.Split.TEST)
    for run in (RUN, BASELINE_RUN):
        if ModelRun.objects.get(name=run).predictions.filter(sample__in=test_split).count() == test_split.count():
            say("predict the test split", f"{run!r} has predicted it already")
        else:
            say("predict the test split", f"{run!r} on the {test_split.count()} test samples, whole images")
            call_command("predict", run, dataset=DATASET, split=Sample.Split.TEST, device=device)
    gapnet_epochs = options.epochs if device == "cpu" else 10 * options.epochs
    ReportPreface.objects.update_or_create(
        study=Study.objects.get(name=STUDY),
        defaults={
            "text": (
                f"This is the demo: its figures come from a short training {'on the CPU' if device == 'cpu' else 'on a GPU'} "
                f"on synthetic data ({options.samples:,} generated fields of {options.size} px; GapNet-PL trained for "
                f"{gapnet_epochs} epochs, Conv-MIL for {epochs}) and from simulated readers. They show what the "
                "report holds, not how well models or people localize proteins."
            )
        },
    )
