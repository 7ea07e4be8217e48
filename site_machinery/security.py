"""Security headers on every response, sign-in throttling, and the development key kept on loopback.

The Content-Security-Policy allows only this site's own scripts and style sheets: templates use no
inline ``<script>``/``<style>`` blocks, no ``style=""`` attributes and no ``on...=`` handlers.

Sign-in throttling (OWASP, "Blocking Brute Force Attacks"). Failed sign-ins are counted per pair of
user name and client address, and per client address (as ``site_machinery.addresses`` reads it:
from trusted proxies only, an IPv6 client by its /64):

- a pair gets ``LOGIN_FAILURE_LIMIT`` failures (5) within ``LOGIN_FAILURE_WINDOW_MINUTES`` (15);
- an address gets ``LOGIN_ADDRESS_FAILURE_LIMIT`` failures (20) within the same window, whatever
  user names it tries;
- the next attempt beyond a limit locks the pair or the address out, right password or not, until
  the oldest of those failures leaves the window; each further lock-out within a day lasts twice as
  long as the one before (back-off), at most a day. Refused attempts neither count nor extend it.

User names are guessable, so no count is kept per user name alone: a stranger guessing from their
own address locks out only themselves, never a participant signing in from elsewhere in the middle
of a study. A successful sign-in clears its pair's failures. The price: someone guessing from many
addresses is slowed per address only, so passwords must resist guessing (Django's validators, which
the invitation page applies). A lab whose readers share one address (NAT) may raise the address limit.

Each attempt reserves its place in both counts before the password is checked, atomically (under a
short per-address lock in the cache), so that parallel requests cannot all read "no failures yet":
at most ``limit`` passwords are checked for a pair before it is locked out, however many requests
arrive at once. While the checks already under way could still reach a limit, further attempts wait
for one of them to end (``BUSY_WAIT_SECONDS``, so that thirty readers of a class behind one address
all get in at the first try), and only then are answered "busy, try again in a moment" (503). The
counts live in Django's cache, which must be shared by all server processes (the database cache in
production) for the limits to hold across them; each write is read back, because the database cache
drops a write it cannot make without a word (``LoginThrottle._store``).

The development key (``config.settings`` falls back to a public ``SECRET_KEY`` with DEBUG on)
lets anyone who reads this repository forge sessions and turn panel URLs back into samples, so a
site running with it answers loopback clients only (``LoopbackOnlyMiddleware``).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseForbidden
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.debug import sensitive_variables

from site_machinery.addresses import client_bucket

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

# A password check that has not reported back within this time counts as a failure.
PENDING_SECONDS = 60
# Lock-outs are remembered this long for the back-off, which never locks out for longer.
BACKOFF_MEMORY_SECONDS = 24 * 3600
# The per-address lock is held for a few cache reads and writes; a request that cannot get it
# within LOCK_WAIT_SECONDS is answered "busy". LOCK_SECONDS frees it if its holder died.
LOCK_SECONDS = 10
LOCK_WAIT_SECONDS = 5
# Where the sign-in view finds why the authentication backend refused an attempt.
REFUSAL_ATTRIBUTE = "login_refusal"
# A sign-in that finds its address's checks all taken waits this long for one to come free (a class
# signing in together from behind one address) before it is answered "busy".
BUSY_WAIT_SECONDS = 30
BUSY_POLL_SECONDS = (0.02, 0.5)
# Writes of the counts that are read back and found missing are made again this many times in all.
STORE_ATTEMPTS = 3


class CountsNotStored(Exception):
    """The cache did not keep a write of the throttle's counts."""


