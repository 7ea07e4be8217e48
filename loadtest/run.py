"""``python -m loadtest.run``: simulated participants label a study on gunicorn and PostgreSQL (with
``--through-proxy``, behind nginx as ``scripts/serve-production`` runs it) while a worker is killed,
the database connections are cut and PostgreSQL is restarted; then every acknowledged answer is
checked in the database. Exits 0 when nothing was lost and every participant finished; 1 when an acknowledged
answer is missing, stored twice, stored with another class or has an inconsistent history; 2 when
the harness itself could not run; 3 when nothing was lost but the run did not complete (the time
limit stopped it, an answer was refused or a participant could not go on).

Everything it starts (PostgreSQL, gunicorn, temporary folders) is stopped and removed on the way out,
after a failure, on Ctrl-C, on SIGTERM, and at the hard time limit.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from loadtest import faults
from loadtest.client import ParticipantLog, Progress, SimulatedParticipant
from loadtest.cluster import ClusterError, PostgresCluster, free_port, start_cluster
from loadtest.server import Gunicorn, ProductionStack, ServerError, site_environment, start_gunicorn, start_production_stack

# Time kept back from the limit for stopping the participants, verifying and cleaning up.
WIND_DOWN_S = 60
PROGRESS_EVERY_S = 15


def think_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split(".."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--think-ms {text!r}: expected LOW..HIGH in milliseconds, e.g. 50..400") from None
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"--think-ms {text!r}: expected 0 <= LOW <= HIGH")
    return low, high


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a fraction between 0 and 1")
    return value


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--think-ms", type=think_range, default=(50, 400), metavar="LOW..HIGH",
                        help="time a participant looks at a case before choosing (default 50..400)")
    parser.add_argument("--duration-limit", type=int, default=1800, metavar="SECONDS",
                        help="hard limit for the whole run, setup and verification included (default 1800)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (default 8)")
    parser.add_argument("--through-proxy", action="store_true",
                        help="serve the site with scripts/serve-production: nginx in front of gunicorn")
    parser.add_argument("--addresses", type=int, default=1, metavar="N",
                        help="spread the participants over N loopback addresses (127.1.x.y) for per-address limits "
                        "to tell apart; 1 (default): all from 127.0.0.1, as one classroom behind one address")
    parser.add_argument("--conn-max-age", type=int, default=60,
                        help="DATABASE_CONN_MAX_AGE of the site: persistent connections, as in production (default 60)")
    parser.add_argument("--no-faults", action="store_true", help="run without any of the faults below")
    parser.add_argument("--kill-worker-at", type=fraction, default=0.3, metavar="FRACTION",
                        help="kill a worker when this share of the answers is acknowledged (default 0.3)")
    parser.add_argument("--cut-connections-at", type=fraction, default=0.6, metavar="FRACTION",
                        help="cut the database connections at this share (default 0.6)")
    parser.add_argument("--restart-database-at", type=fraction, default=0.85, metavar="FRACTION",
                        help="crash-stop and restart PostgreSQL at this share (default 0.85)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    if args.participants < 1 or args.samples < 1 or args.workers < 1 or args.threads < 1 or args.addresses < 1:
        parser.error("--participants, --samples, --workers, --threads and --addresses must be at least 1")
    if args.addresses > 65_000:
        parser.error("--addresses: at most 65000")
    if args.duration_limit <= WIND_DOWN_S:
        parser.error(f"--duration-limit must be more than {WIND_DOWN_S} seconds")
    return args


class Resources:
    """What the run started, stopped in reverse order exactly once, whichever way the run ends."""

    def __init__(self):
        self.data_dir: Path | None = None
        self.cluster: PostgresCluster | None = None
        self.server: Gunicorn | ProductionStack | None = None
        self.stop_participants = threading.Event()
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            self.stop_participants.set()
            if self.server is not None:
                self.server.stop()
                self.server = None
            if self.cluster is not None:
                self.cluster.stop()
                self.cluster = None
            if self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.data_dir = None


class HardLimit(Exception):
    pass


@dataclass
class Report:
    participants: int
    samples: int
    served_by: str = "gunicorn"
    addresses: int = 1
    answers_sent: int = 0
    answers_given: int = 0
    acknowledged: int = 0
    stored: int = 0
    duplicates: int = 0
    missing: int = 0
    wrong_class: int = 0
    history_inconsistencies: int = 0
    stored_without_acknowledgement: int = 0
    pending: int = 0
    refused: int = 0
    participants_finished: int = 0
    participants_failed: list[str] = field(default_factory=list)
    save_latency_ms: dict[str, float] = field(default_factory=dict)
    page_latency_ms: dict[str, float] = field(default_factory=dict)
    panel_latency_ms: dict[str, float] = field(default_factory=dict)
    answers_per_second: float = 0.0
    choice_to_acknowledgement_max_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    panels_fetched: int = 0
    worker_kill: dict | None = None
    connection_cut: dict | None = None
    database_restart: dict | None = None
    setup_s: float = 0.0
    labelling_s: float = 0.0
    run_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    started: dict = field(default_factory=dict)  # what the run started, all gone when it returns

    @property
    def verified(self) -> bool:
        return not (self.duplicates or self.missing or self.wrong_class or self.history_inconsistencies)

    @property
    def complete(self) -> bool:
        return (
            self.participants_finished == self.participants and not self.pending and not self.refused
            and not self.participants_failed
        )


def percentiles_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


def configure_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def prepare_database(args: argparse.Namespace):
    from django.core.management import call_command
    from django.db import connections

    from loadtest.setup_study import build_study

    call_command("migrate", verbosity=0, interactive=False)
    # With DEBUG off the sign-in throttle counts in the database cache, shared by all workers.
    call_command("createcachetable", verbosity=0)
    study = build_study(args.participants, args.samples)
    # The harness's own connection must not count among the site's when the connections are cut.
    connections.close_all()
    return study


def inject_faults(args, resources: Resources, progress: Progress, started: float, report: Report, done: threading.Event,
                  errors: list[BaseException]):
    """Kill a worker, cut the connections and restart the database when the given shares of the
    answers are acknowledged."""
    try:
        _inject_faults(args, resources, progress, started, report, done)
    except Exception as error:  # handed to the main thread, which reports it
        errors.append(error)


def _inject_faults(args, resources: Resources, progress: Progress, started: float, report: Report, done: threading.Event):
    expected = args.participants * args.samples
    rng = random.Random(args.seed)
    schedule = sorted(
        [(args.kill_worker_at, "kill"), (args.cut_connections_at, "cut"), (args.restart_database_at, "restart")]
    )
    for share, fault in schedule:
        while progress.acknowledged < share * expected:
            if done.wait(0.05):
                return
        if fault == "kill":
            report.worker_kill = asdict(faults.kill_worker(resources.server, started, rng))
        elif fault == "cut":
            report.connection_cut = asdict(faults.cut_database_connections(resources.cluster, started))
        else:
            report.database_restart = asdict(faults.restart_database(resources.cluster, started))


def print_progress(progress: Progress, expected: int, started: float, done: threading.Event) -> None:
    while not done.wait(PROGRESS_EVERY_S):
        elapsed = time.monotonic() - started
        print(f"  {elapsed:5.0f} s: {progress.acknowledged} of {expected} answers acknowledged", flush=True)


def participant_address(number: int, addresses: int) -> str | None:
    """The loopback address participant ``number`` connects from; None: the system's, 127.0.0.1."""
    if addresses == 1:
        return None
    slot = number % addresses
    return f"127.1.{slot // 250}.{slot % 250 + 1}"


