"""Writes that meet another writer are tried again, never failed for it.

Two writers can still collide inside a transaction: a unique constraint raced for, or SQLite answering
"database is locked" (or, for its shared-cache databases, "database table is locked") rather than
waiting. The whole transaction is rolled back and run again after a short random pause that grows
with each attempt, so that a crowd of writers spreads out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, transaction

Result = TypeVar("Result")

ATTEMPTS = 30


def atomic_with_retries(
    work: Callable[[], Result], retry_on: tuple[type[Exception], ...] = (OperationalError,), attempts: int = ATTEMPTS
) -> Result:
    """``work()`` in a transaction, run again while it fails with one of ``retry_on``; the last
    failure is raised after ``attempts`` tries."""
    attempt = 1
    while True:
        try:
            with transaction.atomic():
                return work()
        except retry_on:
            if attempt == attempts:
                raise
            time.sleep(random.uniform(0.005, 0.02) * attempt)
            attempt += 1
