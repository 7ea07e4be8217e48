"""Whole journeys, one per role, in headless Chromium, in the order a person takes them, looking at what
they see at each step (the text on the page, not only where it went), with hostile values typed where
values are typed. Each step leaves a screenshot in artifacts/screenshots (``make screenshots`` copies them
to docs/screenshots).

The coordinator sets up the paper's study (a training phase for the scholars, a background form, a
one-week window with ten cases read twice), invites a scholar, follows the progress, closes the study
with the confirmation it asks for and downloads the answers. The scholar opens the invitation, chooses
a password, answers the background form, reads the instructions, trains, labels with the keys, zooms,
looks at the gallery, signs out and in again, resumes where they stopped, submits, and finds the study
read-only and then closed.
"""

import csv
import io
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from django.urls import reverse
from django.utils import timezone

from annotator.answers import save_answer
from annotator.models import Answer, Cohort, InstructionsSeen, Invitation, Participant, StudyConfig, config_of
from annotator.reader_data import reader_covariates, repeat_readings
from tests.browser.conftest import paint_cells
from tests.browser.test_coordinator_and_analyst_in_the_browser import images_loaded
from tests.browser.test_labelling_in_the_browser import answer_with_key, panels_shown
from tests.factories import TEST_PASSWORD, reading_study
from tests.fixture_files import demo_class_descriptions

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "cobalt-centrosome-5530"
N_SAMPLES = 40
REPEATS = 10
PRACTICE = 3


def moment(value):
    return value.strftime("%Y-%m-%dT%H:%M")


class Steps:
    """Numbered screenshots of one journey: journey-<role>-01-<step>.png, ..."""

    def __init__(self, folder, role):
        self.folder, self.role, self.number = folder, role, 0

    def __call__(self, page, step, full_page=False):
        self.number += 1
        page.screenshot(path=self.folder / f"journey-{self.role}-{self.number:02d}-{step}.png", full_page=full_page)


def refused(page, *words):
    """The refused form's summary at the top names what to put right, and the first field in error
    has the keyboard."""
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    for word in words:
        expect(summary).to_contain_text(word)
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"


