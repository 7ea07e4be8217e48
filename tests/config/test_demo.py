"""The demo: its whole pipeline at a tiny size (synthetic data, import, split, training, fine-tune, study,
simulated readers, predictions, panels, report and sign-in links; then again, skipping every step), and
options it cannot work with, refused before any long step with what would work."""

import csv
import io
import json
import re
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.test import Client

from annotator.models import Answer, Invitation, Participant, StudyConfig, config_of
from config import demo_checks
from config.demo import (
    BASELINE_RUN,
    CONFIGURATION_FIXTURE,
    DATASET,
    RUN,
    SINGLE_CLASS_RUN,
    STUDY,
    DemoOptions,
    source_folder,
)
from models_zoo.models import ModelRun
from study.models import Dataset, Study
from study.roles import ANALYST, COORDINATOR, has_role
from synthetic.dataset import generate_dataset
from tests.factories import reading_study
from tests.fixture_files import demo_class_descriptions

TINY = {"samples": 200, "size": 64, "study_size": 10, "epochs": 1, "workers": 1}


def run_demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out, **TINY)
    return out.getvalue()


def next_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["next"][0]


def rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.django_db(transaction=True)
def test_the_demo_runs_the_whole_study_and_a_second_run_skips_what_is_done(isolated_data_dir):
    predicted = demo_checks.generated_counts(TINY["samples"], DemoOptions.seed)

    first = run_demo()

    assert demo_checks.database_counts(Dataset.objects.get(name=DATASET)) == predicted, (
        "the split the checks work out without rendering is the one the demo made"
    )
    study = Study.objects.get(name=STUDY)
    assert study.items.count() == 10
    config = config_of(study)
    assert config.instructions.startswith("Each case shows one field of cells in four panels")
    assert config.class_descriptions == {str(index): text for index, text in demo_class_descriptions().items()}
    assert [question["key"] for question in config.background_fields] == [
        "microscopy_years", "field", "image_frequency"
    ]
    assert ModelRun.objects.get(name=RUN).status == ModelRun.Status.FINISHED
    fine_tune = ModelRun.objects.get(name=SINGLE_CLASS_RUN)
    assert fine_tune.config["epochs"] == TINY["epochs"], "the fine-tune follows --epochs"
    assert ModelRun.objects.get(name=SINGLE_CLASS_RUN).predictions.count() == 10
    simulated = Participant.objects.filter(study=study, simulated=True)
    assert simulated.filter(cohort__name="expert").count() == 3
    assert simulated.filter(cohort__name="scholar").count() == 5
    assert all(p.submitted_at is not None and p.answers.count() == 10 for p in simulated)
    # Read sequentially with the fine-tuned model's suggestions, the scholars relying on them more.
    assert (study.assistance.design, study.assistance.source) == ("sequential", SINGLE_CLASS_RUN)
    aided = Answer.readings.filter(participant__in=simulated, arm="aided")
    unaided = Answer.readings.filter(participant__in=simulated, arm="unaided")
    assert aided.count() == unaided.count() >= 8 * 10, "every reading alone was followed by one beside the suggestion"
    assert not aided.filter(suggested_class__isnull=True).exists()
    took = {
        cohort: aided.filter(participant__cohort__name=cohort, class_index=F("suggested_class")).count()
        - Answer.objects.filter(participant__in=simulated, participant__cohort__name=cohort)
        .filter(item__suggestion__class_index=F("class_index")).count()
        for cohort in ("expert", "scholar")
    }
    assert took["scholar"] / 5 > took["expert"] / 3 >= 0, "scholars moved to the suggestion more than experts"

    report = isolated_data_dir / "reports" / "demo"
    table2 = rows(report / "table2.csv")
    readers = {row["reader"]: row for row in table2}
    assert readers[SINGLE_CLASS_RUN]["kind"] == "model"
    assert {"sim-expert-01", "Ensemble of expert", "Mean of scholar", "Ensemble of scholar"} <= set(readers)
    assert all(row["simulated"] == "true" for row in table2 if row["kind"] != "model")
    assert {row["reader"] for row in rows(report / "table3.csv")} == {f"sim-expert-0{i}" for i in (1, 2, 3)} | {
        "Ensemble of expert", "Ensemble of scholar"
    } | {f"sim-scholar-0{i}" for i in range(1, 6)}
    summary = json.loads((report / "report.json").read_text())
    assert summary["study"] == STUDY and summary["seed"] == 2019
    assert {(row["cohort"], row["fom"], row["variant"]) for row in summary["mrmc"]} == {
        (cohort, fom, variant)
        for cohort in ("expert", "scholar")
        for fom in ("accuracy", "f1")
        for variant in ("random_readers_random_cases", "fixed_readers_random_cases")
    }
    assert {row["cohort"] for row in summary["agreement"]["fleiss_kappa"]} == {"expert", "scholar"}
    assert len(summary["agreement"]["cohens_kappa"]) >= 8 * 7 // 2
    assert {row["reader"] for row in rows(report / "table2.csv") if row["accuracy_ci_low"]} >= {
        "Mean of scholar", "Ensemble of expert", "Ensemble of scholar"
    }
    assert (report / f"confusion_{SINGLE_CLASS_RUN}.png").stat().st_size > 0
    # Tables 1 and 7: GapNet-PL and the Conv-MIL baseline on the whole test split.
    assert {row["model"] for row in rows(report / "table1.csv")} == {RUN, BASELINE_RUN}
    assert set(rows(report / "table7.csv")[0]) == {"class", RUN, BASELINE_RUN}
    assert summary["preface"].startswith("This is the demo: its figures come from a short training on the CPU")
    for figure in ("mrmc_forest", "readers_accuracy"):
        assert (report / f"{figure}.png").stat().st_size > 0 and (report / f"{figure}.svg").stat().st_size > 0
    # The biases the paper worried about: the simulated readers look classes up in the gallery, read the
    # repeated cases twice, take their time and answered the background form.
    anchoring = summary["anchoring"]
    assert anchoring["n_gallery_views"] > 0 and sum(row["n_looked_up"] for row in anchoring["readers"]) > 0
    assert len(anchoring["readers"]) == 8
    assert {row["cohort"] for row in anchoring["effects"]} == {"expert", "scholar", None}
    retest = summary["test_retest"]
    assert retest["n_repeated_cases"] == 2 and len(retest["readers"]) == 8
    assert {row["cohort"] for row in retest["cohorts"]} == {"expert", "scholar"}
    assert all(row["n_repeats"] == 2 for row in retest["readers"])
    timing = {row["cohort"]: row for row in summary["reading_time"]}
    assert set(timing) == {"expert", "scholar"} and all(len(row["quartiles"]) == 4 for row in timing.values())
    assert timing["scholar"]["n_cases"] == 5 * 10 and timing["scholar"]["spearman_rho"] is not None
    assert all(row["background"]["microscopy_years"] is not None for row in summary["readers"])
    assert summary["instructions"]["note"] == (
        "No participant has opened the instructions page (simulated readers do not)."
    )
    assert (report / "reading_time.png").stat().st_size > 0 and len(rows(report / "reading_time.csv")) == 8
    assert len(rows(report / "anchoring.csv")) == 8 + 3 and len(rows(report / "readers.csv")) == 8
    assert "<img" in (report / "index.html").read_text()

    access = json.loads((isolated_data_dir / "demo-access.json").read_text())
    coordinator = authenticate(username="coordinator", password=access["coordinator_password"])
    analyst = authenticate(username="analyst", password=access["analyst_password"])
    assert has_role(coordinator, COORDINATOR) and has_role(analyst, ANALYST)
    assert Invitation.find_usable(access["invitation_token"]) is not None
    assert access["invitation_path"] in first and access["coordinator_password"] in first
    assert "public development SECRET_KEY" in first, "the demo says loudly that it is for this machine only"
    analyst_link = re.search(r"analyst: +(\S+)", first).group(1)
    landed = Client().post(
        analyst_link, {"username": "analyst", "password": access["analyst_password"], "next": next_of(analyst_link)},
        follow=True,
    )
    assert "Table 2" in landed.text and "Answers are missing" not in landed.text
    assert "Model against the population of readers" in landed.text and "Accuracy per true class" in landed.text
    assert "Anchoring on the gallery" in landed.text and "Test-retest consistency per cohort" in landed.text
    assert "Reading time against correctness" in landed.text and "reading_time.png" in landed.text
    assert "Table 1: models on the test split" in landed.text and "Table 7: F1 per class" in landed.text
    assert "mrmc_forest.png" in landed.text and "This is the demo" in landed.text

    second = run_demo()

    # Readers with the machine: the report's assisted arm, from the same sequential reading.
    assistance = summary["assistance"]
    assert {row["cohort"] for row in assistance["orh"]} >= {"expert", "scholar"}
    assert {row["reader"] for row in assistance["readers"]} == {f"sim-expert-0{i}" for i in (1, 2, 3)} | {
        f"sim-scholar-0{i}" for i in range(1, 6)
    }
    assert len(rows(report / "assistance_readers.csv")) == 8
    assert (report / "assistance_readers.png").stat().st_size > 0
    assert "as a second reader" in landed.text

    assert "exists already" in second and "has predicted the study already" in second
    assert "read sequential, fixed since the first answer" in second
    assert "a new expert invitation" not in second
    assert ModelRun.objects.count() == 3
    assert Participant.objects.filter(study=study).count() == 9
    assert rows(report / "table2.csv") == table2


