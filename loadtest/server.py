"""The site under gunicorn on 127.0.0.1, configured as in production but for plain HTTP; or the whole
production stack, nginx in front of gunicorn, through ``scripts/serve-production``.

Worker class gthread: a browser keeps its connection open between requests (keep-alive), which
gthread workers hold in a poller while their threads serve other requests; a sync worker serves one
connection at a time and closes it after each response, and with two hundred participants thinking
between clicks most of the processes would sit idle. Threads also overlap the waits on PostgreSQL,
and each thread keeps its own persistent database connection (``DATABASE_CONN_MAX_AGE``), which is
what the connection-cut fault then breaks.

``--preload`` loads the site once in the master and forks the workers from it: the site imports
PyTorch (through the training store), and four workers importing it at once on two cores take half
a minute to start, and a killed worker's replacement seconds instead of milliseconds.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60
# The site is stopped only after every participant has finished, when nothing is in flight; a
# longer grace only delays the stop (workers are reaped at its end).
GRACEFUL_TIMEOUT_S = 3
# gunicorn kills a worker whose request runs longer than this; the client waits longer than this
# for a response, so a request it gave up on can never still be running on the server.
WORKER_TIMEOUT_S = 30


def site_environment(database_url: str, data_dir: Path, secret_key: str, conn_max_age: int) -> dict[str, str]:
    """The environment of a production site on plain local HTTP: DEBUG off, and HTTPS redirects
    and secure-only cookies switched off because the load test talks HTTP to 127.0.0.1."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE=str(conn_max_age),
        DATA_DIR=str(data_dir),
        SECRET_KEY=secret_key,
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
    )
    return env


@dataclass
class Gunicorn:
    port: int
    workers: int
    threads: int
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def worker_pids(self) -> list[int]:
        """The master's live worker processes, read from /proc."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name in parentheses may hold spaces; the fields after it are fixed.
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == self.process.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Graceful stop, then SIGKILL to the whole process group. Safe to call twice."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int, log_path: Path) -> Gunicorn:
    """Start gunicorn in its own process group and wait until it serves the sign-in page."""
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--preload", "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
        "--timeout", str(WORKER_TIMEOUT_S), "--graceful-timeout", str(GRACEFUL_TIMEOUT_S), "--keep-alive", "10",
        "--no-control-socket", "--error-logfile", str(log_path), "--log-level", "warning",
    ]
    with open(os.devnull, "rb") as stdin:
        process = subprocess.Popen(
            command, cwd=REPOSITORY, env=env, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Gunicorn(port=port, workers=workers, threads=threads, log_path=log_path, process=process)
    try:
        _wait_until_serving(server)
    except BaseException:
        server.stop()
        raise
    return server


class ServerError(RuntimeError):
    """gunicorn did not start; the message carries the end of its log."""


def _wait_until_serving(server: Gunicorn) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(f"gunicorn exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
            connection.request("GET", "/accounts/login/")
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return
            raise ServerError(f"the sign-in page answered {status}:\n{server.log_tail()}")
        except OSError:
            time.sleep(0.2)
    raise ServerError(f"gunicorn did not serve within {START_TIMEOUT_S} s:\n{server.log_tail()}")


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class ProductionStack:
    """``scripts/serve-production`` running: nginx on 127.0.0.1:``port`` in front of gunicorn on a unix
    socket. Offers what the load test asks of ``Gunicorn`` (its workers, its log, stop)."""

    port: int
    workers: int
    threads: int
    run_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def gunicorn_pid(self) -> int | None:
        for pid in _children(self.process.pid):
            if "gunicorn" in _command_line(pid):
                return pid
        return None

    def worker_pids(self) -> list[int]:
        master = self.gunicorn_pid()
        return _children(master) if master else []

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, which stops nginx and gunicorn in order; SIGKILL to all three if that hangs.
        Safe to call twice."""
        servers = _children(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()
        # Each server leads its own process group; what is left of one is killed with it.
        for pid in servers:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def start_production_stack(
    env: dict[str, str], port: int, workers: int, threads: int, run_dir: Path, log_path: Path
) -> ProductionStack:
    """Start ``scripts/serve-production`` (its output to ``log_path``) and wait until it says it serves."""
    command = [
        str(REPOSITORY / "scripts" / "serve-production"), str(port), "--run-dir", str(run_dir),
        "--workers", str(workers), "--threads", str(threads),
    ]
    env = {**env, "PYTHON": sys.executable}
    with open(os.devnull, "rb") as stdin, open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, cwd=REPOSITORY, env=env, stdin=stdin, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    stack = ProductionStack(port=port, workers=workers, threads=threads, run_dir=run_dir, log_path=log_path, process=process)
    deadline = time.monotonic() + START_TIMEOUT_S + 60
    try:
        while "serve-production: serving on" not in stack.log_tail(200):
            if process.poll() is not None:
                raise ServerError(f"scripts/serve-production exited with {process.returncode}:\n{stack.log_tail()}")
            if time.monotonic() > deadline:
                raise ServerError(f"scripts/serve-production did not serve in time:\n{stack.log_tail()}")
            time.sleep(0.2)
    except BaseException:
        stack.stop()
        raise
    return stack
