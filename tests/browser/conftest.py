"""A real headless Chromium (Playwright's sync API) against the live test server."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from synthetic.render import render_sample  # noqa: E402
from study.models import Sample  # noqa: E402
from study.store import sample_store  # noqa: E402



# How long a page's action or expectation may take before it counts as failed: patient, since other work
# may share the machine (a page that works answers well within it).
PATIENCE_MS = 30_000
expect.set_options(timeout=PATIENCE_MS)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SMALL_SCREEN = {"width": 1366, "height": 768}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """Pages in fresh browser contexts (one per person), 1366x768, closed after the test."""
    contexts = []

    def open_page(viewport=SMALL_SCREEN):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(PATIENCE_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def paint_cells(samples, size: int = 256) -> None:
    """Fields of cells showing each sample's own classes in place of the factories' noise, so that
    the screenshots show what a participant sees."""
    store = sample_store()
    for seed, sample in enumerate(samples):
        store.write(sample.store_key, render_sample(seed=seed, size=size, locations=sample.class_indices, label_set=sample.dataset.label_set))
        Sample.objects.filter(pk=sample.pk).update(height=size, width=size)