def label(args, resources: Resources, study, report: Report, deadline: float) -> list[ParticipantLog]:
    server = resources.server
    progress = Progress()
    participants = [
        SimulatedParticipant(
            username, study.password, study.study_name, server.host, server.port, args.think_ms,
            seed=args.seed * 1_000_003 + i, stop=resources.stop_participants, progress=progress,
            source=participant_address(i, args.addresses),
        )
        for i, username in enumerate(study.usernames)
    ]
    logs: list[ParticipantLog] = []
    threads = [threading.Thread(target=lambda p=p: logs.append(p.run()), daemon=True, name=p.log.username) for p in participants]
    started = time.monotonic()
    done = threading.Event()
    fault_errors: list[BaseException] = []
    helpers = [threading.Thread(target=print_progress, args=(progress, args.participants * args.samples, started, done), daemon=True)]
    if not args.no_faults:
        helpers.append(
            threading.Thread(
                target=inject_faults, args=(args, resources, progress, started, report, done, fault_errors), daemon=True
            )
        )
    for helper in helpers:
        helper.start()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                break
    finally:
        resources.stop_participants.set()
        for thread in threads:
            thread.join(10)
        done.set()
        for helper in helpers:
            helper.join(10)
    report.labelling_s = round(time.monotonic() - started, 1)
    if fault_errors:
        raise fault_errors[0]
    return logs


def summarise(report: Report, logs: list[ParticipantLog]) -> None:
    errors = Counter()
    latencies, delays, pages, panels = [], [], [], []
    for log in logs:
        report.answers_sent += log.sent
        report.answers_given += log.answers_given
        report.acknowledged += log.acknowledgements
        report.pending += log.pending
        report.refused += len(log.refused)
        report.panels_fetched += log.panels_fetched
        report.participants_finished += log.submitted
        if log.failure:
            report.participants_failed.append(f"{log.username}: {log.failure}")
        errors.update(log.errors)
        latencies += log.save_latencies
        pages += log.page_latencies
        panels += log.panel_latencies
        delays += log.queued_to_acknowledged
        report.problems += [f"{log.username} refused {r}" for r in log.refused[:3]]
    report.errors = dict(sorted(errors.items()))
    report.save_latency_ms = percentiles_ms(latencies)
    report.page_latency_ms = percentiles_ms(pages)
    report.panel_latency_ms = percentiles_ms(panels)
    report.answers_per_second = round(report.acknowledged / report.labelling_s, 1) if report.labelling_s else 0.0
    report.choice_to_acknowledgement_max_s = round(max(delays, default=0.0), 2)


