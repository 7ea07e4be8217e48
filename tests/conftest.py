import threading
from datetime import datetime, timedelta, timezone

import pytest


@pytest.fixture(autouse=True)
def isolated_data_dir(settings, tmp_path):
    """Every test gets its own data folder (store, panels, runs, reports)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.STORE_DIR = settings.DATA_DIR / "store"
    return settings.DATA_DIR


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Test users only: the production hasher's deliberate slowness would dominate the suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Sign-in throttling counts failures in the cache; one test's failures must not lock out the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


class ServerClock:
    """The server's clock (``django.utils.timezone.now``), stopped at the real now: it moves only by
    ``advance`` or, with ``step`` set, by ``step`` seconds at every reading, so that saves made one
    after the other lie that far apart whatever the machine's speed."""

    def __init__(self):
        self.now = datetime.now(timezone.utc)
        self.step = 0.0
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)

    def read(self) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=self.step)
            return self.now


@pytest.fixture
def clock(monkeypatch):
    server_clock = ServerClock()
    monkeypatch.setattr("django.utils.timezone.now", server_clock.read)
    return server_clock


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    """On SQLite the test database is a file, as the site's is: an in-memory database shared between
    threads answers "table is locked" at once where a file waits for its lock, so tests of several
    writers at once would test something no site runs."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")
