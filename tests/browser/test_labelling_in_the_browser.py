"""The participant's whole way through a study in headless Chromium, with the keyboard alone."""

import contextlib
import errno
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotator import panel_cache
from annotator.models import Cohort, Participant
from annotator.operations import invite
from tests.browser.conftest import PATIENCE_MS, SMALL_SCREEN
from study.models import Study, StudySample
from tests.browser.conftest import paint_cells
from tests.factories import make_user, pixel_dataset, reading_study

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "violet-microscope-4417"
LARGE_SCREEN = {"width": 2560, "height": 1440}


def sign_in(page, base_url, user):
    """Sign ``user`` in by handing the browser a session cookie (signing in is not what is tested)."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}])


def invitation_link(base_url, study, cohort):
    """A new participant's link, made as the coordinator's invitation page makes it."""
    (issued,) = invite(study, cohort, 1)
    return base_url + issued.path


def panels_shown(page):
    """Wait until all four panels have loaded; returns their boxes on the screen."""
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.viewport img')).every(i => i.complete && i.naturalWidth > 0)"
    )
    return page.eval_on_selector_all(".viewport", "vs => vs.map(v => v.getBoundingClientRect().toJSON())")


def answer_with_key(page, key, then):
    page.keyboard.press(key)
    page.wait_for_url(f"**{then}")


def assert_fits_the_window(page, size):
    boxes = panels_shown(page)
    assert len(boxes) == 4
    assert len({round(b["top"]) for b in boxes}) == 1, "the four panels stand side by side"
    assert all(b["bottom"] <= size["height"] and b["right"] <= size["width"] for b in boxes)
    assert all(b["width"] >= size["width"] / 6 for b in boxes), "the panels use the width they have"
    last_button = page.eval_on_selector(".class-choices", "e => e.getBoundingClientRect().bottom")
    assert last_button <= size["height"], "the class buttons are in view without scrolling"


def test_a_participant_is_invited_labels_resumes_changes_and_submits(live_server, new_page, screenshots):
    base = live_server.url
    reading = reading_study("browser", test_samples=4, train_samples=2)
    paint_cells(reading.study.dataset.samples.all())
    link = invitation_link(base, reading.study, "expert")

    page = new_page()
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto(link)
    username = page.inner_text(".username")
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/s/browser/instructions/")
    page.screenshot(path=screenshots / "instructions.png")
    page.focus("#start")
    answer_with_key(page, "Enter", "/s/browser/case/1/")

    assert_fits_the_window(page, SMALL_SCREEN)
    page.screenshot(path=screenshots / "labelling.png")

    # Zoom and pan with the keys: every panel follows.
    for key in ("+", "+", "ArrowRight", "ArrowDown"):
        page.keyboard.press(key)
    transforms = page.eval_on_selector_all(".viewport img", "images => images.map(i => i.style.transform)")
    assert len(set(transforms)) == 1 and "scale(1.5625)" in transforms[0]
    page.keyboard.press("Escape")
    viewport = page.locator(".viewport").nth(2).bounding_box()
    page.mouse.move(viewport["x"] + viewport["width"] / 3, viewport["y"] + viewport["height"] / 3)
    page.mouse.wheel(0, -300)
    transforms = page.eval_on_selector_all(".viewport img", "images => images.map(i => i.style.transform)")
    assert len(set(transforms)) == 1 and "scale(1)" not in transforms[0]
    page.keyboard.press("Escape")

    # The full resolution, and back.
    page.keyboard.press("f")
    sources = page.eval_on_selector_all(".viewport img", "images => images.map(i => [i.src, i.dataset.fullSrc])")
    assert all(src.endswith(full) for src, full in sources)
    panels_shown(page)
    page.keyboard.press("f")

    answer_with_key(page, "2", "/s/browser/case/2/")
    answer_with_key(page, "3", "/s/browser/case/3/")
    expect(page.locator("#save-status")).to_have_attribute("data-state", "saved")
    expect(page.locator("#progress-text")).to_have_text("2 / 4 answered")

    # Coming back resumes at the first unanswered sample.
    page.reload()
    panels_shown(page)
    page.goto(base + reverse("annotator:participant_study", args=["browser"]))
    page.wait_for_url("**/s/browser/case/3/")

    # Back to sample 2, whose answer is shown, and change it.
    answer_with_key(page, "[", "/s/browser/case/2/")
    expect(page.locator(".class-choice.current")).to_have_attribute("data-class-index", "2")
    answer_with_key(page, "5", "/s/browser/case/3/")
    answer_with_key(page, "4", "/s/browser/case/4/")

    page.set_viewport_size(LARGE_SCREEN)
    assert_fits_the_window(page, LARGE_SCREEN)
    page.screenshot(path=screenshots / "labelling-large.png")
    page.set_viewport_size(SMALL_SCREEN)

    answer_with_key(page, "1", "/s/browser/submit/")
    expect(page.locator("main")).to_contain_text("You answered 4 of 4 samples.")
    page.screenshot(path=screenshots / "submit.png")
    page.focus("button[data-waits-for-queue]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/s/browser/done/")

    assert blocked == [], "the pages keep to the Content-Security-Policy"

    participant = Participant.objects.get(user__username=username)
    order = participant.order()
    answers = {a.item_id: a for a in participant.answers.all()}
    assert {item_id: a.class_index for item_id, a in answers.items()} == {
        order[0].pk: 1, order[1].pk: 4, order[2].pk: 3, order[3].pk: 0,
    }
    assert answers[order[0].pk].active_seconds > 0, "the time spent zooming on the first sample counts"
    changed = answers[order[1].pk]
    assert changed.changes == 1
    assert list(changed.history.values_list("class_index", flat=True)) == [2, 4]
    assert participant.is_submitted

    coordinator = new_page()
    sign_in(coordinator, base, reading.coordinator)
    coordinator.goto(base + reverse("annotator:coordinator_progress", args=["browser"]))
    row = coordinator.locator("table.participants tr", has_text=participant.pseudonym)
    expect(row).to_contain_text("4 / 4")
    expect(row).to_contain_text("yes")


def test_an_answer_that_cannot_be_sent_is_kept_and_sent_later(live_server, new_page):
    base = live_server.url
    reading = reading_study("offline", test_samples=3, train_samples=0)
    page = new_page()
    sign_in(page, base, reading.participant.user)
    page.goto(base + reverse("annotator:participant_case", args=["offline", 1]))
    panels_shown(page)

    page.route("**/answer/", lambda route: route.abort())
    page.keyboard.press("7")
    expect(page.locator("#save-status")).to_contain_text("Not saved yet — retrying")
    page.wait_for_url("**/s/offline/case/2/")
    expect(page.locator("#progress-text")).to_have_text("0 / 3 answered (1 more waiting to be saved)")
    assert not reading.participant.answers.exists()

    page.unroute("**/answer/")
    page.reload()
    expect(page.locator("#save-status")).to_have_attribute("data-state", "saved")
    answer = reading.participant.answers.get()
    assert answer.item == reading.participant.order()[0] and answer.class_index == 6


def test_answers_given_during_an_hour_offline_arrive_once_in_order_with_the_times_they_were_given(
    live_server, new_page, monkeypatch
):
    base = live_server.url
    reading = reading_study("away", test_samples=3, train_samples=0)
    page = new_page()
    page.clock.install()
    sign_in(page, base, reading.participant.user)
    page.goto(base + reverse("annotator:participant_case", args=["away", 1]))
    panels_shown(page)

    page.context.set_offline(True)
    chosen = timezone.now()
    page.keyboard.press("3")
    expect(page.locator("#save-status")).to_contain_text("You are offline")
    page.keyboard.press("5")  # a change of mind, still offline
    expect(page.locator("#progress-text")).to_have_text("0 / 3 answered (1 more waiting to be saved)")

    # An hour passes, for the browser and the server alike, with the answers queued.
    an_hour_later = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: an_hour_later() + timedelta(hours=1))
    page.clock.fast_forward("01:00:00")
    assert not reading.participant.answers.exists()
    assert page.url.endswith("/s/away/case/1/"), "the page stays while offline"

    page.context.set_offline(False)
    expect(page.locator("#save-status")).to_have_attribute("data-state", "saved")
    answer = reading.participant.answers.get()
    history = list(answer.history.all())
    assert [row.class_index for row in history] == [2, 4] and answer.changes == 1
    assert all(abs(row.answered_at - chosen) < timedelta(seconds=30) for row in history), [
        row.answered_at - chosen for row in history
    ]


class FullDisk:
    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_explained_on_the_page_and_the_panels_come_once_there_is_room(live_server, new_page, monkeypatch):
    base = live_server.url
    reading = reading_study("full", test_samples=2, train_samples=0)
    write = panel_cache.atomic_write

    @contextlib.contextmanager
    def full_disk(path):
        with write(path):
            yield FullDisk()

    monkeypatch.setattr(panel_cache, "atomic_write", full_disk)
    page = new_page()
    page.clock.install()
    sign_in(page, base, reading.participant.user)
    page.goto(base + reverse("annotator:participant_case", args=["full", 1]))
    expect(page.locator("#panel-status")).to_contain_text("no room to store them")
    expect(page.locator("#panel-status")).to_contain_text("Your answers are still being saved")

    page.keyboard.press("2")
    page.wait_for_url("**/s/full/case/2/")
    assert reading.participant.answers.get().class_index == 1

    monkeypatch.setattr(panel_cache, "atomic_write", write)
    # Each panel asks again when its Retry-After has passed; the note goes once all four have loaded. The
    # browser's clock moves on until then, however long the server takes to answer each time.
    patience = time.monotonic() + PATIENCE_MS / 1000
    while page.locator("#panel-status").is_visible() and time.monotonic() < patience:
        page.clock.fast_forward(31_000)
        page.wait_for_timeout(500)
    expect(page.locator("#panel-status")).to_be_hidden()
    loaded = page.eval_on_selector_all(".viewport img", "images => images.map(i => i.complete && i.naturalWidth > 0)")
    assert loaded == [True] * 4


def test_28_classes_fit_a_small_screen_with_the_panels(live_server, new_page, screenshots):
    base = live_server.url
    dataset = pixel_dataset("wide", [[i] for i in range(3)], ["test"] * 3, label_set_key="hpa28")
    paint_cells(dataset.samples.all())
    study = Study.objects.create(name="wide", dataset=dataset, seed=0)
    StudySample.objects.bulk_create(StudySample(study=study, sample=s, position=i) for i, s in enumerate(dataset.samples.all()))
    user = make_user("wide-reader")
    Participant.objects.create(
        study=study, cohort=Cohort.objects.create(study=study, name="expert"), user=user, pseudonym="e1", order_seed=5
    )
    page = new_page()
    sign_in(page, base, user)
    page.goto(base + reverse("annotator:participant_case", args=["wide", 1]))
    assert_fits_the_window(page, SMALL_SCREEN)
    assert page.locator("button.class-choice").count() == 28
    page.screenshot(path=screenshots / "labelling-28-classes.png")