def test_the_coordinators_journey(live_server, new_page, screenshots):
    base = live_server.url
    reading = reading_study("paper", test_samples=N_SAMPLES, train_samples=13)
    reading_study("someone-elses", test_samples=2, train_samples=0)
    step = Steps(screenshots, "coordinator")
    page = new_page()

    # Signing in lands on the start page, which leads to the studies given to this coordinator only.
    page.goto(base + "/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", reading.coordinator.get_username())
    page.fill("#id_password", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.click("text=Coordinate studies")
    expect(page.locator("table.studies")).to_contain_text("paper")
    expect(page.locator("table.studies")).not_to_contain_text("someone-elses")
    step(page, "studies")
    page.click("table.studies >> text=paper")
    page.wait_for_url("**/coordinate/paper/")

    # The scholars train first: a hostile number of practice cases is refused, saying why; then three.
    scholars = page.locator("tr[data-cohort=scholar]")
    scholars.locator("input[type=checkbox]").check()
    scholars.locator("input[type=number]").fill("100000")
    page.click("button[value=cohorts]")
    refused(page, "Cohort scholar: Practice cases", "less than or equal to 200")
    step(page, "refused-practice-cases")
    scholars.locator("input[type=checkbox]").check()
    scholars.locator("input[type=number]").fill(str(PRACTICE))
    page.click("button[value=cohorts]")
    expect(page.locator(".messages")).to_contain_text("training and gallery are saved")
    assert Cohort.objects.get(study=reading.study, name="scholar").practice_cases == PRACTICE

    # A background form: a number question whose bounds are the wrong way round is refused.
    page.fill("#id_background-0-label", "Years of experience with fluorescence microscopy")
    page.select_option("#id_background-0-kind", "number")
    page.fill("#id_background-0-minimum", "60")
    page.fill("#id_background-0-maximum", "0")
    page.check("#id_background-0-required")
    page.fill("#id_background-1-label", "Your field")
    page.select_option("#id_background-1-kind", "choice")
    page.fill("#id_background-1-options", "cell biology; pathology; other")
    page.check("#id_background-1-required")
    page.click("button[value=background]")
    refused(page, "Question 1: Highest answer", "must be above the lowest (60)")
    page.fill("#id_background-0-minimum", "0")
    page.fill("#id_background-0-maximum", "60")
    page.click("button[value=background]")
    expect(page.locator(".messages")).to_contain_text("2 questions")

    # The reading window: a time from another age is refused and the page still says what is saved.
    opens = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=1)
    closes = opens + timedelta(days=7)
    page.fill("#id_window-closes_at", "0001-01-01T00:00")
    page.click("button[value=window]")
    refused(page, "Closes (UTC)", "from 2000 to 2099")
    expect(page.locator("#window-state")).to_contain_text("The study is open.")
    expect(page.locator("#window-state")).to_contain_text("Nothing below was saved")
    step(page, "refused-window")
    page.fill("#id_window-opens_at", moment(opens))
    page.fill("#id_window-closes_at", moment(closes))
    page.fill("#id_window-repeated_cases", str(REPEATS))
    page.click("button[value=window]")
    expect(page.locator(".messages")).to_contain_text("reading window and the repeated cases are saved")
    expect(page.locator("#window-state")).to_contain_text(f"open until {closes:%Y-%m-%d %H:%M} UTC")

    # The presentation: an impossible contrast is refused; the gallery opens.
    page.fill("#id_red_high", "150")
    page.click("button[value=configure]")
    refused(page, "microtubules", "less than or equal to 100")
    page.fill("#id_red_high", "99.5")
    page.check("#id_gallery_open")
    page.click("button[value=configure]")
    expect(page.locator(".messages")).to_contain_text("The configuration is saved")
    step(page, "study-set-up", full_page=True)
    config = StudyConfig.objects.get(study=reading.study)
    assert (config.opens_at, config.closes_at, config.repeated_cases, config.gallery_open) == (opens, closes, REPEATS, True)
    assert [field["key"] for field in config.background_fields] == ["years_of_experience_with_fluorescence", "your_field"]

    # Invitations: a hostile count is refused; one scholar's link is shown once.
    page.click("nav.study-nav >> text=Invitations")
    page.select_option("#id_cohort", "scholar")
    page.fill("#id_count", "1e12")
    page.click("text=Create the links")
    refused(page, "Number of participants")
    page.fill("#id_count", "1")
    page.click("text=Create the links")
    expect(page.locator("#new-links")).to_contain_text("Copy these links now")
    step(page, "invitation")
    assert Invitation.objects.filter(participant__study=reading.study).count() == 1

    # The readers get to work (here without a browser); the progress page follows them.
    reader = reading.participant
    for item in reader.order()[:20]:
        save_answer(reader, item, 1)
    page.click("nav.study-nav >> text=Progress")
    row = page.locator("table.participants tr", has_text=reader.pseudonym)
    expect(row).to_contain_text(f"20 / {N_SAMPLES + REPEATS}")
    expect(page.locator("#window")).to_contain_text(f"Open until {closes:%Y-%m-%d %H:%M} UTC")
    expect(page.locator("table.samples thead")).not_to_contain_text("Class")
    step(page, "progress")

    # Closing the study while a reader has answers not submitted asks for the confirmation box.
    page.click("nav.study-nav >> text=Configuration and cohorts")
    now = timezone.now().replace(second=0, microsecond=0)
    page.fill("#id_window-closes_at", moment(now))
    page.click("button[value=window]")
    refused(page, "This closes the study now", "Tick the box")
    step(page, "close-asks-confirmation")
    page.fill("#id_window-closes_at", moment(now))
    page.check("#id_window-confirm_close")
    page.click("button[value=window]")
    expect(page.locator(".messages")).to_contain_text("saved")
    expect(page.locator("#window-state")).to_contain_text("closed")

    # The answers, as CSV, from the study's menu.
    with page.expect_download() as download:
        page.click("nav.study-nav >> text=Download the answers (CSV)")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert len(rows) == 20 and {row["participant"] for row in rows} == {reader.pseudonym}

    page.click("header >> text=Sign out")
    expect(page.locator("main")).to_contain_text("You are signed out")
    step(page, "signed-out")


