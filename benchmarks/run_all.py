"""Run every benchmark script in this folder and print their figures."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failures = 0
for script in sorted(here.glob("bench_*.py")):
    print(f"== {script.stem}", flush=True)
    failures += subprocess.call([sys.executable, str(script)]) != 0
sys.exit(1 if failures else 0)
