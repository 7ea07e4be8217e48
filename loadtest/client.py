"""A simulated participant: a thread that uses the site the way the labelling page does in a browser.

It signs in through the sign-in form, opens its study, reads the instructions, and for each case
loads the labelling page and its panel images (and the next case's, which the page asks the browser
to prefetch; a browser fetches each image URL once and keeps it), thinks, and chooses a class.

Answers follow ``annotator/static/annotator/labelling.js``: each goes into a queue that is sent in
order, with how long ago it was given; a connection error, a 5xx, a 429 or a 401 leaves it queued and tries again after 1 s, 2 s, 4 s, ...
up to 30 s, and every page load sends the queue at once; 400, 404, 409 and 413 drop it as refused.
The page moves on to the next case when the save has finished or a retry is scheduled (the queue
carries the answer over); the last case waits for its save. One thread does one thing at a time, so
a save that takes longer than the page's 1.5 s completes before the next page loads.

Pages, panels and the sign-in answered 429 (too many requests of the session or the address at
once) are asked for again after their Retry-After, as ``panels.js`` does and a person reloading would.

Now and then a participant changes their mind on the spot or clicks the same class twice, so that
changes and repeated saves happen under load too. Every 200 response to an answer is an
acknowledgement: the participant records its class and latency; ``verify`` checks them against the
database.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urljoin, urlsplit

from loadtest.server import WORKER_TIMEOUT_S

FIRST_RETRY_S = 1.0
SIGN_IN_ATTEMPTS = 3
LONGEST_RETRY_S = 30.0
REFUSED_STATUSES = (400, 404, 409, 413)
# Longer than gunicorn's worker timeout (see loadtest.server).
RESPONSE_TIMEOUT_S = WORKER_TIMEOUT_S + 30
CHANGE_OF_MIND = 0.03
DOUBLE_CLICK = 0.03


class ConnectionFailure(Exception):
    """No HTTP response came back; ``kind`` names what happened (e.g. ConnectionResetError)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class Stopped(Exception):
    """The run's time limit passed or the run was interrupted."""


class ParticipantFailed(Exception):
    """The site answered in a way no browser could go on from (e.g. sign-in refused)."""