def test_the_participants_journey(live_server, new_page, screenshots):
    base = live_server.url
    reading = reading_study("paper", test_samples=N_SAMPLES, train_samples=13)
    paint_cells(reading.study.dataset.samples.all(), size=128)
    config = config_of(reading.study)
    config.opens_at = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=1)
    config.closes_at = config.opens_at + timedelta(days=7)
    config.repeated_cases = REPEATS
    config.gallery_open = True
    config.class_descriptions = {str(index): text for index, text in demo_class_descriptions().items()}
    config.background_fields = [
        {"key": "years", "label": "Years of experience with fluorescence microscopy", "kind": "number",
         "options": [], "required": True, "minimum": 0, "maximum": 60},
        {"key": "field", "label": "Your field", "kind": "choice", "options": ["cell biology", "pathology", "other"],
         "required": True},
    ]
    config.save()
    Cohort.objects.filter(study=reading.study, name="scholar").update(training_required=True, practice_cases=PRACTICE)
    scholar = reading.study.participants.create(
        cohort=Cohort.objects.get(study=reading.study, name="scholar"), pseudonym="scholar-02", order_seed=7
    )
    _, token = Invitation.issue(scholar)
    link = base + reverse("annotator:accept_invitation", args=[token])
    closes = f"{config.closes_at:%Y-%m-%d %H:%M} UTC"
    total = N_SAMPLES + REPEATS
    step = Steps(screenshots, "participant")
    page = new_page()

    # The invitation: the study, the deadline and the user name; passwords that differ are refused.
    page.goto(link)
    expect(page.locator("h1")).to_contain_text("Welcome, scholar-02")
    expect(page.locator("#deadline")).to_contain_text(f"Open until {closes}")
    username = page.locator(".username").inner_text()
    step(page, "invitation")
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD + "x")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_contain_text("didn’t match")
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    page.keyboard.press("Enter")

    # The background form: a negative number of years is refused, saying why.
    page.wait_for_url("**/s/paper/background/")
    page.fill("#id_years", "-3")
    page.select_option("#id_field", "pathology")
    page.click("main button[type=submit]")
    refused(page, "Years of experience with fluorescence microscopy", "greater than or equal to 0")
    expect(page.locator("#id_field")).to_have_value("pathology")
    step(page, "background-refused")
    page.fill("#id_years", "6")
    page.click("main button[type=submit]")

    # The instructions, then the training: the classes, the practice with the answer shown, the score.
    page.wait_for_url("**/s/paper/instructions/")
    expect(page.locator("#deadline")).to_contain_text(f"Open until {closes}")
    expect(page.locator("main")).to_contain_text(f"You will see {total} samples")
    step(page, "instructions")
    page.click("#start")
    page.wait_for_url("**/s/paper/training/")
    expect(page.locator(".training-class")).to_have_count(13)
    images_loaded(page, ".training-class:first-child img")
    step(page, "training")
    page.click("#start-practice")
    for number in range(1, PRACTICE + 1):
        page.wait_for_url(f"**/s/paper/training/practice/{number}/")
        expect(page.locator("#deadline")).to_contain_text(f"Open until {closes}")
        panels_shown(page)
        page.keyboard.press("1")
        expect(page.locator("#feedback")).to_contain_text("this is")
        # The page's script puts the keyboard on "next" once it runs: Enter then goes on.
        expect(page.locator("#next-practice")).to_be_focused()
        if number == 1:
            step(page, "practice")
        page.keyboard.press("Enter")
    page.wait_for_url("**/s/paper/training/score/")
    expect(page.locator("#score")).to_contain_text(f"of {PRACTICE} practice samples")
    page.click("#begin")

    # Labelling with the keys; the view zooms; the progress counts what is saved.
    page.wait_for_url("**/s/paper/case/1/")
    panels_shown(page)
    page.keyboard.press("+")
    page.keyboard.press("+")
    expect(page.locator("#labelling")).to_have_attribute("data-zoom", "1.56")
    page.keyboard.press("Escape")
    expect(page.locator("#labelling")).to_have_attribute("data-zoom", "1.00")
    step(page, "labelling")
    for number in range(1, 21):
        expect(page.locator(".case-number")).to_contain_text(f"Sample {number} of {total}")
        answer_with_key(page, str(1 + number % 3), f"/s/paper/case/{number + 1}/")
    expect(page.locator("#progress-text")).to_have_text(f"20 / {total} answered")
    expect(page.locator("#deadline")).to_contain_text(f"Open until {closes}")

    # The gallery opens beside the case, with the deadline.
    with page.context.expect_page() as opened:
        page.click("a.gallery-link")
    gallery = opened.value
    gallery.wait_for_load_state()
    expect(gallery.locator("table.gallery-classes")).to_contain_text(demo_class_descriptions()[0])
    expect(gallery.locator("#deadline")).to_contain_text(f"Open until {closes}")
    gallery.click("table.gallery-classes >> text=Actin filaments")
    expect(gallery.locator("h1")).to_contain_text("Actin filaments")
    images_loaded(gallery, ".panel img")
    step(gallery, "gallery")
    gallery.close()

    # Signing out and in again: back where they stopped.
    page.click("header >> text=Sign out")
    expect(page.locator("main")).to_contain_text("You are signed out")
    page.get_by_role("link", name="Sign in again").click()
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/s/paper/case/21/")
    expect(page.locator("#progress-text")).to_have_text(f"20 / {total} answered")
    step(page, "resumed")

    # Every other case, the repeated ones a second time, unmarked; then the submission.
    for number in range(21, total + 1):
        expect(page.locator(".case-number")).to_contain_text(f"Sample {number} of {total}")
        then = f"/s/paper/case/{number + 1}/" if number < total else "/s/paper/submit/"
        answer_with_key(page, str(1 + number % 3), then)
    expect(page.locator("main")).to_contain_text(f"You answered {total} of {total} samples.")
    step(page, "submit")
    page.click("button[data-waits-for-queue]")
    page.wait_for_url("**/s/paper/done/")
    expect(page.locator("#read-only")).to_contain_text("The study is now read-only for you")
    expect(page.locator("main")).to_contain_text(" UTC")
    step(page, "done")

    # Later the study closes: a case page says so and takes nothing.
    StudyConfig.objects.filter(study=reading.study).update(closes_at=timezone.now() - timedelta(minutes=1))
    page.goto(base + reverse("annotator:participant_case", args=["paper", 1]))
    expect(page.locator("#save-status")).to_contain_text("Submitted: your answers are read-only.")
    expect(page.locator("button.class-choice").first).to_be_disabled()

    scholar.refresh_from_db()
    assert scholar.is_submitted and scholar.training_finished_at is not None
    assert scholar.practice_answers.count() == PRACTICE
    assert scholar.background == {"years": 6, "field": "pathology"}
    assert reader_covariates(reading.study)[scholar.pseudonym]["field"] == "pathology"
    assert InstructionsSeen.objects.filter(participant=scholar).count() == 1
    readings = Answer.readings.filter(participant=scholar)
    assert readings.count() == total and readings.filter(repeat=1).count() == REPEATS
    assert len(repeat_readings(reading.study)[scholar.pseudonym]) == REPEATS
    assert Participant.objects.get(pk=scholar.pk).user.get_username() == username
