"""`grant`: a staff role for named studies or for every study, and what each sees."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from study.models import StudyRole
from study.roles import ANALYST, COORDINATOR, has_role_for, studies_for
from tests.factories import make_user, reading_study


@pytest.fixture
def two_studies(db):
    return reading_study("ours", test_samples=2, train_samples=0), reading_study("theirs", test_samples=2, train_samples=0)


def grant(*args):
    call_command("grant", *args)


def test_it_gives_a_role_for_the_named_studies_only(two_studies):
    ours, theirs = two_studies
    grant("coordinator", "carol", "--study", "ours", "--create")
    carol = User.objects.get(username="carol")
    assert has_role_for(carol, COORDINATOR, ours.study)
    assert not has_role_for(carol, COORDINATOR, theirs.study)
    assert not has_role_for(carol, ANALYST, ours.study)
    assert list(studies_for(carol, COORDINATOR)) == [ours.study]


def test_it_gives_several_studies_at_once(two_studies):
    grant("analyst", "dan", "--study", "ours", "--study", "theirs", "--create")
    assert set(studies_for(User.objects.get(username="dan"), ANALYST).values_list("name", flat=True)) == {"ours", "theirs"}


def test_all_studies_holds_for_studies_made_later(two_studies):
    grant("coordinator", "head", "--all-studies", "--create")
    later = reading_study("later", test_samples=2, train_samples=0)
    assert has_role_for(User.objects.get(username="head"), COORDINATOR, later.study)


def test_a_role_given_through_the_group_before_keeps_working_for_every_study(two_studies):
    ours, theirs = two_studies
    veteran = make_user("veteran", COORDINATOR)
    assert has_role_for(veteran, COORDINATOR, ours.study) and has_role_for(veteran, COORDINATOR, theirs.study)


def test_revoking_takes_the_named_study_away(two_studies):
    ours, _ = two_studies
    grant("coordinator", "carol", "--study", "ours", "--study", "theirs", "--create")
    grant("coordinator", "carol", "--study", "ours", "--revoke")
    assert list(StudyRole.objects.filter(user__username="carol").values_list("study__name", flat=True)) == ["theirs"]


def test_it_asks_which_studies(two_studies):
    with pytest.raises(CommandError, match="--study NAME .* or --all-studies"):
        grant("coordinator", "carol", "--create")


def test_it_names_an_unknown_study(two_studies):
    with pytest.raises(CommandError, match="no study named 'nope'"):
        grant("coordinator", "carol", "--study", "ours", "--study", "nope", "--create")
    assert not User.objects.filter(username="carol").exists()


def test_a_coordinator_lists_and_opens_only_their_studies(client, two_studies):
    ours, theirs = two_studies
    client.force_login(ours.coordinator)
    listing = client.get(reverse("annotator:coordinator_studies")).text
    assert reverse("annotator:coordinator_study", args=["ours"]) in listing
    assert reverse("annotator:coordinator_study", args=["theirs"]) not in listing
    assert client.get(reverse("annotator:coordinator_export", args=["theirs"])).status_code == 404
    assert client.get(reverse("annotator:coordinator_progress", args=["theirs"])).status_code == 404


def test_an_analyst_lists_and_opens_only_their_studies(client, two_studies):
    ours, theirs = two_studies
    client.force_login(ours.analyst)
    listing = client.get(reverse("analysis:studies")).text
    assert reverse("analysis:study_report", args=["ours"]) in listing
    assert reverse("analysis:study_report", args=["theirs"]) not in listing
    assert client.get(reverse("analysis:study_report", args=["theirs"])).status_code == 404
