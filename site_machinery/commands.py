"""The base of every command that uses the database.

On a fresh checkout (or after an update that brings new migrations) the database is missing or
behind the code, and the first query would fail with "no such table". A command built on
``DatabaseCommand`` applies the outstanding migrations first, says so in one line, and then runs;
with the database cache (production settings) it also creates the cache table.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


def outstanding_migrations(database: str = DEFAULT_DB_ALIAS) -> int:
    """How many migrations the database still lacks."""
    executor = MigrationExecutor(connections[database])
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def ensure_migrated(say) -> None:
    """Apply the outstanding migrations, if any, telling ``say`` (a one-argument callable) first."""
    missing = outstanding_migrations()
    if not missing:
        return
    say(f"Setting up the database first ({missing} migrations to apply; this happens once per update).")
    call_command("migrate", verbosity=0)
    if any(cache["BACKEND"].endswith("DatabaseCache") for cache in settings.CACHES.values()):
        call_command("createcachetable", verbosity=0)


class DatabaseCommand(BaseCommand):
    """A management command that needs the database: migrations are applied before it runs."""

    def execute(self, *args, **options):
        ensure_migrated(lambda line: self.stderr.write(line))
        return super().execute(*args, **options)
