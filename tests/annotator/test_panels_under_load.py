"""Panels under a burst of requests and on a full disk: each sample is rendered once, one person has
one render running at a time (a burst beyond their few waiting places gets 503 and Retry-After),
and a full disk gets a clear message and log line, leaves nothing half-written, and stops no answer.

Nothing here depends on how fast the machine is: renders are held until the requests they are to
overlap have arrived, not slowed down by a guess."""

import contextlib
import errno
import io
import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from PIL import Image

from annotator import panel_cache, panels
from annotator.panels import panel_urls
from tests.factories import reading_study

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reading():
    return reading_study("burst", test_samples=12, train_samples=0)


# Long enough for any request of a burst to get through a busy machine; the renders held below end well
# before it where the code does what it should.
PATIENCE_SECONDS = 120


class HeldRenders:
    """Renders that stay running until the test lets them finish, counted: how many, and the most at once.

    Holding them, rather than making them slow, puts every request of a burst in place while the first
    render runs however long the machine takes to deliver the requests. A render is held at most
    PATIENCE_SECONDS; one that was held that long says so in ``held_too_long``.
    """

    def __init__(self, render, holds):
        self.render = render
        self.holds = holds
        self.lock = threading.Lock()
        self.renders = self.running = self.most = 0
        self.started = threading.Event()
        self.released = threading.Event()
        self.held_too_long = False

    def __call__(self, sample, *args):
        with self.lock:
            self.renders += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if self.holds(sample):
                self.started.set()
                if not self.released.wait(PATIENCE_SECONDS):
                    self.held_too_long = True
            self.render(sample, *args)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def held_renders(monkeypatch):
    """Every render held until ``release()``; the requests that wait for their turn wait as long as needed."""
    monkeypatch.setattr(panel_cache, "TURN_WAIT_SECONDS", 2 * PATIENCE_SECONDS)

    def hold(holds=lambda sample: True) -> HeldRenders:
        held = HeldRenders(panels.render_to_cache, holds)
        monkeypatch.setattr(panels, "render_to_cache", held)
        return held

    return hold


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def fetch_at_once(client: Client, urls: list[str], answered=lambda response: None) -> list:
    """GET every URL in a thread of its own, all released together, with the client's session;
    ``answered`` is told of each response as it comes."""
    barrier = threading.Barrier(len(urls))
    responses = [None] * len(urls)

    def fetch(index, url):
        own = Client()
        own.cookies = client.cookies
        try:
            barrier.wait()
            responses[index] = own.get(url)
            if responses[index].status_code == 200:
                responses[index].image = Image.open(io.BytesIO(b"".join(responses[index].streaming_content)))
            answered(responses[index])
        finally:
            connection.close()

    threads = [threading.Thread(target=fetch, args=(index, url)) for index, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def asking_for_a_turn(monkeypatch, count: int, then) -> None:
    """Call ``then()`` once ``count`` requests have asked for their turn to render."""
    asked = []
    lock = threading.Lock()
    turn = panel_cache.renderer_turn

    def counted(renderer, deadline):
        with lock:
            asked.append(renderer)
            if len(asked) == count:
                then()
        return turn(renderer, deadline)

    monkeypatch.setattr(panel_cache, "renderer_turn", counted)


def test_a_samples_panels_asked_for_at_once_are_rendered_once(reading, held_renders, monkeypatch):
    sample = reading.participant.order()[0].sample
    urls = list(panel_urls(reading.study, sample).values()) * 2
    held = held_renders()
    asking_for_a_turn(monkeypatch, len(urls), then=held.released.set)
    responses = fetch_at_once(signed_in(reading.participant.user), urls)
    assert [response.status_code for response in responses] == [200] * len(urls)
    assert all(response.image.format == "WEBP" for response in responses)
    assert held.renders == 1 and not held.held_too_long


def test_one_person_has_one_render_at_a_time_and_a_burst_beyond_their_waiting_places_gets_503(reading, held_renders, settings):
    # The session's own limit on requests in flight (site_machinery.floods) would refuse the burst first.
    settings.SESSION_READS_IN_FLIGHT = 64
    urls = [panel_urls(reading.study, item.sample)["protein"] for item in reading.participant.order()]
    held = held_renders()
    beyond = len(urls) - panel_cache.WAITING_PER_RENDERER
    refused = []

    def count_refusals(response):
        # While the first render is held, the waiting places stay taken: every request beyond them is refused.
        if response.status_code == 503:
            refused.append(response)
            if len(refused) == beyond:
                held.released.set()

    responses = fetch_at_once(signed_in(reading.participant.user), urls, answered=count_refusals)
    assert held.most == 1 and not held.held_too_long
    busy = [response for response in responses if response.status_code == 503]
    assert len(busy) == beyond
    assert all(response["Retry-After"] == str(panel_cache.RETRY_AFTER_SECONDS) for response in busy)
    assert all("preparing images" in response.content.decode() for response in busy)
    assert held.renders == panel_cache.WAITING_PER_RENDERER


def test_another_readers_panel_does_not_wait_for_someone_elses_burst(reading, held_renders):
    bursting_samples = [item.sample for item in reading.participant.order()[:8]]
    other = reading.other_participant
    own_sample = next(item.sample for item in other.order() if item.sample not in bursting_samples)
    held = held_renders(holds=lambda sample: sample in bursting_samples)
    burst = [panel_urls(reading.study, sample)["er"] for sample in bursting_samples]
    bursting = threading.Thread(target=fetch_at_once, args=(signed_in(reading.participant.user), burst))
    bursting.start()
    assert held.started.wait(PATIENCE_SECONDS), "the burst's first render began"
    response = signed_in(other.user).get(panel_urls(reading.study, own_sample)["er"])
    held.released.set()
    bursting.join()
    assert response.status_code == 200
    assert not held.held_too_long, "the other reader waited for the burst's held render"


class FullDisk:
    """A file handle on a disk that fills up halfway through the first write."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_gets_a_clear_message_and_log_line_and_nothing_half_written_is_served_later(
    reading, monkeypatch, caplog, settings
):
    real_write = panel_cache.atomic_write

    @contextlib.contextmanager
    def write_on_full_disk(path):
        with real_write(path) as handle:
            yield FullDisk(handle)

    monkeypatch.setattr(panel_cache, "atomic_write", write_on_full_disk)
    participant = reading.participant
    client = signed_in(participant.user)
    url = panel_urls(reading.study, participant.order()[0].sample)["nucleus"]

    refused = client.get(url)
    assert refused.status_code == 503 and int(refused["Retry-After"]) > 0
    assert "no room to store them" in refused.content.decode()
    assert "answers are still being saved" in refused.content.decode()
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert errors and "No space left on device" in errors[0].getMessage()
    assert "cannot store rendered panels" in errors[0].getMessage()
    stored = [path for path in (settings.DATA_DIR / "panels").rglob("*") if path.is_file()]
    assert all(path.suffix == ".lock" for path in stored), stored

    answer = client.post(
        reverse("annotator:participant_answer", args=["burst", 1]), json.dumps({"class_index": 3}),
        content_type="application/json",
    )
    assert answer.status_code == 200 and participant.answers.get().class_index == 3

    monkeypatch.setattr(panel_cache, "atomic_write", real_write)
    served = client.get(url)
    assert served.status_code == 200
    image = Image.open(io.BytesIO(b"".join(served.streaming_content)))
    image.load()
    assert image.size == (participant.order()[0].sample.width, participant.order()[0].sample.height)
