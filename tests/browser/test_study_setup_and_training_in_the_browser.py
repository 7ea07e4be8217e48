"""The paper's study set up and read entirely in headless Chromium: the coordinator requires a training
phase for the scholars, adds a background form, opens a one-week window and repeats 10 cases, and invites
a scholar; the scholar answers the background questions, goes through the training, reads every case
(the repeated ones twice) and submits."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from django.urls import reverse
from django.utils import timezone

from annotator.models import Answer, InstructionsSeen, Participant, StudyConfig
from annotator.reader_data import reader_covariates, repeat_readings
from tests.browser.conftest import paint_cells
from tests.browser.test_coordinator_and_analyst_in_the_browser import images_loaded, sign_in_on_the_form
from tests.browser.test_labelling_in_the_browser import answer_with_key, panels_shown
from tests.factories import reading_study

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "cobalt-centrosome-5530"
N_SAMPLES = 40
REPEATS = 10
PRACTICE = 3


def moment(value):
    return value.strftime("%Y-%m-%dT%H:%M")


def test_a_coordinator_sets_up_the_study_and_a_scholar_trains_reads_and_submits(live_server, new_page, screenshots):
    base = live_server.url
    reading = reading_study("paper", test_samples=N_SAMPLES, train_samples=13)
    paint_cells(reading.study.dataset.samples.filter(split="train"), size=128)

    # ------------------------------------------------------------ the coordinator
    coordinator = new_page()
    study_page = reverse("annotator:coordinator_study", args=["paper"])
    sign_in_on_the_form(coordinator, base, reading.coordinator, study_page)

    scholars = coordinator.locator("tr[data-cohort=scholar]")
    scholars.locator("input[type=checkbox]").check()
    scholars.locator("input[type=number]").fill(str(PRACTICE))
    coordinator.click("button[value=cohorts]")
    expect(coordinator.locator(".messages")).to_contain_text("training and gallery are saved")

    coordinator.fill("#id_background-0-label", "Years of experience with fluorescence microscopy")
    coordinator.select_option("#id_background-0-kind", "number")
    coordinator.check("#id_background-0-required")
    coordinator.fill("#id_background-1-label", "Your field")
    coordinator.select_option("#id_background-1-kind", "choice")
    coordinator.fill("#id_background-1-options", "cell biology; pathology; other")
    coordinator.check("#id_background-1-required")
    coordinator.click("button[value=background]")
    expect(coordinator.locator(".messages")).to_contain_text("2 questions")

    opens = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=1)
    closes = opens + timedelta(days=7)
    coordinator.fill("#id_window-opens_at", moment(opens))
    coordinator.fill("#id_window-closes_at", moment(closes))
    coordinator.fill("#id_window-repeated_cases", str(REPEATS))
    coordinator.click("button[value=window]")
    expect(coordinator.locator(".messages")).to_contain_text("reading window and the repeated cases are saved")
    expect(coordinator.locator("#window-state")).to_contain_text("open")
    coordinator.screenshot(path=screenshots / "study-setup.png", full_page=True)

    config = StudyConfig.objects.get(study=reading.study)
    assert (config.opens_at, config.closes_at, config.repeated_cases) == (opens, closes, REPEATS)
    assert [field["key"] for field in config.background_fields] == ["years_of_experience_with_fluorescence", "your_field"]

    coordinator.click("nav.study-nav >> text=Invitations")
    coordinator.select_option("#id_cohort", "scholar")
    coordinator.click("text=Create the links")
    link = coordinator.locator("#new-links .invitation-link").inner_text()

    # ------------------------------------------------------------ the scholar
    page = new_page()
    page.goto(link)
    expect(page.locator("#deadline")).to_contain_text(f"{closes:%Y-%m-%d %H:%M} UTC")
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    page.keyboard.press("Enter")

    # The background form first; a required answer left out is marked.
    page.wait_for_url("**/s/paper/background/")
    page.select_option("#id_your_field", "pathology")
    page.click("main button[type=submit]")
    expect(page.locator("#background-errors")).to_be_visible()
    years = page.locator("#id_years_of_experience_with_fluorescence")
    expect(years).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[data-question=years_of_experience_with_fluorescence]")).to_have_class("question invalid")
    expect(page.locator("#id_your_field")).to_have_value("pathology")
    page.screenshot(path=screenshots / "background-form.png")
    years.fill("6")
    page.click("main button[type=submit]")

    page.wait_for_url("**/s/paper/instructions/")
    expect(page.locator("#deadline")).to_contain_text(f"Open until {closes:%Y-%m-%d %H:%M} UTC")
    expect(page.locator("main")).to_contain_text(f"You will see {N_SAMPLES + REPEATS} samples")
    page.click("#start")

    # The training: the classes with an example each, the practice with the answer shown, the score.
    page.wait_for_url("**/s/paper/training/")
    expect(page.locator(".training-class")).to_have_count(13)
    images_loaded(page, ".training-class:first-child img")
    page.screenshot(path=screenshots / "training.png")
    page.click("#start-practice")
    for number in range(1, PRACTICE + 1):
        page.wait_for_url(f"**/s/paper/training/practice/{number}/")
        panels_shown(page)
        page.keyboard.press("1")
        expect(page.locator("#feedback")).to_contain_text("this is")
        if number == 1:
            page.screenshot(path=screenshots / "practice.png")
        page.keyboard.press("Enter")
    page.wait_for_url("**/s/paper/training/score/")
    expect(page.locator("#score")).to_contain_text(f"of {PRACTICE} practice samples")
    page.click("#begin")

    # Every case, the repeated ones a second time, unmarked.
    total = N_SAMPLES + REPEATS
    page.wait_for_url("**/s/paper/case/1/")
    expect(page.locator("#deadline")).to_contain_text("Open until")
    for number in range(1, total + 1):
        expect(page.locator(".case-number")).to_contain_text(f"Sample {number} of {total}")
        then = f"/s/paper/case/{number + 1}/" if number < total else "/s/paper/submit/"
        answer_with_key(page, str(1 + number % 3), then)
    expect(page.locator("main")).to_contain_text(f"You answered {total} of {total} samples.")
    page.click("button[data-waits-for-queue]")
    page.wait_for_url("**/s/paper/done/")

    scholar = Participant.objects.exclude(pk=reading.other_participant.pk).get(study=reading.study, cohort__name="scholar")
    assert scholar.is_submitted and scholar.training_finished_at is not None
    assert scholar.practice_answers.count() == PRACTICE
    assert scholar.background == {"years_of_experience_with_fluorescence": 6, "your_field": "pathology"}
    assert reader_covariates(reading.study)[scholar.pseudonym]["your_field"] == "pathology"
    assert InstructionsSeen.objects.filter(participant=scholar).count() == 1
    readings = Answer.readings.filter(participant=scholar)
    assert readings.count() == total and readings.filter(repeat=1).count() == REPEATS
    assert len(repeat_readings(reading.study)[scholar.pseudonym]) == REPEATS
