"""manage.py invite: one full link per line, usable once."""

from io import StringIO

import pytest

from django.core.management import CommandError, call_command

from annotator.models import Invitation
from tests.factories import reading_study


@pytest.fixture
def reading(db):
    return reading_study("cmd-invite", test_samples=2, train_samples=0)


def run_invite(*args, **options):
    out, err = StringIO(), StringIO()
    call_command("invite", *args, stdout=out, stderr=err, **options)
    return out.getvalue().splitlines(), err.getvalue()


def test_it_prints_one_usable_link_per_line_under_the_base_url(reading):
    lines, err = run_invite(reading.study.name, cohort="expert", count=3, base_url="https://study.example.org/")
    assert len(lines) == 3
    prefix = "https://study.example.org/invitation/"
    for line in lines:
        assert line.startswith(prefix) and line.endswith("/")
        invitation = Invitation.find_usable(line.removeprefix(prefix).rstrip("/"))
        assert invitation is not None and invitation.participant.cohort.name == "expert"
    assert "expert-02, expert-03, expert-04" in err


def test_the_default_base_url_is_the_local_server(reading):
    lines, _ = run_invite(reading.study.name, cohort="scholar")
    assert len(lines) == 1 and lines[0].startswith("http://127.0.0.1:8000/invitation/")


def test_a_new_cohort_is_created(reading):
    run_invite(reading.study.name, cohort="novice", count=1)
    assert reading.study.participants.get(pseudonym="novice-01").cohort.name == "novice"


@pytest.mark.parametrize(
    "args, options, words",
    [
        (["no-such-study"], {"cohort": "expert"}, "no study named 'no-such-study'"),
        (["cmd-invite"], {"cohort": "two words"}, "cohort 'two words'"),
        (["cmd-invite"], {"cohort": "expert", "count": 0}, "count"),
        (["cmd-invite"], {"cohort": "expert", "base_url": "study.example.org"}, "--base-url"),
    ],
)
def test_bad_arguments_give_a_clear_error_and_invite_nobody(reading, args, options, words):
    before = Invitation.objects.count()
    with pytest.raises(CommandError, match=words):
        run_invite(*args, **options)
    assert Invitation.objects.count() == before
