"""A panel answered 429 (too many requests of this session or address at once) is asked for again
after its Retry-After, without a message for the reader, and shows."""

import pytest
from playwright.sync_api import expect

from django.urls import reverse

from tests.browser.test_labelling_in_the_browser import panels_shown, sign_in
from tests.factories import reading_study

pytestmark = pytest.mark.django_db(transaction=True)

REFUSAL = "Too many requests at once from this session; this one was not served. Ask again in a second."


def test_panels_refused_429_come_after_retry_after_without_a_message(live_server, new_page):
    base = live_server.url
    reading = reading_study("limited", test_samples=2, train_samples=0)
    page = new_page()
    refused = []

    def refuse_each_panel_twice(route):
        # The image's own load and the script's first request again are refused.
        if refused.count(route.request.url) == 2:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="text/plain", body=REFUSAL)

    page.route("**/panels/**", refuse_each_panel_twice)
    sign_in(page, base, reading.participant.user)
    page.goto(base + reverse("annotator:participant_case", args=["limited", 1]))

    assert len(panels_shown(page)) == 4
    assert len(set(refused)) >= 4
    expect(page.locator("#panel-status")).to_be_hidden()
