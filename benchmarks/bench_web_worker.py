"""What a web worker costs to start: resident memory and seconds, as a gunicorn worker starts.

A fresh interpreter imports the WSGI application (settings, apps, models) and resolves every URL
of the site to its view (importing the views), as a worker does before its first request; it
reports its resident memory (VmRSS), the seconds it took and whether PyTorch was loaded. The
median of several starts is printed. ``--compare PATH`` measures another checkout of the project
the same way (say, one from before the web processes stopped loading torch), with this
interpreter; nothing is written into it.

    python benchmarks/bench_web_worker.py [--starts 5] [--compare ../other-checkout]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

START_A_WORKER = """
import json, os, sys, time
started = time.perf_counter()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
from config.wsgi import application
from django.urls import URLPattern, get_resolver

def views(resolver):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLPattern):
            yield pattern.callback
        else:
            yield from views(pattern)

resolved = len(list(views(get_resolver())))
seconds = time.perf_counter() - started
with open("/proc/self/status") as status:
    rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
print(json.dumps({"seconds": seconds, "rss_mib": rss_kib / 1024, "views": resolved, "torch": "torch" in sys.modules}))
"""


def start_once(checkout: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as data_dir:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": data_dir,
            "DATA_DIR": data_dir,
            "PYTHONDONTWRITEBYTECODE": "1",  # a checkout measured is only read
            "OMP_NUM_THREADS": "1",
        }
        done = subprocess.run(
            [sys.executable, "-c", START_A_WORKER], cwd=checkout, env=environment, capture_output=True, text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(checkout: Path, starts: int, label: str) -> None:
    start_once(checkout)  # the first start reads the files from disk; the others find them cached
    runs = [start_once(checkout) for _ in range(starts)]
    seconds = statistics.median(run["seconds"] for run in runs)
    rss = statistics.median(run["rss_mib"] for run in runs)
    torch = "loads torch" if runs[0]["torch"] else "no torch"
    print(f"web worker start ({label}): {rss:.0f} MiB resident, {seconds:.2f} s to import the site and resolve "
          f"its {runs[0]['views']} views ({torch}; median of {starts} starts, load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="another checkout of the project to measure alike")
    args = parser.parse_args()
    measure(ROOT, args.starts, "this checkout")
    if args.compare:
        measure(args.compare.resolve(), args.starts, str(args.compare))


if __name__ == "__main__":
    main()
