"""Security headers on every response, and sign-in throttling.

The Content-Security-Policy allows only this site's own scripts and style sheets: templates use no
inline ``<script>``/``<style>`` blocks, no ``style=""`` attributes and no ``on...=`` handlers.

Throttling (OWASP, "Blocking Brute Force Attacks"): after ``LOGIN_FAILURE_LIMIT`` failed sign-ins
for one user name, or from one client address, within ``LOGIN_FAILURE_WINDOW_MINUTES``, every
further attempt is refused, right password or not, until the oldest of those failures leaves the
window. Failures are kept in Django's cache, which must be shared by all server processes
(the database cache in production) for the limit to hold across them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Callable

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class SecurityHeadersMiddleware:
    """Adds the headers Django's own ``SecurityMiddleware`` does not set (Django 5.2 has no CSP)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is refused, and for how long."""

    retry_after_seconds: int

    @property
    def message(self) -> str:
        minutes = max(1, -(-self.retry_after_seconds // 60))
        return (
            "Too many failed sign-ins for this user name or from this address. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


class LoginThrottle:
    """Failed sign-in times per user name and per client address, in the cache."""

    def __init__(self, limit: int, window_seconds: int, clock: Callable[[], float] = time.time):
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock

    @classmethod
    def from_settings(cls) -> "LoginThrottle":
        return cls(settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_FAILURE_WINDOW_MINUTES * 60, clock=login_clock)

    def refusal(self, username: str | None, address: str | None) -> Refusal | None:
        now = self.clock()
        waits = []
        for key in self._keys(username, address):
            recent = self._recent(key, now)
            if len(recent) >= self.limit:
                waits.append(recent[-self.limit] + self.window_seconds - now)
        return Refusal(int(max(waits)) + 1) if waits else None

    def record_failure(self, username: str | None, address: str | None) -> None:
        now = self.clock()
        for key in self._keys(username, address):
            recent = self._recent(key, now) + [now]
            cache.set(key, recent[-self.limit :], timeout=self.window_seconds)

    def forget_user(self, username: str) -> None:
        cache.delete_many(self._keys(username, None))

    def _recent(self, key: str, now: float) -> list[float]:
        return [stamp for stamp in cache.get(key, []) if stamp > now - self.window_seconds]

    @staticmethod
    def _keys(username: str | None, address: str | None) -> list[str]:
        # Hashed: the cache (a database table in production) need not hold user names, and a key
        # made from a header's text stays short and of safe characters for every cache backend.
        named = [("user", username.casefold() if username else None), ("address", address)]
        return [
            f"login-failures:{kind}:" + hashlib.sha256(value.encode(errors="replace")).hexdigest()
            for kind, value in named
            if value
        ]


def login_clock() -> float:
    """The time the throttle counts with; a name of its own so that tests can move it forward."""
    return time.time()


def client_address(request) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind a proxy the header it sets
    (``LOGIN_CLIENT_ADDRESS_HEADER``), whose last entry is the one the nearest proxy added."""
    if request is None:
        return None
    value = request.META.get(settings.LOGIN_CLIENT_ADDRESS_HEADER, "")
    return value.split(",")[-1].strip() or None


# The two backends only authenticate, and define no ``get_user``: a session is never theirs, and
# ``Client.force_login`` picks the first backend that has one.


class ThrottleGateBackend:
    """First authentication backend: refuses every sign-in (admin's too) while throttled."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if LoginThrottle.from_settings().refusal(username, client_address(request)):
            raise PermissionDenied  # stops the other backends from checking the password
        return None


class ThrottleCountBackend:
    """Last authentication backend: reached only when every other one rejected the credentials."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        LoginThrottle.from_settings().record_failure(username, client_address(request))
        return None
