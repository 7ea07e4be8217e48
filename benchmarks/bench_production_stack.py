"""The production stack (``scripts/serve-production``: nginx in front of gunicorn 4x8) under floods and
slow clients: another reader's case page, idle and during each.

Floods, each for a while, from one participant or one address:
- uncached panels: a participant asks for gallery panels nobody has looked at yet, 64 at a time, a new
  batch as soon as the last is answered (refused ones are asked again in a later batch);
- cached panels: the same participant asks for its own case's panels, already rendered, 64 at a time;
- anonymous sign-ins: one address posts wrong passwords for made-up user names, 64 at a time.
Slow clients: 96 connections, each from an address of its own, send a request's headers a line every
2 s, or a body a few bytes every 2 s. The same 96 slow headers against gunicorn alone are the baseline.

Meanwhile the reader reloads its case page, from an address of its own. The flooding and slow
clients run in another process at a lower priority (nice 10), as if on another machine, so that
what is measured is the server's work rather than the benchmark's own.

Everything runs on 127.0.0.1 (clients from other loopback addresses, which per-address limits tell
apart), over SQLite in a temporary folder removed afterwards, under a hard time limit.
Run: ``.venv/bin/python benchmarks/bench_production_stack.py``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_panel_burst import PASSWORD, build, configure  # noqa: E402
from loadtest.client import Browser, ConnectionFailure, parse  # noqa: E402
from loadtest.cluster import free_port  # noqa: E402
from loadtest.server import start_gunicorn, start_production_stack  # noqa: E402

READER = "127.0.0.3"
FLOODER = "127.0.0.2"
BATCH = 64
SLOW_CLIENTS = 96
READER_PAUSE_S = 0.05
WITHIN_S = 2.0
FLOODS = ("uncached panels", "cached panels", "sign-ins")


def signed_in(host: str, port: int, username: str, source: str) -> Browser:
    browser = Browser(host, port, source)
    token = parse(browser.request("GET", "/accounts/login/")).form_token
    form = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD}).encode()
    answer = browser.request(
        "POST", "/accounts/login/", form,
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": browser.origin, "Referer": browser.origin + "/accounts/login/"},
    )
    if answer.status != 302:
        raise SystemExit(f"signing in {username} answered {answer.status}")
    return browser


def page_latencies(browser: Browser, path: str, until: threading.Event | int) -> tuple[list[float], int]:
    """Reload the page every READER_PAUSE_S until ``until`` (an event or a number of loads); the
    seconds of each load that succeeded, and how many failed (an error, or no answer within the
    browser's timeout)."""
    seconds, failed = [], 0
    while (not until.is_set()) if isinstance(until, threading.Event) else len(seconds) + failed < until:
        started = time.perf_counter()
        try:
            status = browser.request("GET", path, headers={"Accept": "text/html"}).status
        except ConnectionFailure:
            status = 0
        if status == 200:
            seconds.append(time.perf_counter() - started)
        else:
            failed += 1
        time.sleep(READER_PAUSE_S)
    return seconds, failed


# ---------------------------------------------------------------- what runs in the other process
def _fetch_all(
    host: str, port: int, source: str, requests: list[tuple[str, str, bytes | None, dict]], cookies: dict, end: float
) -> list[int]:
    """The requests at once; a request still unanswered at ``end`` is given up (status 0)."""
    statuses = [0] * len(requests)

    def one(index: int) -> None:
        method, path, body, headers = requests[index]
        browser = Browser(host, port, source, timeout=max(1.0, end - time.monotonic()))
        browser.cookies = dict(cookies)
        try:
            statuses[index] = browser.request(method, path, body, headers).status
        except ConnectionFailure:
            statuses[index] = 0
        finally:
            browser.close()

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def flood(kind: str, host: str, port: int, cookies: dict, urls: list[str], form_token: str, seconds: float, results) -> None:
    os.nice(10)
    counts: Counter = Counter()
    end = time.monotonic() + seconds
    waiting = list(urls)
    while time.monotonic() < end:
        if kind == "sign-ins":
            requests = [
                ("POST", "/accounts/login/",
                 urlencode({"csrfmiddlewaretoken": form_token, "username": secrets.token_hex(6), "password": "wrong"}).encode(),
                 {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://{host}:{port}",
                  "Referer": f"http://{host}:{port}/accounts/login/"})
                for _ in range(BATCH)
            ]
        else:
            if not waiting:
                break
            batch = [waiting[i % len(waiting)] for i in range(BATCH)] if kind == "cached panels" else waiting[:BATCH]
            requests = [("GET", url, None, {"Accept": "image/*"}) for url in batch]
        statuses = _fetch_all(host, port, FLOODER, requests, cookies, end)
        counts.update(statuses)
        if kind == "uncached panels":
            served = {url for (_, url, _, _), status in zip(requests, statuses) if status == 200}
            waiting = [url for url in waiting if url not in served]
    results.put(dict(counts))


def slow(kind: str, host: str, port: int, seconds: float, ready) -> None:
    """SLOW_CLIENTS connections from 127.0.1.x sending a line (or a few body bytes) every 2 s."""
    os.nice(10)
    clients = []
    for number in range(SLOW_CLIENTS):
        client = socket.socket()
        client.bind((f"127.0.1.{number + 1}", 0))
        client.settimeout(5)
        try:
            client.connect((host, port))
            if kind == "headers":
                client.sendall(b"GET /accounts/login/ HTTP/1.1\r\n")
            else:
                client.sendall(
                    b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
                )
            clients.append(client)
        except OSError:
            client.close()
    ready.set()
    end = time.monotonic() + seconds
    line = 0
    while time.monotonic() < end:
        time.sleep(2)
        line += 1
        for client in clients:
            try:
                client.sendall(b"X-Slow-%d: 1\r\n" % line if kind == "headers" else b"a=b&")
            except OSError:
                pass  # the server closed it
    for client in clients:
        client.close()


# ---------------------------------------------------------------- the benchmark
def percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "no load succeeded"
    p50, p95 = np.percentile(np.array(seconds) * 1000, [50, 95])
    return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(seconds) * 1000:.0f} ms"


