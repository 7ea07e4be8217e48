"""The load test through the production stack (``--through-proxy``: nginx in front of gunicorn, as
``scripts/serve-production`` runs it), participants at addresses of their own, faults on: nothing
acknowledged is lost, every participant finishes, and everything started is stopped."""

import json
import subprocess
import sys
from pathlib import Path

from tests.reliability.test_loadtest_small import is_running

REPOSITORY = Path(__file__).resolve().parents[2]


def test_through_nginx_every_acknowledged_answer_is_stored_once_and_everything_is_stopped(tmp_path):
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "loadtest.run", "--report", str(report_path), "--through-proxy", "--addresses", "5",
            "--participants", "5", "--samples", "10", "--think-ms", "20..80", "--workers", "2", "--threads", "4",
            "--duration-limit", "240",
        ],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["served_by"].startswith("nginx in front of gunicorn")
    assert report["verified"] and report["complete"] and report["stored"] == 5 * 10
    assert report["worker_kill"]["replaced"]
    assert not any(is_running(report["started"][name]) for name in ("gunicorn_pid", "serve_production_pid"))
    assert not Path(report["started"]["data_dir"]).exists()