class SecurityHeadersMiddleware:
    """Adds the headers Django's own ``SecurityMiddleware`` does not set (Django 5.2 has no CSP)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").strip("[]")).is_loopback
    except ValueError:
        return False


class LoopbackOnlyMiddleware:
    """Installed by the settings only while the public development key is in use: every request
    from another machine is refused, whatever address the server was started on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_loopback(request.META.get("REMOTE_ADDR")):
            return HttpResponseForbidden(
                "This site runs with the public development SECRET_KEY and answers this machine only. "
                "Set SECRET_KEY (and DEBUG=0) to serve it to others.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


class SensitiveDataFilter(SafeExceptionReporterFilter):
    """Hides what ``sensitive_post_parameters`` and ``sensitive_variables`` mark on the DEBUG error
    page too, not only in production's error reports: the demo runs with DEBUG on, and a password
    chosen there is no less someone's password."""

    def is_active(self, request):
        return True


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is refused, and for how long: locked out (429), or busy (503) while the checks
    under way could still reach a limit."""

    retry_after_seconds: int
    busy: bool = False

    @property
    def status(self) -> int:
        return 503 if self.busy else 429

    @property
    def message(self) -> str:
        if self.busy:
            return "Too many sign-ins at once from this address. Try again in a moment."
        minutes = max(1, -(-self.retry_after_seconds // 60))
        return f"Too many failed sign-ins from this address. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


@dataclass(frozen=True)
class Reservation:
    """An attempt's place in the counts of its pair and its address, held while its password is checked."""

    keys: tuple[str, ...]
    lock_key: str
    token: str
    pair_key: str


class LoginThrottle:
    """Failed and pending sign-ins per (user name, address) and per address, in the cache.

    Each count is one cache entry: ``{"attempts": {token: [time, pending]}, "until": time,
    "lockouts": [time, ...]}``, read and written only under the address's lock.
    """

    def __init__(
        self, limit: int, address_limit: int, window_seconds: int, clock: Callable[[], float] = time.time
    ):
        self.limit = limit
        self.address_limit = address_limit
        self.window_seconds = window_seconds
        self.clock = clock

    @classmethod
    def from_settings(cls) -> "LoginThrottle":
        return cls(
            settings.LOGIN_FAILURE_LIMIT,
            settings.LOGIN_ADDRESS_FAILURE_LIMIT,
            settings.LOGIN_FAILURE_WINDOW_MINUTES * 60,
            clock=login_clock,
        )

    def reserve(self, username: str | None, address: str | None) -> Reservation | Refusal:
        """Count an attempt as under way in its pair and address, or say why it is refused."""
        limits = self._limits(username, address)
        lock_key = "login-lock:" + next(iter(limits))
        token = secrets.token_hex(8)
        with self._lock(lock_key) as held:
            if not held:
                return Refusal(1, busy=True)
            now = self.clock()
            states = {key: self._state(key, now) for key in limits}
            refusals = [self._refusal(states[key], limit, now) for key, limit in limits.items()]
            refusals = [refusal for refusal in refusals if refusal is not None]
            if refusals:
                # A lock-out that is not stored is refused now and computed again next time.
                with contextlib.suppress(CountsNotStored):
                    self._store(states)
                locked = [refusal for refusal in refusals if not refusal.busy]
                return max(locked or refusals, key=lambda refusal: refusal.retry_after_seconds)
            for state in states.values():
                state["attempts"][token] = [now, True]
            try:
                self._store(states)
            except CountsNotStored:
                # Unrecorded, the check would not count against the limit: none is made.
                return Refusal(1, busy=True)
        return Reservation(tuple(limits), lock_key, token, pair_key=next(reversed(limits)))

    def reserve_waiting(self, username: str | None, address: str | None) -> Reservation | Refusal:
        """``reserve``, waiting while the address's checks are all under way: each check that ends
        frees a place, so a crowd behind one address (a classroom, a lab's NAT) gets in one after
        the other at the first try, while a guesser's attempts still get no more checks than the
        limits, and find themselves locked out once those fail."""
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        pause = BUSY_POLL_SECONDS[0]
        while True:
            reserved = self.reserve(username, address)
            if not (isinstance(reserved, Refusal) and reserved.busy) or time.monotonic() + pause > deadline:
                return reserved
            time.sleep(pause * (0.5 + secrets.randbelow(1000) / 1000))
            pause = min(pause * 2, BUSY_POLL_SECONDS[1])

    def settle(self, reservation: Reservation, verdict: str) -> None:
        """``"failed"`` keeps the attempt's place in the counts; ``"succeeded"`` gives it back and
        clears its pair; ``"withdrawn"`` (the check itself broke, e.g. the database was away) gives
        it back: that was no guess."""
        with self._lock(reservation.lock_key) as held:
            if not held:
                # The reservation stays pending and counts as a failure after PENDING_SECONDS.
                return
            now = self.clock()
            states = {key: self._state(key, now) for key in reservation.keys}
            for key, state in states.items():
                if verdict == "failed":
                    state["attempts"][reservation.token] = [now, False]
                elif verdict == "succeeded" and key == reservation.pair_key:
                    state["attempts"].clear()
                    state["lockouts"].clear()
                else:
                    state["attempts"].pop(reservation.token, None)
            # Unsettled, the reservation stays pending and counts as a failure after PENDING_SECONDS.
            with contextlib.suppress(CountsNotStored):
                self._store(states)

    def _limits(self, username: str | None, address: str | None) -> dict[str, int]:
        """Cache key -> limit: the address's count (when there is an address) first, the pair's last."""
        name = username.casefold() if username else ""
        limits = {}
        if address:
            limits[_key("address", address)] = self.address_limit
        limits[_key("pair", f"{name}\0{address or ''}")] = self.limit
        return limits

    def _state(self, key: str, now: float) -> dict:
        state = cache.get(key) or {"attempts": {}, "until": 0.0, "lockouts": []}
        state["attempts"] = {
            # A check that never reported back (its process died, or it could not get the lock
            # to settle) counts as a guess.
            token: [stamp, pending and stamp > now - PENDING_SECONDS]
            for token, (stamp, pending) in state["attempts"].items()
            if stamp > now - self.window_seconds
        }
        state["lockouts"] = [stamp for stamp in state["lockouts"] if stamp > now - BACKOFF_MEMORY_SECONDS]
        return state

    def _refusal(self, state: dict, limit: int, now: float) -> Refusal | None:
        if now < state["until"]:
            return Refusal(int(state["until"] - now) + 1)
        failures = sorted(stamp for stamp, pending in state["attempts"].values() if not pending)
        if len(failures) >= limit:
            # The first attempt beyond the limit locks out: until the oldest failure leaves the
            # window, twice as long for each lock-out remembered.
            backoff = 2 ** len(state["lockouts"])
            state["until"] = min(failures[0] + self.window_seconds * backoff, now + BACKOFF_MEMORY_SECONDS)
            state["lockouts"].append(now)
            state["attempts"] = {t: a for t, a in state["attempts"].items() if a[1]}
            return Refusal(int(state["until"] - now) + 1)
        if len(state["attempts"]) >= limit:
            return Refusal(1, busy=True)
        return None

    def _store(self, states: dict[str, dict]) -> None:
        """Write the counts and read them back. Django's database cache drops a write it could not
        make (a busy SQLite file, a conflicting insert) without a word, and each lost count would
        let one more password be checked than the limit: a missing write is made again, and after
        STORE_ATTEMPTS logged and raised as ``CountsNotStored``."""
        # Kept as long as a lock-out can be remembered; an entry with nothing in it is dropped.
        wanted = {
            key: state if state["attempts"] or state["lockouts"] or state["until"] > self.clock() else None
            for key, state in states.items()
        }
        for attempt in range(1, STORE_ATTEMPTS + 1):
            for key, state in wanted.items():
                if state is None:
                    cache.delete(key)
                else:
                    cache.set(key, state, timeout=BACKOFF_MEMORY_SECONDS + self.window_seconds)
            stored = cache.get_many(list(wanted))
            lost = [key for key, state in wanted.items() if stored.get(key) != state]
            if not lost:
                return
            if attempt < STORE_ATTEMPTS:
                time.sleep(0.01 * attempt)
        logger.error("sign-in throttle: the cache did not keep %d count(s) after %d writes", len(lost), STORE_ATTEMPTS)
        raise CountsNotStored(f"{len(lost)} count(s) not stored")

    @contextlib.contextmanager
    def _lock(self, lock_key: str) -> Iterator[bool]:
        """``cache.add`` is atomic on every backend (an INSERT against the key's primary key in the
        database cache), so one request at a time holds the lock; it yields whether it got it. A lock
        whose holder died frees itself after LOCK_SECONDS (then, in the database cache, two requests
        replacing the expired row at once could both take it: one lost process, one extra check)."""
        token = secrets.token_hex(8)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not cache.add(lock_key, token, timeout=LOCK_SECONDS):
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(0.005 + secrets.randbelow(10) / 1000)
        try:
            yield True
        finally:
            cache.delete(lock_key)


def _key(kind: str, value: str) -> str:
    # Hashed: the cache (a database table in production) need not hold user names, and a key made
    # from a header's text stays short and of safe characters for every cache backend.
    return f"login-failures:{kind}:" + hashlib.sha256(value.encode(errors="replace")).hexdigest()


def login_clock() -> float:
    """The time the throttle counts with; a name of its own so that tests can move it forward."""
    return time.time()


class ThrottledModelBackend(ModelBackend):
    """Django's password check, throttled: the attempt is reserved before the password is checked
    and settled after, in one place, for every sign-in form (the admin's too).

    A refused or failed attempt raises ``PermissionDenied``, which stops ``authenticate`` from
    asking the next backend: ``ModelBackend`` stays in ``AUTHENTICATION_BACKENDS`` only to restore
    sessions made with it, and must never check a password unthrottled.
    """

    @sensitive_variables()
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        throttle = LoginThrottle.from_settings()
        reserved = throttle.reserve_waiting(username, client_bucket(request))
        if isinstance(reserved, Refusal):
            if request is not None:
                setattr(request, REFUSAL_ATTRIBUTE, reserved)
            raise PermissionDenied(reserved.message)
        try:
            user = super().authenticate(request, username=username, password=password, **kwargs)
        except BaseException:
            throttle.settle(reserved, "withdrawn")
            raise
        throttle.settle(reserved, "failed" if user is None else "succeeded")
        if user is None:
            raise PermissionDenied("wrong user name or password")
        return user
