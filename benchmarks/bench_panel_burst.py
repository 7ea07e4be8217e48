"""A participant's burst of uncached panel requests against another reader's case page, on gunicorn.

The attack: one participant asks for gallery panels that nobody has looked at yet, 64 requests at a
time, a new batch as soon as the last one is answered (a 503 is asked again in a later batch). The
site renders each sample once and one render at a time per person (``annotator.panel_cache``), so
the burst should cost the other readers little. Meanwhile another reader reloads a case page; the
benchmark prints its latency idle and during the burst.

The site runs as in production (gunicorn with 4 workers of 8 threads, DEBUG off, the database cache)
on 127.0.0.1 only, over SQLite in a temporary folder that is removed afterwards, with a hard limit
on the whole run. Run: ``.venv/bin/python benchmarks/bench_panel_burst.py``
"""

import argparse
import os
import queue
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest.client import Browser, ConnectionFailure, parse  # noqa: E402
from loadtest.cluster import free_port  # noqa: E402
from loadtest.server import site_environment, start_gunicorn  # noqa: E402

PASSWORD = "bench-burst-password-1"
BATCH = 64
READER_PAUSE_S = 0.05


def configure(data_dir: Path) -> dict[str, str]:
    env = site_environment(f"sqlite:///{data_dir / 'bench.sqlite3'}", data_dir, secrets.token_urlsafe(50), conn_max_age=60)
    os.environ.update(env)
    import django

    django.setup()
    return env