def measure_flood(kind, reader, case_path, stack, cookies, urls, form_token, seconds) -> str:
    """The reader's page just before the flood (idle) and during it: the machine is shared, and a
    baseline taken right before follows what else runs on it."""
    idle, _ = page_latencies(reader, case_path, 60)
    results = multiprocessing.Queue()
    process = multiprocessing.Process(
        target=flood, args=(kind, stack.host, stack.port, cookies, urls, form_token, seconds, results), daemon=True
    )
    done = threading.Event()
    process.start()
    watcher = threading.Thread(target=lambda: (process.join(), done.set()), daemon=True)
    watcher.start()
    during, failed = page_latencies(reader, case_path, done)
    counts = results.get(timeout=30)
    ratio = np.percentile(during, 95) / np.percentile(idle, 95) if during else float("inf")
    answered = ", ".join(
        f"{count} {status or 'unanswered (queued) when it stopped'}" for status, count in sorted(counts.items())
    )
    return (
        f"{kind:>15}: idle {percentiles(idle)}; during {percentiles(during)} over {len(during)} loads "
        f"({failed} failed): p95 x{ratio:.1f} idle. The flood's requests answered: {answered}"
    )


def measure_slow(kind, signed_in_reader, case_path, host, port, loads, timeout) -> str:
    reader = Browser(host, port, READER, timeout=timeout)
    reader.cookies = dict(signed_in_reader.cookies)
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=slow, args=(kind, host, port, 60, ready), daemon=True)
    process.start()
    ready.wait(60)
    time.sleep(1)  # every slow client is under way
    seconds, failed = page_latencies(reader, case_path, loads)
    process.terminate()
    process.join()
    within = sum(1 for s in seconds if s <= WITHIN_S)
    return (
        f"{SLOW_CLIENTS} slow clients sending {kind}: {within} of {loads} loads within {WITHIN_S:.0f} s, "
        f"{failed} failed or over {timeout:.0f} s; {percentiles(seconds)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=80, help="uncached gallery samples (two renders each)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--flood-seconds", type=float, default=20)
    parser.add_argument("--floods", nargs="*", choices=FLOODS, default=list(FLOODS), help="which floods (default: all)")
    parser.add_argument("--no-slow-clients", action="store_true", help="leave out the slow clients")
    parser.add_argument("--limit", type=int, default=600, help="hard limit for the whole run, in seconds")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    servers = []

    def out_of_time(signum, frame):
        raise SystemExit(f"bench_production_stack: the hard limit of {args.limit} s was reached")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.limit)
    where = f"gunicorn 4x8 behind nginx (scripts/serve-production), SQLite, {os.cpu_count()} cores"

    def say(line: str) -> None:
        print("production stack: " + line, flush=True)

    try:
        env = configure(data_dir)
        case_path, uncached = build(args.samples, args.size)
        from django.db import connections

        connections.close_all()
        stack = start_production_stack(env, free_port(), 4, 8, data_dir / "run", data_dir / "serve-production.log")
        servers.append(stack)
        reader = signed_in(stack.host, stack.port, "reader", READER)
        flooder = signed_in(stack.host, stack.port, "attacker", FLOODER)
        own_case = parse(flooder.request("GET", case_path, headers={"Accept": "text/html"}))
        cached = own_case.images + own_case.prefetch
        anonymous = Browser(stack.host, stack.port, FLOODER)
        form_token = parse(anonymous.request("GET", "/accounts/login/")).form_token

        page_latencies(reader, case_path, 10)  # every worker has the page's code loaded
        say(f"another reader's case page ({where}), idle and while one participant or one address floods "
            f"for {args.flood_seconds:.0f} s:")
        for kind, urls, cookies in (
            ("uncached panels", uncached, flooder.cookies),
            ("cached panels", cached, flooder.cookies),
            ("sign-ins", [], anonymous.cookies),
        ):
            if kind in args.floods:
                say(measure_flood(kind, reader, case_path, stack, cookies, urls, form_token, args.flood_seconds))
        if args.no_slow_clients:
            return
        for kind in ("headers", "a body"):
            say("through nginx: " + measure_slow(kind, reader, case_path, stack.host, stack.port, 20, 10))
        stack.stop()

        direct = start_gunicorn(env, free_port(), 4, 8, data_dir / "gunicorn.log")
        servers.append(direct)
        say("gunicorn alone, for comparison: " + measure_slow("headers", reader, case_path, direct.host, direct.port, 5, 5))
    finally:
        signal.alarm(0)
        for server in servers:
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