@pytest.mark.django_db
def test_the_demo_configuration_loads_onto_the_study_by_its_name_and_no_other():
    other = reading_study("other")
    demo = reading_study(STUDY).study

    call_command("loaddata", CONFIGURATION_FIXTURE, verbosity=0)

    config = StudyConfig.objects.get(study=demo)
    assert config.class_descriptions["0"] == demo_class_descriptions()[0]
    assert config.display_percentiles == {channel: [0.5, 99.5] for channel in ("red", "green", "blue", "yellow")}
    number = config.background_fields[0]
    assert (number["kind"], number["minimum"], number["maximum"]) == ("number", 0, 100)
    assert config_of(other.study).instructions == "" and config_of(other.study).class_descriptions == {}


def refusal(**options) -> str:
    """The demo's refusal of ``options`` (TINY's otherwise), after checking that no long step started."""
    with pytest.raises(CommandError) as refused:
        call_command("demo", stdout=io.StringIO(), **{**TINY, **options})
    assert not source_folder().exists(), "no synthetic image was written"
    assert not Dataset.objects.exists() and not ModelRun.objects.exists() and not Study.objects.exists()
    return str(refused.value)


def accepted(**options) -> bool:
    try:
        demo_checks.check(DemoOptions(**{**TINY, **options}))
    except demo_checks.DemoOptionError:
        return False
    return True


