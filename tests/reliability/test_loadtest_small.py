"""The load test at a tiny size, faults on: every acknowledged answer must be in the database exactly
once. It runs the real harness (PostgreSQL, gunicorn, simulated participants) as ``make loadtest``
does, so CI needs the PostgreSQL 15 server binaries."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.client import ParticipantLog
from loadtest.cluster import POSTGRES_BIN
from loadtest.verify import verify
from tests.factories import reading_study

REPOSITORY = Path(__file__).resolve().parents[2]
# The harness's own limit: a run ends as soon as its participants are done, and this is only how long it may
# take on a machine busy with other work.
DURATION_LIMIT_S = 600


def run_loadtest(report: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loadtest.run", "--report", str(report), "--duration-limit", str(DURATION_LIMIT_S),
         *options],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=DURATION_LIMIT_S + 120,
    )


def test_no_acknowledged_answer_is_lost_when_a_worker_dies_the_connections_are_cut_and_the_database_restarts(tmp_path):
    if not (POSTGRES_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 server binaries are missing from {POSTGRES_BIN}: install postgresql-15")
    report_path = tmp_path / "report.json"
    done = run_loadtest(
        report_path, "--participants", "5", "--samples", "10", "--think-ms", "20..80", "--workers", "2",
        "--threads", "4",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["verified"] and report["complete"]
    assert report["stored"] == 5 * 10
    assert report["acknowledged"] >= 5 * 10
    assert report["duplicates"] == report["missing"] == report["history_inconsistencies"] == 0
    assert report["worker_kill"]["replaced"]
    assert report["connection_cut"]["terminated"] > 0
    assert report["database_restart"]["down_s"] > 0
    assert report["panels_fetched"] == 5 * 10 * 4


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_harness_stops_everything_it_started(tmp_path):
    report_path = tmp_path / "report.json"
    done = run_loadtest(report_path, "--participants", "2", "--samples", "2", "--no-faults")
    assert done.returncode == 0, done.stdout + done.stderr
    started = json.loads(report_path.read_text())["started"]
    assert not Path(started["data_dir"]).exists()
    assert not Path(started["cluster_dir"]).exists()
    assert not is_running(started["postmaster_pid"])
    assert not is_running(started["gunicorn_pid"])


@pytest.mark.django_db
def test_the_verifier_reports_an_acknowledged_answer_that_is_not_stored():
    from annotator.answers import save_answer

    reading = reading_study("verified", test_samples=3, train_samples=0)
    participant = reading.participant
    order = participant.order()
    save_answer(participant, order[0], 4)
    save_answer(participant, order[0], 5)
    log = ParticipantLog(participant.user.username, acknowledged={1: [4, 5], 2: [7]})

    result = verify("verified", [log])

    assert result.missing == 1
    assert result.wrong_class == result.duplicates == result.history_inconsistencies == 0
    assert not result.passed


@pytest.mark.django_db
def test_the_verifier_reports_a_stored_class_other_than_the_last_acknowledged_one():
    from annotator.answers import save_answer

    reading = reading_study("verified", test_samples=3, train_samples=0)
    participant = reading.participant
    save_answer(participant, participant.order()[0], 4)
    log = ParticipantLog(participant.user.username, acknowledged={1: [4, 6]})

    result = verify("verified", [log])

    assert result.wrong_class == 1
    assert result.history_inconsistencies == 1  # the history lacks the acknowledged change to 6
    assert not result.passed
