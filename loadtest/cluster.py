"""A throwaway PostgreSQL 15 cluster: ``initdb`` into a temporary folder, a server on a free
127.0.0.1 port (its unix socket in that folder too), one database, and everything removed on stop.

PostgreSQL refuses to run as root. Run as root, the cluster's commands run as the ``postgres``
user through ``runuser`` and the folder is handed to that user; without such a user the cluster
refuses to start with a message that says so.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "loadtest"
DATABASE = "loadtest"
# Room for every gunicorn thread's persistent connection, the harness and the fault injector.
MAX_CONNECTIONS = 300
START_TIMEOUT_S = 60


class ClusterError(RuntimeError):
    """The cluster could not be created, started or stopped; the message says why and what to do."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _binary(name: str) -> str:
    path = POSTGRES_BIN / name
    if not os.access(path, os.X_OK):
        raise ClusterError(
            f"{path} not found: install the PostgreSQL 15 server (Debian/Ubuntu: apt-get install postgresql-15) "
            "or point POSTGRES_BIN at the folder that holds initdb, pg_ctl and createdb"
        )
    return str(path)


def _run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs a PostgreSQL binary as a user it accepts, and that user when it
    is not the current one."""
    if os.geteuid() != 0:
        return [], None
    try:
        postgres = pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterError(
            "PostgreSQL does not run as root and this machine has no 'postgres' user: "
            "run the load test as an ordinary user, or create the user (useradd --system postgres)"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ClusterError("running as root needs runuser (util-linux) to start PostgreSQL as the 'postgres' user")
    return [runuser, "-u", "postgres", "--"], postgres


@dataclass
class PostgresCluster:
    directory: Path
    port: int
    password: str
    prefix: list[str] = field(repr=False)
    running: bool = False

    @property
    def options(self) -> str:
        return (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory} "
            f"-c max_connections={MAX_CONNECTIONS} -c shared_buffers=128MB "
            # The harness tests the application, not the disk: a crash of the machine is not one of
            # its faults, so nothing need reach the disk itself. A crash of PostgreSQL is one, so a
            # commit still reaches the WAL (in the system's page cache) before it is acknowledged.
            "-c fsync=off -c synchronous_commit=on -c full_page_writes=off"
        )

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgres://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def connect(self, autocommit: bool = True) -> psycopg.Connection:
        """A superuser connection over the unix socket (the fault injector's, kept apart from TCP)."""
        return psycopg.connect(
            host=str(self.directory), port=self.port, user=SUPERUSER, dbname=DATABASE, autocommit=autocommit
        )

    def _run(self, name: str, *args: str, timeout: float = START_TIMEOUT_S) -> None:
        command = [*self.prefix, _binary(name), *args]
        done = subprocess.run(
            command, cwd=self.directory, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise ClusterError(f"{name} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}")

    def start(self) -> None:
        self._run(
            "pg_ctl", "start", "-D", str(self.data_dir), "-w", "-t", str(START_TIMEOUT_S),
            "-l", str(self.directory / "server.log"), "-o", self.options, timeout=START_TIMEOUT_S + 10,
        )
        self.running = True

    def restart(self) -> None:
        """Stop the server the way a crash does (no shutdown checkpoint: it recovers from its WAL on
        start) and start it again on the same port."""
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "20", timeout=30)
        self.running = False
        self.start()

    def stop(self) -> None:
        """Stop the server and remove the folder. Safe to call twice.

        Immediate shutdown skips the final checkpoint: the cluster is thrown away."""
        if self.running:
            self.running = False
            try:
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "20", timeout=30)
            except (ClusterError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        shutil.rmtree(self.directory, ignore_errors=True)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _kill_postmaster(self) -> None:
        pid = self.postmaster_pid()
        if pid is not None:
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def start_cluster() -> PostgresCluster:
    """Create, start and open a new cluster with one database; stop it with ``stop()``."""
    prefix, owner = _run_as()
    for name in ("initdb", "pg_ctl", "createdb"):
        _binary(name)
    directory = Path(tempfile.mkdtemp(prefix="loadtest-pg-"))
    cluster = PostgresCluster(directory=directory, port=free_port(), password=secrets.token_hex(16), prefix=prefix)
    try:
        if owner is not None:
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        password_file = directory / "password"
        password_file.write_text(cluster.password + "\n")
        if owner is not None:
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        password_file.chmod(0o600)
        # TCP clients authenticate by password; the unix socket lives in this private folder.
        cluster._run(
            "initdb", "-D", str(cluster.data_dir), "-U", SUPERUSER, "--pwfile", str(password_file),
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync",
        )
        password_file.unlink()
        cluster.start()
        cluster._run("createdb", "-h", str(directory), "-p", str(cluster.port), "-U", SUPERUSER, DATABASE)
    except BaseException:
        cluster.stop()
        raise
    return cluster
