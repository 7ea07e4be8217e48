"""A study that closes while a participant reads, in headless Chromium: the answer is refused, kept in the
browser's queue and explained; once the coordinator extends the window it is sent."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from django.urls import reverse
from django.utils import timezone

from annotator.models import Answer, config_of
from tests.browser.test_labelling_in_the_browser import panels_shown, sign_in
from tests.factories import reading_study

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "key => JSON.parse(window.localStorage.getItem(key) || '[]')"


def close_at(study, moment):
    config = config_of(study)
    config.closes_at = moment
    config.save()


def test_an_answer_after_the_study_closed_is_refused_kept_queued_and_sent_once_the_window_is_extended(
    live_server, new_page, screenshots
):
    base = live_server.url
    reading = reading_study("closing", test_samples=3, train_samples=0)
    close_at(reading.study, timezone.now() + timedelta(days=1))
    page = new_page()
    sign_in(page, base, reading.participant.user)
    page.goto(base + reverse("annotator:participant_case", args=["closing", 1]))
    panels_shown(page)
    expect(page.locator("#deadline")).to_contain_text("Open until")
    queue_key = page.get_attribute("#labelling", "data-queue-key")

    # The coordinator closes the study while the page is open.
    closed = timezone.now() - timedelta(minutes=1)
    close_at(reading.study, closed)
    page.keyboard.press("4")
    status = page.locator("#save-status")
    expect(status).to_have_attribute("data-state", "closed")
    expect(status).to_contain_text(f"The study closed at {closed:%Y-%m-%d %H:%M} UTC")
    expect(status).to_contain_text("coordinator can extend the reading window")
    expect(status).to_contain_text("1 answer waiting in this browser")
    expect(page.locator("#deadline")).to_be_hidden()
    page.wait_for_timeout(2000)  # longer than the page waits before it moves on to the next case
    assert page.url.endswith("/s/closing/case/1/"), "the page stays with the unsaved answer"
    assert [entry["class_index"] for entry in page.evaluate(QUEUE, queue_key)] == [3]
    assert not Answer.readings.exists()
    page.screenshot(path=screenshots / "labelling-closed.png")

    # Coming back while it is closed: the page says so, and the answer is still kept.
    page.reload()
    expect(status).to_have_attribute("data-state", "closed")
    expect(status).to_contain_text(f"closed at {closed:%Y-%m-%d %H:%M} UTC")
    expect(page.locator("button.class-choice").first).to_be_disabled()
    assert len(page.evaluate(QUEUE, queue_key)) == 1

    # The coordinator extends the window: the kept answer goes through.
    close_at(reading.study, timezone.now() + timedelta(days=2))
    page.reload()
    expect(status).to_have_attribute("data-state", "saved")
    assert page.evaluate(QUEUE, queue_key) == []
    answer = Answer.objects.get()
    assert answer.item == reading.participant.order()[0] and answer.class_index == 3