@pytest.mark.django_db
def test_a_study_larger_than_the_samples_give_is_refused_with_the_largest_that_works_and_the_samples_that_do():
    message = refusal(samples=400, size=96, study_size=40, epochs=2)

    found = re.fullmatch(
        r"--samples 400 with --seed 2019 give (\d+) single-location test samples, where the study needs 40\. "
        r"Use --study-size (\d+) \(or less\), or --samples (\d+) \(or more\)\.",
        message,
    )
    assert found, message
    available, largest, enough = (int(group) for group in found.groups())
    assert available == largest < 40
    assert accepted(samples=400, study_size=largest) and not accepted(samples=400, study_size=largest + 1)
    assert accepted(samples=enough, study_size=40) and not accepted(samples=enough - 10, study_size=40)


@pytest.mark.django_db
def test_samples_too_few_to_train_and_fine_tune_on_are_refused_with_how_many_would_do():
    message = refusal(samples=20, study_size=1)

    assert "training batch needs 8" in message or "fine-tune batch needs 8" in message
    enough = int(re.search(r"Use --samples (\d+) \(or more\)\.$", message).group(1))
    assert accepted(samples=enough, study_size=1)


@pytest.mark.parametrize(
    "options, named",
    [
        ({"samples": 0}, "--samples 0: give 1 or more"),
        ({"size": 32}, "--size 32: the synthetic fields are 64 px or more"),
        ({"study_size": 0}, "--study-size 0: give 1 or more"),
        ({"epochs": 0}, "--epochs 0: give 1 or more"),
        ({"finetune_epochs": 0}, "--finetune-epochs 0: give 1 or more"),
        ({"seed": -1}, "--seed -1: give 0 or more"),
        ({"workers": 0}, "--workers 0: give 1 or more"),
        ({"base_url": "127.0.0.1:8000"}, "--base-url '127.0.0.1:8000': give an address starting with http://"),
    ],
)
@pytest.mark.django_db
def test_each_option_out_of_its_range_is_refused_by_name(options, named):
    assert named in refusal(**options)


@pytest.mark.django_db
def test_a_data_set_that_would_not_fit_on_the_disk_is_refused_with_what_fits(monkeypatch):
    measured = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: measured(path)._replace(free=2 * 2**30))

    message = refusal(samples=100_000, size=512)

    found = re.fullmatch(
        r"--samples 100000 --size 512: the images need about (\d+\.\d) GiB and \S+ has 2\.0 GiB free\. "
        r"Use --samples (\d+) \(or fewer\), or a smaller --size\.",
        message,
    )
    assert found and float(found.group(1)) > 100_000 * 512 * 512 * 4 * 2 / 2**30, message
    fitting = int(found.group(2))
    assert accepted(samples=fitting, size=512) and not accepted(samples=fitting + 1, size=512)


@pytest.mark.django_db
def test_a_data_set_generated_before_is_what_the_checks_count_whatever_samples_are_asked_for():
    generate_dataset(source_folder(), samples=30, size=64, seed=2019)

    with pytest.raises(CommandError) as refused:
        call_command("demo", stdout=io.StringIO(), **{**TINY, "samples": 3000, "study_size": 40})

    available = demo_checks.generated_counts(30, 2019).single_location["test"]
    assert str(refused.value) == (
        f"The demo's data set in {source_folder()} (generated before) has {available} single-location test samples, "
        f"where the study needs 40. Use --study-size {available} (or less), or a new data folder (DATA_DIR), where the "
        "demo makes its data set again from --samples."
    )
    assert not Dataset.objects.exists() and not ModelRun.objects.exists()


def test_the_fine_tune_follows_the_epochs_unless_given_its_own():
    assert DemoOptions(epochs=3).last_layer_epochs == 3
    assert DemoOptions(epochs=3, finetune_epochs=1).last_layer_epochs == 1
