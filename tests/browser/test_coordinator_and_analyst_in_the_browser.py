"""The coordinator's and the training gallery's pages in headless Chromium (the analyst's: test_analyst_in_the_browser)."""

import pytest
from playwright.sync_api import expect

from django.urls import reverse

from annotator.models import PanelToken, config_of
from study.models import Sample
from tests.browser.conftest import paint_cells
from tests.browser.test_labelling_in_the_browser import answer_with_key, panels_shown
from tests.factories import TEST_PASSWORD, reading_study
from tests.fixture_files import demo_class_descriptions

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "amber-nucleolus-2291"


def sign_in_on_the_form(page, base_url, user, path):
    """Open ``path`` signed out, which leads to the sign-in form, sign in there and arrive at ``path``."""
    page.goto(base_url + path)
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**{path}")


def images_loaded(page, selector):
    page.wait_for_function(
        "selector => Array.from(document.querySelectorAll(selector)).every(i => i.complete && i.naturalWidth > 0)",
        arg=selector,
    )


def test_a_coordinator_invites_a_participant_and_follows_their_progress(live_server, new_page, screenshots):
    base = live_server.url
    reading = reading_study("invited", test_samples=4, train_samples=0)

    coordinator = new_page()
    sign_in_on_the_form(coordinator, base, reading.coordinator, reverse("annotator:coordinator_study", args=["invited"]))
    coordinator.click("nav.study-nav >> text=Invitations")
    coordinator.select_option("#id_cohort", "scholar")
    coordinator.fill("#id_count", "1")
    coordinator.click("text=Create the links")
    issued = coordinator.locator("#new-links tbody tr")
    expect(issued).to_have_count(1)
    pseudonym = issued.locator("td").first.inner_text()
    link = issued.locator(".invitation-link").inner_text()

    participant = new_page()
    participant.goto(link)
    participant.fill("#id_new_password1", PASSWORD)
    participant.fill("#id_new_password2", PASSWORD)
    participant.keyboard.press("Enter")
    participant.wait_for_url("**/s/invited/instructions/")
    participant.focus("#start")
    answer_with_key(participant, "Enter", "/s/invited/case/1/")
    panels_shown(participant)
    # The keys are the ones the buttons show.
    for number, class_name in ((1, "Centrosome"), (2, "Golgi apparatus")):
        key = participant.locator("button.class-choice", has_text=class_name).locator("kbd").inner_text()
        answer_with_key(participant, key, f"/s/invited/case/{number + 1}/")
    expect(participant.locator("#save-status")).to_have_attribute("data-state", "saved")

    coordinator.click("nav.study-nav >> text=Progress")
    row = coordinator.locator("table.participants tr", has_text=pseudonym)
    expect(row).to_contain_text("scholar")
    expect(row).to_contain_text("2 / 4")
    coordinator.screenshot(path=screenshots / "progress.png")


def test_a_participant_browses_the_training_gallery_which_shows_training_samples_only(live_server, new_page, screenshots):
    base = live_server.url
    # Classes 0-3 each have one test sample in the study set and one training sample.
    reading = reading_study("gallery", test_samples=4, train_samples=4)
    config = config_of(reading.study)
    config.gallery_open = True
    config.class_descriptions = {str(index): text for index, text in demo_class_descriptions().items()}
    config.save()
    example = Sample.objects.get(dataset=reading.study.dataset, split="train", reference_labels__class_index=0)
    paint_cells([example])

    page = new_page()
    sign_in_on_the_form(page, base, reading.participant.user, reverse("annotator:gallery", args=["gallery"]))
    expect(page.locator("table.gallery-classes")).to_contain_text(demo_class_descriptions()[0])
    page.click("table.gallery-classes >> text=Actin filaments")
    page.wait_for_url("**/s/gallery/gallery/0/1/")

    expect(page.locator("h1")).to_contain_text("Actin filaments")
    expect(page.locator(".description")).to_have_text(demo_class_descriptions()[0])
    expect(page.locator(".panel figcaption")).to_have_text(
        ["Protein", "Nucleus + protein", "Microtubules + protein", "Endoplasmic reticulum + protein"]
    )
    images_loaded(page, ".panel img")
    # Panel URLs are opaque tokens; the token table says which sample each one shows.
    shown = page.eval_on_selector_all(".panel img", "images => images.map(i => i.src)")
    shown += page.eval_on_selector_all(".panel a", "links => links.map(a => a.href)")
    tokens = {url.rstrip("/").rsplit("/", 1)[1] for url in shown}
    shown_samples = set(PanelToken.objects.filter(token__in=tokens).values_list("sample_id", flat=True))
    assert len(tokens) == 8 and shown_samples == {example.pk}, "the training example, not the class's test sample"
    page.screenshot(path=screenshots / "gallery.png")
