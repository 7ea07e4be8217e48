"""Requests in flight per session, counted across every server process and thread.

One participant's script asking for panels as fast as it can, or an analyst's tab reloading a heavy
page, must not take the server from everyone else. Each session gets ``SESSION_READS_IN_FLIGHT``
reads (GET, HEAD, OPTIONS) and ``SESSION_WRITES_IN_FLIGHT`` other requests served at once, as two
budgets so that a page's panels never hold up its answers; a request beyond them is answered 429
with Retry-After, which the pages' scripts wait for and follow. A browser opens at most six
connections to a site, so a person using the pages never meets the limit.

Where the limits live: per session here, because only the site knows what a session is, and it
works whatever serves the site (gunicorn alone, as the load test runs it, or behind any proxy).
Per client address in nginx (``scripts/serve-production``: connections, request rate and sign-in
rate per address), because nginx refuses there before any Python runs, also requests that never
finish arriving, and a flood's refusals then cost next to nothing. Requests without a session
cookie (strangers, sign-ins) are counted only there.

How: a request holds one of its session's slots while it is served: a lock on one byte of a single
shared file, ``DATA_DIR/in-flight.lock``, at an offset drawn from a hash of the session cookie.
Linux's open file description locks (``F_OFD_SETLK``) belong to the opened file, not to the process,
so two threads of one worker exclude each other as two workers do, and the system drops a killed
worker's locks with its files: no count can leak. Nothing is ever written; the file stays empty
whatever the number of sessions, and a cookie made up by a client costs a lock for the time of its
request and nothing after. Sessions are 2^48 slot ranges apart, so two of them share slots with
negligible probability. A count in the database cache would cost two writes per request and leak
the slots of every killed request.

Needs Linux 3.15 or later (open file description locks).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import struct
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_AFTER_SECONDS = 1
# Bytes between two sessions' slot ranges: room for up to half of it in each of the two budgets
# (the settings allow at most 128 of each).
SESSION_STRIDE = 256
LOCK_FILE_NAME = "in-flight.lock"
# struct flock (fcntl(2)) on Linux: l_type, l_whence (short), l_start, l_len (off_t), l_pid (pid_t,
# 0 for open file description locks), padded to the alignment of off_t.
FLOCK = struct.Struct("hhqqi4x")
MESSAGE = "Too many requests at once from this session; this one was not served. Ask again in a second."


def slot_range(cookie: str, writes: bool) -> int:
    """The offset of the first slot of a session's reads or writes in the lock file."""
    bucket = int.from_bytes(hashlib.sha256(cookie.encode(errors="replace")).digest()[:6], "big")
    return bucket * SESSION_STRIDE + (SESSION_STRIDE // 2 if writes else 0)


def _try_lock(descriptor: int, offset: int) -> bool:
    try:
        fcntl.fcntl(descriptor, fcntl.F_OFD_SETLK, FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0))
    except (BlockingIOError, PermissionError):
        return False
    return True


def lock_file() -> Path:
    return Path(settings.DATA_DIR) / LOCK_FILE_NAME


def open_lock_file() -> int:
    """A descriptor of its own on the lock file: its locks are this request's alone."""
    path = lock_file()
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def take_slot(descriptor: int, cookie: str, writes: bool) -> bool:
    """Lock one of the session's free slots of the kind through ``descriptor``, until it is closed;
    whether one was free."""
    limit = settings.SESSION_WRITES_IN_FLIGHT if writes else settings.SESSION_READS_IN_FLIGHT
    first = slot_range(cookie, writes)
    return any(_try_lock(descriptor, first + slot) for slot in range(limit))


def too_many(request) -> HttpResponse:
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"error": MESSAGE}, status=429)
    else:
        response = HttpResponse(MESSAGE, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class SessionFloodMiddleware:
    """Serves a request of a session only while the session has a slot of its kind free (see the
    module's docstring); requests without a session cookie pass. It reads the cookie only, not the
    session, so that a refusal costs no database query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if not cookie:
            return self.get_response(request)
        try:
            descriptor = open_lock_file()
        except OSError as error:
            # The limit protects the site; a lock file that cannot be opened must not take it down.
            logger.warning("requests in flight are not limited: %s cannot be opened (%s)", lock_file(), error)
            return self.get_response(request)
        try:
            if not take_slot(descriptor, cookie, writes=request.method not in READ_METHODS):
                return too_many(request)
            return self.get_response(request)
        finally:
            # Closing the request's own descriptor releases its slot.
            os.close(descriptor)
