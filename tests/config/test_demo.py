"""The demo's whole pipeline at a tiny size: synthetic data, import, split, training, fine-tune, study,
simulated readers, predictions, panels, report and sign-in links; then again, skipping every step."""

import csv
import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client

from annotator.models import Invitation, Participant
from models_zoo.models import ModelRun
from config.demo import BASELINE_RUN, RUN, SINGLE_CLASS_RUN, STUDY
from study.models import Study
from study.roles import ANALYST, COORDINATOR, has_role

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
    first = run_demo()

    study = Study.objects.get(name=STUDY)
    assert study.items.count() == 10
    assert ModelRun.objects.get(name=RUN).status == ModelRun.Status.FINISHED
    assert ModelRun.objects.get(name=SINGLE_CLASS_RUN).predictions.count() == 10
    simulated = Participant.objects.filter(study=study, simulated=True)
    assert simulated.filter(cohort__name="expert").count() == 3
    assert simulated.filter(cohort__name="scholar").count() == 5
    assert all(p.submitted_at is not None and p.answers.count() == 10 for p in simulated)

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

    assert "exists already" in second and "has predicted the study already" in second
    assert "a new expert invitation" not in second
    assert ModelRun.objects.count() == 3
    assert Participant.objects.filter(study=study).count() == 9
    assert rows(report / "table2.csv") == table2
