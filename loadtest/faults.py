"""The faults injected while participants label: a gunicorn worker killed with SIGKILL (its
in-flight requests and open connections die with it; the master starts a new one), every
database connection of the site cut at once with ``pg_terminate_backend`` (what a failover does to
the persistent connections of the workers), and PostgreSQL itself stopped as by a crash and started
again (for a second or two nothing reaches the database; the site must come back by itself)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass

import psycopg

from loadtest.cluster import ClusterError, PostgresCluster
from loadtest.server import Gunicorn

REPLACEMENT_WAIT_S = 30


@dataclass(frozen=True)
class WorkerKill:
    pid: int
    replaced: bool  # the master was back at its full number of workers afterwards
    at_s: float  # seconds into the labelling


@dataclass(frozen=True)
class ConnectionCut:
    terminated: int  # site connections ended
    at_s: float


@dataclass(frozen=True)
class DatabaseRestart:
    down_s: float  # from the stop until the restarted server accepted connections
    at_s: float


class FaultError(RuntimeError):
    """A fault could not be injected (e.g. no worker to kill)."""


def kill_worker(server: Gunicorn, started: float, rng: random.Random) -> WorkerKill:
    """SIGKILL one worker, then wait for the master to start its replacement."""
    workers = server.worker_pids()
    if not workers:
        raise FaultError("gunicorn has no worker process to kill")
    victim = rng.choice(workers)
    at = time.monotonic() - started
    try:
        os.kill(victim, signal.SIGKILL)
    except ProcessLookupError:
        raise FaultError(f"gunicorn worker {victim} ended before it could be killed") from None
    deadline = time.monotonic() + REPLACEMENT_WAIT_S
    while time.monotonic() < deadline:
        alive = server.worker_pids()
        if victim not in alive and len(alive) >= server.workers:
            return WorkerKill(pid=victim, replaced=True, at_s=at)
        time.sleep(0.1)
    return WorkerKill(pid=victim, replaced=False, at_s=at)


def cut_database_connections(cluster: PostgresCluster, started: float) -> ConnectionCut:
    """End every client connection to the site's database except this superuser one."""
    at = time.monotonic() - started
    try:
        with cluster.connect() as connection:
            rows = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ).fetchall()
    except psycopg.Error as error:
        raise FaultError(f"cutting the database connections failed: {error}") from error
    return ConnectionCut(terminated=sum(1 for (ended,) in rows if ended), at_s=at)


def restart_database(cluster: PostgresCluster, started: float) -> DatabaseRestart:
    """Crash-stop PostgreSQL and start it again, while the site is serving."""
    at = time.monotonic() - started
    try:
        cluster.restart()
    except (ClusterError, subprocess.TimeoutExpired) as error:
        raise FaultError(f"restarting PostgreSQL failed: {error}") from error
    return DatabaseRestart(down_s=round(time.monotonic() - started - at, 2), at_s=at)