class SignInInterrupted(ParticipantFailed):
    """A retried sign-in whose session the first try had replaced (400): signing in again works."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class ParticipantLog:
    """What one simulated participant sent and what the server acknowledged."""

    username: str
    sent: int = 0  # answer requests sent, retries included
    answers_given: int = 0  # answers chosen (queue entries)
    acknowledged: dict[int, list[int]] = field(default_factory=dict)  # case number -> acknowledged classes, in order
    refused: list[str] = field(default_factory=list)
    pending: int = 0  # answers still queued when the participant stopped
    save_latencies: list[float] = field(default_factory=list)  # seconds per acknowledged request
    page_latencies: list[float] = field(default_factory=list)  # seconds per page or image answered below 500
    panel_latencies: list[float] = field(default_factory=list)
    queued_to_acknowledged: list[float] = field(default_factory=list)  # seconds from choice to acknowledgement
    errors: Counter = field(default_factory=Counter)
    panels_fetched: int = 0
    cases_completed: int = 0
    submitted: bool = False
    failure: str = ""

    @property
    def acknowledgements(self) -> int:
        return sum(len(classes) for classes in self.acknowledged.values())


class Progress:
    """Acknowledged answers across all participants, for the fault schedule and the progress line."""

    def __init__(self):
        self._lock = threading.Lock()
        self.acknowledged = 0

    def add(self) -> None:
        with self._lock:
            self.acknowledged += 1


class PageParser(HTMLParser):
    """The parts of a page a browser (and the page's script) acts on."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.prefetch: list[str] = []
        self.labelling: dict[str, str] = {}
        self.form_token = ""
        self.links: dict[str, str] = {}
        self.class_indices: list[int] = []

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "img" and attributes.get("src"):
            self.images.append(attributes["src"])
        elif tag == "link" and attributes.get("rel") == "prefetch":
            self.prefetch.append(attributes["href"])
        elif tag == "input" and attributes.get("name") == "csrfmiddlewaretoken":
            self.form_token = attributes.get("value", "")
        elif tag == "a" and attributes.get("id"):
            self.links[attributes["id"]] = attributes.get("href", "")
        elif tag == "button" and "data-class-index" in attributes:
            self.class_indices.append(int(attributes["data-class-index"]))
        if attributes.get("id") == "labelling":
            self.labelling = {name[5:]: value for name, value in attributes.items() if name.startswith("data-")}


def retry_after(response: Response, otherwise: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", "")), LONGEST_RETRY_S)
    except ValueError:
        return otherwise


def parse(page: Response) -> PageParser:
    parser = PageParser()
    parser.feed(page.text())
    return parser


class Browser:
    """One keep-alive HTTP connection with a cookie jar and a cache of images already fetched; from
    the loopback address ``source`` when given (127.0.0.0/8 is all this machine's), so that the
    server's per-address limits see participants at different addresses."""

    def __init__(self, host: str, port: int, source: str | None = None, timeout: float = RESPONSE_TIMEOUT_S):
        self.host, self.port = host, port
        self.source = source
        self.timeout = timeout
        self.origin = f"http://{host}:{port}"
        self.cookies: dict[str, str] = {}
        self.image_cache: set[str] = set()
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
        all_headers = {"Accept": "*/*", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout, source_address=(self.source, 0) if self.source else None
            )
        try:
            self._connection.request(method, path, body=body, headers=all_headers)
            raw = self._connection.getresponse()
            payload = raw.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise ConnectionFailure(type(error).__name__) from None
        if raw.will_close:
            self.close()
        for header in raw.headers.get_all("Set-Cookie") or []:
            self._store_cookie(header)
        return Response(raw.status, {k.lower(): v for k, v in raw.headers.items()}, payload)

    def _store_cookie(self, header: str) -> None:
        for name, morsel in SimpleCookie(header).items():
            if morsel["max-age"] == "0" or not morsel.value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value

    def absolute_path(self, location: str, base: str) -> str:
        parts = urlsplit(urljoin(base, location))
        return parts.path + (f"?{parts.query}" if parts.query else "")


class SimulatedParticipant:
    def __init__(
        self, username: str, password: str, study: str, host: str, port: int, think_ms: tuple[int, int],
        seed: int, stop: threading.Event, progress: Progress, source: str | None = None,
    ):
        self.log = ParticipantLog(username)
        self.password = password
        self.study = study
        self.browser = Browser(host, port, source)
        self.think_s = (think_ms[0] / 1000, think_ms[1] / 1000)
        self.random = random.Random(seed)
        self.stop = stop
        self.progress = progress
        self.queue: list[dict] = []
        self.retry_delay = FIRST_RETRY_S
        self.retry_at: float | None = None

    # ------------------------------------------------------------------ the run
    def run(self) -> ParticipantLog:
        try:
            page = self.sign_in()
            page = self.follow_start(page)
            while True:
                page = self.label(page)
                if page is None:
                    break
        except Stopped:
            pass
        except ParticipantFailed as failure:
            self.log.failure = str(failure)
        finally:
            self.log.pending = len(self.queue)
            self.browser.close()
        return self.log

    def sign_in(self) -> Response:
        """Sign in as a person would: a sign-in whose first try the server began, then lost (a worker
        killed, the database cut), may be answered 400 when tried again (its session was replaced
        meanwhile: Django's SessionInterrupted); the person then opens the sign-in page and signs in
        again."""
        for _ in range(SIGN_IN_ATTEMPTS - 1):
            try:
                return self.sign_in_once()
            except SignInInterrupted:
                self.log.errors["sign-in: HTTP 400, signed in again"] += 1
        return self.sign_in_once()

    def sign_in_once(self) -> Response:
        login = self.get("/accounts/login/")
        token = parse(login).form_token
        if not token:
            raise ParticipantFailed("the sign-in page has no CSRF token")
        study_path = f"/s/{self.study}/"
        form = urlencode(
            {"csrfmiddlewaretoken": token, "username": self.log.username, "password": self.password, "next": study_path}
        ).encode()
        answer = self.with_retries(
            lambda: self.browser.request(
                "POST", "/accounts/login/", form,
                {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.browser.origin,
                 "Referer": self.browser.origin + "/accounts/login/"},
            ),
            "sign-in",
        )
        if answer.status == 400:
            raise SignInInterrupted("sign-in answered 400, not a redirect")
        if answer.status != 302:
            raise ParticipantFailed(f"sign-in answered {answer.status}, not a redirect")
        return self.get(self.browser.absolute_path(answer.headers["location"], "/accounts/login/"))

    def follow_start(self, page: Response) -> Response:
        """From the instructions (first visit) to the first case."""
        start = parse(page).links.get("start")
        if start:
            return self.get(start)
        return page

    def label(self, page: Response) -> Response | None:
        """Read the case on ``page``, answer it, and return the next page (None after the submission)."""
        view = parse(page)
        data = view.labelling
        if not data:
            return self.submit(page, view)
        self.page_loaded()
        for url in view.images + view.prefetch:
            self.fetch_image(url)
        think = self.random.uniform(*self.think_s)
        self.wait(think)
        number, total = int(data["number"]), int(data["total"])
        first = self.random.choice(view.class_indices)
        self.choose(data["answer-url"], number, first, think)
        roll = self.random.random()
        if roll < CHANGE_OF_MIND:
            self.choose(data["answer-url"], number, self.random.choice([c for c in view.class_indices if c != first]), 0.0)
        elif roll < CHANGE_OF_MIND + DOUBLE_CLICK:
            self.choose(data["answer-url"], number, first, 0.0)
        self.flush()
        if number == total:
            while self.queue:
                self.wait(max(0.0, (self.retry_at or time.monotonic()) - time.monotonic()))
        self.log.cases_completed += 1
        return self.get(data["after-url"])

    def submit(self, page: Response, view: PageParser) -> None:
        """The submission page: sent once the queue is empty (the page's button waits for it)."""
        self.page_loaded()
        while self.queue:
            self.wait(max(0.0, (self.retry_at or time.monotonic()) - time.monotonic()))
        if not view.form_token:
            raise ParticipantFailed(f"expected the submission page, got a page without a form ({page.status})")
        path = f"/s/{self.study}/submit/"
        answer = self.with_retries(
            lambda: self.browser.request(
                "POST", path, urlencode({"csrfmiddlewaretoken": view.form_token}).encode(),
                {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.browser.origin,
                 "Referer": self.browser.origin + path},
            ),
            "submission",
        )
        if answer.status != 302:
            raise ParticipantFailed(f"the final submission answered {answer.status}")
        self.get(self.browser.absolute_path(answer.headers["location"], path))
        self.log.submitted = True
        return None

    # ------------------------------------------------------------------ the answer queue (labelling.js)
    def page_loaded(self) -> None:
        self.retry_delay = FIRST_RETRY_S
        self.retry_at = None
        self.flush()

    def choose(self, url: str, number: int, class_index: int, active_seconds: float) -> None:
        self.queue.append(
            {"url": url, "number": number, "class_index": class_index, "active_seconds": round(active_seconds, 1),
             "queued_at": time.monotonic()}
        )
        self.log.answers_given += 1

    def flush(self) -> None:
        """Send the queue in order until it is empty or a send must be retried later."""
        while self.queue:
            entry = self.queue[0]
            outcome = self.send(entry)
            if outcome == "retry":
                self.retry_at = time.monotonic() + self.retry_delay
                self.retry_delay = min(self.retry_delay * 2, LONGEST_RETRY_S)
                return
            self.queue.pop(0)
        self.retry_delay = FIRST_RETRY_S
        self.retry_at = None

    def send(self, entry: dict) -> str:
        self.check_stop()
        body = json.dumps(
            {
                "class_index": entry["class_index"],
                "active_seconds": entry["active_seconds"],
                "answered_seconds_ago": round(time.monotonic() - entry["queued_at"], 3),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json", "Accept": "application/json", "Origin": self.browser.origin,
            "X-CSRFToken": self.browser.cookies.get("csrftoken", ""),
        }
        self.log.sent += 1
        started = time.monotonic()
        try:
            response = self.browser.request("POST", entry["url"], body, headers)
        except ConnectionFailure as failure:
            self.log.errors[f"answer: {failure.kind}"] += 1
            return "retry"
        if response.status == 200:
            acknowledged = json.loads(response.body)
            self.log.save_latencies.append(time.monotonic() - started)
            self.log.queued_to_acknowledged.append(time.monotonic() - entry["queued_at"])
            if acknowledged.get("class_index") != entry["class_index"] or acknowledged.get("number") != entry["number"]:
                self.log.errors["answer: acknowledgement names another class or case"] += 1
            self.log.acknowledged.setdefault(entry["number"], []).append(acknowledged["class_index"])
            self.progress.add()
            return "saved"
        self.log.errors[f"answer: HTTP {response.status}"] += 1
        if response.status in REFUSED_STATUSES:
            self.log.refused.append(f"case {entry['number']}: HTTP {response.status} {response.text()[:200]}")
            return "refused"
        return "retry"

    def wait(self, seconds: float) -> None:
        """Time passing on a page: the page's retry timer fires within it."""
        end = time.monotonic() + seconds
        while self.retry_at is not None and self.retry_at <= end:
            self.sleep(self.retry_at - time.monotonic())
            self.retry_at = None
            self.flush()
        self.sleep(end - time.monotonic())

    def sleep(self, seconds: float) -> None:
        if seconds > 0 and self.stop.wait(seconds):
            raise Stopped
        self.check_stop()

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

    # ------------------------------------------------------------------ pages and images
    def get(self, path: str) -> Response:
        """A page, following redirects; a failed load is reloaded after the same backoff as answers."""
        for _ in range(10):
            response = self.with_retries(
                lambda: self.browser.request("GET", path, headers={"Accept": "text/html"}), "page", self.log.page_latencies
            )
            if response.status in (301, 302, 303):
                path = self.browser.absolute_path(response.headers["location"], path)
                continue
            if response.status != 200:
                raise ParticipantFailed(f"GET {path} answered {response.status}")
            return response
        raise ParticipantFailed(f"GET {path}: too many redirects")

    def fetch_image(self, url: str) -> None:
        if url in self.browser.image_cache:
            return
        response = self.with_retries(
            lambda: self.browser.request("GET", url, headers={"Accept": "image/*"}), "panel", self.log.panel_latencies
        )
        if response.status != 200 or not response.headers.get("content-type", "").startswith("image/"):
            raise ParticipantFailed(f"panel {url} answered {response.status} {response.headers.get('content-type')}")
        self.browser.image_cache.add(url)
        self.log.panels_fetched += 1

    def with_retries(self, attempt, what: str, latencies: list[float] | None = None) -> Response:
        """Repeat a request after a connection error or a 5xx, with the page's backoff, and after a
        429 when its Retry-After says."""
        delay = FIRST_RETRY_S
        while True:
            self.check_stop()
            started = time.monotonic()
            wait = delay
            try:
                response = attempt()
            except ConnectionFailure as failure:
                self.log.errors[f"{what}: {failure.kind}"] += 1
            else:
                if response.status < 500 and response.status != 429:
                    if latencies is not None:
                        latencies.append(time.monotonic() - started)
                    return response
                self.log.errors[f"{what}: HTTP {response.status}"] += 1
                if response.status == 429:
                    wait = retry_after(response, delay)
            self.sleep(wait)
            delay = min(delay * 2, LONGEST_RETRY_S)