def latency_line(figures: dict[str, float]) -> str:
    return ", ".join(f"{name} {figures[name]} ms" for name in ("p50", "p95", "p99") if name in figures) or "-"


def print_report(report: Report) -> None:
    lines = [
        f"participants {report.participants} x samples {report.samples}, from {report.addresses} address(es), "
        f"served by {report.served_by}",
        f"answers sent (requests)     {report.answers_sent}",
        f"answers given (choices)     {report.answers_given}",
        f"acknowledged                {report.acknowledged}",
        f"stored                      {report.stored}",
        f"duplicates                  {report.duplicates}",
        f"missing                     {report.missing}",
        f"wrong class                 {report.wrong_class}",
        f"history inconsistencies     {report.history_inconsistencies}",
        f"stored, not acknowledged    {report.stored_without_acknowledgement}",
        f"still queued at the end     {report.pending}",
        f"refused (400/404/409/413)   {report.refused}",
        f"participants finished       {report.participants_finished} of {report.participants}",
        f"save latency                {latency_line(report.save_latency_ms)}",
        f"page latency                {latency_line(report.page_latency_ms)}",
        f"panel latency               {latency_line(report.panel_latency_ms)}",
        f"throughput                  {report.answers_per_second} acknowledged answers/s",
        f"choice to acknowledgement   at most {report.choice_to_acknowledgement_max_s} s",
        f"panels fetched              {report.panels_fetched}",
        f"worker killed               {report.worker_kill or 'no'}",
        f"database connections cut    {report.connection_cut or 'no'}",
        f"database restarted          {report.database_restart or 'no'}",
        "errors by kind              " + (", ".join(f"{k}: {v}" for k, v in report.errors.items()) or "none"),
        f"run time                    {report.run_s} s (setup {report.setup_s} s, labelling {report.labelling_s} s)",
    ]
    lines += [f"problem: {p}" for p in report.problems + report.participants_failed[:10]]
    lines.append(
        "verification: " + ("PASSED" if report.verified else "FAILED")
        + ("" if report.complete else " (the run did not complete: see above)")
    )
    print("\n".join(lines), flush=True)


def run(args: argparse.Namespace, resources: Resources) -> Report:
    started = time.monotonic()
    deadline = started + args.duration_limit - WIND_DOWN_S
    report = Report(
        participants=args.participants, samples=args.samples, addresses=args.addresses,
        served_by="nginx in front of gunicorn (scripts/serve-production)" if args.through_proxy else "gunicorn",
    )
    resources.data_dir = Path(tempfile.mkdtemp(prefix="loadtest-data-"))
    resources.cluster = start_cluster()
    report.started.update(
        data_dir=str(resources.data_dir), cluster_dir=str(resources.cluster.directory),
        postmaster_pid=resources.cluster.postmaster_pid(),
    )
    env = site_environment(
        resources.cluster.url, resources.data_dir, secrets.token_urlsafe(50), conn_max_age=args.conn_max_age
    )
    configure_django(env)
    study = prepare_database(args)
    if args.through_proxy:
        resources.server = start_production_stack(
            env, free_port(), args.workers, args.threads, resources.data_dir / "run",
            resources.data_dir / "serve-production.log",
        )
        report.started["gunicorn_pid"] = resources.server.gunicorn_pid()
        report.started["serve_production_pid"] = resources.server.process.pid
    else:
        resources.server = start_gunicorn(
            env, free_port(), args.workers, args.threads, resources.data_dir / "gunicorn.log"
        )
        report.started["gunicorn_pid"] = resources.server.process.pid
    report.setup_s = round(time.monotonic() - started, 1)
    print(f"setup done in {report.setup_s} s; {args.participants} participants start labelling", flush=True)
    logs = label(args, resources, study, report, deadline)
    # No request may still be writing while the database is read.
    resources.server.stop()
    summarise(report, logs)

    from loadtest.verify import verify

    verification = verify(study.study_name, logs)
    for name in ("stored", "duplicates", "missing", "wrong_class", "history_inconsistencies", "stored_without_acknowledgement"):
        setattr(report, name, getattr(verification, name))
    report.problems = verification.problems + report.problems
    report.run_s = round(time.monotonic() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    resources = Resources()
    atexit.register(resources.release)

    def interrupted(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    def hard_limit(signum, frame):
        raise HardLimit(f"the hard time limit of {args.duration_limit} s was reached")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGALRM, hard_limit)
    signal.alarm(args.duration_limit)
    try:
        report = run(args, resources)
    except (ClusterError, ServerError, faults.FaultError, HardLimit) as error:
        print(f"load test could not run: {error}", file=sys.stderr)
        return 2
    finally:
        signal.alarm(0)
        resources.release()
    print_report(report)
    if args.report:
        args.report.write_text(
            json.dumps({**asdict(report), "verified": report.verified, "complete": report.complete}, indent=2) + "\n"
        )
    if not report.verified:
        return 1
    return 0 if report.complete else 3


if __name__ == "__main__":
    sys.exit(main())