def build(samples: int, size: int):
    """A study of a few test samples read by ``reader``, and ``samples`` training samples in its
    gallery for ``attacker``; returns the reader's case path and the attacker's panel URLs."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from annotator.models import Cohort, Participant, config_of
    from annotator.panels import panel_urls, prerender_study
    from study.models import Dataset, ReferenceLabel, Sample, Study, StudySample
    from study.store import sample_store
    from synthetic.dataset import dataset_sample

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    dataset = Dataset.objects.create(name="burst", label_set_key="cyto13")
    store = sample_store()
    rows = []
    for i in range(samples + 4):
        synthetic = dataset_sample(0, i, size)
        store.write(f"burst/{i}.npy", synthetic.image)
        split = "test" if i < 4 else "train"
        rows.append((synthetic, Sample.objects.create(
            dataset=dataset, source_id=synthetic.id, height=size, width=size, bit_depth=16,
            store_key=f"burst/{i}.npy", split=split,
        )))
    for synthetic, sample in rows:
        ReferenceLabel.objects.create(sample=sample, class_index=synthetic.locations[0])
    study = Study.objects.create(name="burst", dataset=dataset, seed=0)
    for position, (_, sample) in enumerate(rows[:4]):
        StudySample.objects.create(study=study, sample=sample, position=position)
    config_of(study)
    cohort = Cohort.objects.create(study=study, name="expert")
    for number, name in enumerate(("reader", "attacker")):
        user = User.objects.create_user(name, password=PASSWORD)
        Participant.objects.create(study=study, cohort=cohort, user=user, pseudonym=f"expert-{number:02d}", order_seed=number)
    # The reader's panels are cached: what is timed is the case page itself.
    prerender_study(study)
    urls = [
        panel_urls(study, sample, resolution)["protein"]
        for _, sample in rows[4:]
        for resolution in ("display", "full")
    ]
    return "/s/burst/case/1/", urls


def signed_in(host: str, port: int, username: str) -> Browser:
    browser = Browser(host, port)
    token = parse(browser.request("GET", "/accounts/login/")).form_token
    form = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD}).encode()
    answer = browser.request(
        "POST", "/accounts/login/", form,
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": browser.origin,
         "Referer": browser.origin + "/accounts/login/"},
    )
    if answer.status != 302:
        raise SystemExit(f"signing in {username} answered {answer.status}")
    return browser


def page_latencies(browser: Browser, path: str, until: threading.Event | float) -> list[float]:
    """Reload the case page every READER_PAUSE_S until ``until`` (an event or a number of loads)."""
    seconds = []
    while (not until.is_set()) if isinstance(until, threading.Event) else len(seconds) < until:
        started = time.perf_counter()
        response = browser.request("GET", path, headers={"Accept": "text/html"})
        seconds.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"the reader's case page answered {response.status}")
        time.sleep(READER_PAUSE_S)
    return seconds


def burst(attacker: Browser, urls: list[str], seconds: float, statuses: dict[int, int]) -> None:
    """Batches of BATCH requests at once, each on its own connection, until every URL has been
    served or the time is up."""
    waiting = queue.SimpleQueue()
    for url in urls:
        waiting.put(url)
    end = time.monotonic() + seconds
    lock = threading.Lock()

    def fetch(url: str) -> None:
        browser = Browser(attacker.host, attacker.port)
        browser.cookies = dict(attacker.cookies)
        try:
            status = browser.request("GET", url, headers={"Accept": "image/*"}).status
        except ConnectionFailure:
            status = 0
        finally:
            browser.close()
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
        if status != 200:
            waiting.put(url)

    while time.monotonic() < end and not waiting.empty():
        batch = []
        while len(batch) < BATCH and not waiting.empty():
            batch.append(waiting.get())
        threads = [threading.Thread(target=fetch, args=(url,)) for url in batch]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def cpu_busy_seconds() -> float:
    """Seconds all cores have spent not idle since boot (from /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def percentiles(seconds: list[float]) -> str:
    p50, p95 = np.percentile(np.array(seconds) * 1000, [50, 95])
    return f"p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(seconds)} loads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=80, help="uncached gallery samples (two renders each)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--burst-seconds", type=float, default=20)
    parser.add_argument("--limit", type=int, default=300, help="hard limit for the whole run, in seconds")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    server = None

    def out_of_time(signum, frame):
        raise SystemExit(f"bench_panel_burst: the hard limit of {args.limit} s was reached")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.limit)
    try:
        env = configure(data_dir)
        case_path, urls = build(args.samples, args.size)
        from django.db import connections

        connections.close_all()
        server = start_gunicorn(env, free_port(), 4, 8, data_dir / "gunicorn.log")
        reader = signed_in(server.host, server.port, "reader")
        attacker = signed_in(server.host, server.port, "attacker")
        page_latencies(reader, case_path, 10)  # warm up: every worker has the page's code loaded
        idle = page_latencies(reader, case_path, 100)

        statuses: dict[int, int] = {}
        done = threading.Event()
        attack = threading.Thread(target=lambda: (burst(attacker, urls, args.burst_seconds, statuses), done.set()))
        busy_before, started = cpu_busy_seconds(), time.monotonic()
        attack.start()
        during = page_latencies(reader, case_path, done)
        attack.join()
        elapsed = time.monotonic() - started
        cpu_share = (cpu_busy_seconds() - busy_before) / elapsed / os.cpu_count()
    finally:
        signal.alarm(0)
        if server is not None:
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    where = f"gunicorn 4x8 on 127.0.0.1, SQLite, {os.cpu_count()} cores"
    ratio = np.percentile(during, 95) / np.percentile(idle, 95)
    print(f"panel burst: another reader's case page, idle: {percentiles(idle)} ({where})")
    print(f"panel burst: the same page during the burst: {percentiles(during)}; p95 x{ratio:.1f} the idle one ({where})")
    print(
        f"panel burst: the burst, {BATCH} uncached {args.size}x{args.size} panel requests at a time for "
        f"{elapsed:.1f} s: {statuses.get(200, 0)} served, {statuses.get(503, 0)} answered 503 and "
        f"{statuses.get(429, 0)} 429 (too many of the session's at once; all asked again later), "
        f"{sum(v for k, v in statuses.items() if k not in (200, 429, 503))} other; "
        f"{len(urls)} panels in all; cores {cpu_share:.0%} busy ({where})"
    )


if __name__ == "__main__":
    main()
