"""Panels under a burst of requests and on a full disk: each sample is rendered once, one person has
one render running at a time (a burst beyond their few waiting places gets 503 and Retry-After),
and a full disk gets a clear message and log line, leaves nothing half-written, and stops no answer."""

import contextlib
import errno
import io
import json
import threading
import time

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


@pytest.fixture
def slow_renders(monkeypatch):
    """Counts renders and the most that ran at once; each takes at least half a second, so that
    every request of a burst arrives while the first render is running."""
    stats = {"renders": 0, "running": 0, "most": 0}
    lock = threading.Lock()
    render = panels.render_to_cache

    def counted(*args):
        with lock:
            stats["renders"] += 1
            stats["running"] += 1
            stats["most"] = max(stats["most"], stats["running"])
        try:
            time.sleep(0.5)
            render(*args)
        finally:
            with lock:
                stats["running"] -= 1

    monkeypatch.setattr(panels, "render_to_cache", counted)
    return stats


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def fetch_at_once(client: Client, urls: list[str]) -> list:
    """GET every URL in a thread of its own, all released together, with the client's session."""
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
        finally:
            connection.close()

    threads = [threading.Thread(target=fetch, args=(index, url)) for index, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_a_samples_panels_asked_for_at_once_are_rendered_once(reading, slow_renders):
    sample = reading.participant.order()[0].sample
    urls = list(panel_urls(reading.study, sample).values()) * 2
    responses = fetch_at_once(signed_in(reading.participant.user), urls)
    assert [response.status_code for response in responses] == [200] * len(urls)
    assert all(response.image.format == "WEBP" for response in responses)
    assert slow_renders["renders"] == 1


def test_one_person_has_one_render_at_a_time_and_a_burst_beyond_their_waiting_places_gets_503(reading, slow_renders, settings):
    # The session's own limit on requests in flight (study.floods) would refuse the burst first.
    settings.SESSION_READS_IN_FLIGHT = 64
    urls = [panel_urls(reading.study, item.sample)["protein"] for item in reading.participant.order()]
    responses = fetch_at_once(signed_in(reading.participant.user), urls)
    assert slow_renders["most"] == 1
    busy = [response for response in responses if response.status_code == 503]
    assert len(busy) == len(urls) - panel_cache.WAITING_PER_RENDERER
    assert all(response["Retry-After"] == str(panel_cache.RETRY_AFTER_SECONDS) for response in busy)
    assert all("preparing images" in response.content.decode() for response in busy)
    assert slow_renders["renders"] == panel_cache.WAITING_PER_RENDERER


def test_another_readers_panel_does_not_wait_for_someone_elses_burst(reading, slow_renders):
    burst = [panel_urls(reading.study, item.sample)["er"] for item in reading.participant.order()[:8]]
    bursting = threading.Thread(target=fetch_at_once, args=(signed_in(reading.participant.user), burst))
    bursting.start()
    time.sleep(0.2)
    other = reading.other_participant
    started = time.monotonic()
    response = signed_in(other.user).get(panel_urls(reading.study, other.order()[-1].sample)["er"])
    waited = time.monotonic() - started
    bursting.join()
    assert response.status_code == 200
    assert waited < 2, "the other reader waited for the burst's renders"


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
