"""A sequential assisted study in headless Chromium: answer alone with a key, the suggestion appears
with the answer alone locked, the final answer with a key, on to the next case."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from annotator.models import Answer, Arm
from tests.analysis.test_study_arrays import add_model
from tests.browser.conftest import paint_cells
from tests.browser.test_labelling_in_the_browser import panels_shown, sign_in
from tests.factories import reading_study

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reader_answers_alone_then_beside_the_suggestion(live_server, new_page, screenshots):
    base = live_server.url
    reading = reading_study("second-read", test_samples=4, train_samples=0)
    paint_cells(reading.study.dataset.samples.all())
    add_model(reading.study, "gapnet", [0, 1, 2, 0])
    call_command("set_assistance", "second-read", "sequential", "--suggestions", "gapnet", "--top-three")
    participant = reading.participant
    page = new_page()
    sign_in(page, base, participant.user)
    page.goto(base + reverse("annotator:participant_case", args=["second-read", 1]))
    panels_shown(page)
    expect(page.locator("#suggestion")).to_have_count(0)

    suggested = participant.case_at(1).item.suggestion
    name = reading.study.label_set.by_index(suggested.class_index).name
    page.keyboard.press("5")  # Golgi apparatus, alone
    expect(page.locator("#suggestion")).to_contain_text("Your answer alone: Golgi apparatus (locked)")
    expect(page.locator("#suggestion")).to_contain_text(f"The model suggests {name} (76%)")
    expect(page.locator("#labelling")).to_have_attribute("data-arm", "aided")
    expect(page.locator("#progress-text")).to_have_text("0 / 4 answered")
    panels_shown(page)
    page.screenshot(path=screenshots / "labelling-with-suggestion.png")

    key = page.locator("button.class-choice", has_text=name).locator("kbd").inner_text()
    page.keyboard.press(key)
    page.wait_for_url("**/s/second-read/case/2/")
    expect(page.locator("#progress-text")).to_have_text("1 / 4 answered")
    readings = {a.arm: a.class_index for a in Answer.readings.filter(participant=participant)}
    assert readings == {Arm.UNAIDED: 4, Arm.AIDED: suggested.class_index}
