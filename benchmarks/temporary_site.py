"""A throw-away site for the benchmarks that go through Django.

Importing this module points Django at a temporary data folder with its own SQLite database and sets
Django up; ``migrated()`` creates the tables and removes the folder afterwards.
"""

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

DATA_DIR = Path(tempfile.mkdtemp(prefix="bench-site-"))
os.environ["DATA_DIR"] = str(DATA_DIR)
os.environ["DATABASE_URL"] = f"sqlite:///{DATA_DIR / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402


@contextlib.contextmanager
def migrated() -> Iterator[Path]:
    """The site's tables for the duration, its data folder removed afterwards. DEBUG is off, as in
    production: with it on, Django would also keep every query in memory."""
    setup_test_environment(debug=False)
    try:
        call_command("migrate", verbosity=0)
        yield DATA_DIR
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
