"""Every URL of the site against every kind of visitor, generated from the URL configuration.

A page added without an entry in ``WHO_MAY`` fails ``test_every_url_has_an_access_rule``; a page whose
view forgets its access check fails the matrix. Whoever is not allowed must get the sign-in page
(anonymous), 403 or 404 — never the page, and never a 400 that shows the input was processed.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from analysis.report_cache import cached_report
from analysis.report_files import ReportOptions
from annotator.models import Answer, Invitation, config_of
from tests.factories import reading_study

VISITORS = (
    "anonymous", "participant", "other_participant", "foreign_participant", "coordinator", "analyst",
    "foreign_coordinator", "foreign_analyst", "outsider",
)
SIGNED_IN = set(VISITORS) - {"anonymous"}
PARTICIPANTS = {"participant", "other_participant"}
EVERYONE = set(VISITORS)

# URL name -> the visitors who may use it. Staff-only pages (the admin) allow none of these visitors.
WHO_MAY = {
    "home": SIGNED_IN,
    "login": EVERYONE,
    "logout": EVERYONE,
    "annotator:accept_invitation": EVERYONE,
    "annotator:participant_study": PARTICIPANTS,
    "annotator:participant_background": PARTICIPANTS,
    "annotator:participant_instructions": PARTICIPANTS,
    "annotator:participant_training": PARTICIPANTS,
    "annotator:participant_practice": PARTICIPANTS,
    "annotator:participant_training_score": PARTICIPANTS,
    "annotator:participant_case": PARTICIPANTS,
    "annotator:participant_answer": PARTICIPANTS,
    "annotator:participant_submit": PARTICIPANTS,
    "annotator:participant_done": PARTICIPANTS,
    "annotator:gallery": PARTICIPANTS | {"coordinator"},
    "annotator:gallery_sample": PARTICIPANTS | {"coordinator"},
    "annotator:panel": PARTICIPANTS | {"coordinator", "analyst"},
    "annotator:coordinator_studies": {"coordinator", "foreign_coordinator"},
    "annotator:coordinator_study": {"coordinator"},
    "annotator:coordinator_invite": {"coordinator"},
    "annotator:coordinator_revoke": {"coordinator"},
    "annotator:coordinator_progress": {"coordinator"},
    "annotator:coordinator_export": {"coordinator"},
    "annotator:coordinator_gallery_visits": {"coordinator"},
}
# The analysts of another study see their own list of studies, and nothing of this one.
ANALYST_PAGES = {"analyst"}
ANALYST_LISTS = {"analysis:studies": {"analyst", "foreign_analyst"}}


def named_patterns(patterns=None, namespace: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += named_patterns(entry.url_patterns, inner)
        elif entry.name:
            found.append((f"{namespace}{entry.name}", entry))
    return found


def rule_for(name: str) -> set[str]:
    if name in ("admin:login", "admin:logout"):
        return EVERYONE
    if name.startswith("admin:"):
        return set()
    if name.startswith("analysis:"):
        return ANALYST_LISTS.get(name, ANALYST_PAGES)
    return WHO_MAY[name]


def test_every_url_has_an_access_rule():
    missing = [name for name, _ in named_patterns() if not name.startswith(("admin:", "analysis:")) and name not in WHO_MAY]
    assert not missing, f"add an access rule to WHO_MAY for: {missing}"


@pytest.fixture
def site(db):
    reading = reading_study("matrix", test_samples=3, train_samples=3)
    config = config_of(reading.study)
    config.gallery_open = True
    config.save()
    # One cohort goes through a training phase, so that its pages are served to someone.
    training = reading.other_participant.cohort
    training.training_required = True
    training.save()
    foreign = reading_study("foreign", test_samples=2, train_samples=1)
    invitation, token = Invitation.issue(reading.participant)
    for participant in (reading.participant, reading.other_participant):
        for item in reading.study.items.all():
            Answer.objects.create(participant=participant, item=item, class_index=0, display_percentiles={})
    cached_report(reading.study, ReportOptions(seed=0, repetitions=10))
    from annotator.panels import panel_urls

    panel_url = panel_urls(reading.study, reading.study.items.first().sample)["protein"]
    users = reading.visitors(foreign)
    values = {
        "study": reading.study.name,
        "number": 1,
        "pk": invitation.pk,
        "token": token,
        "class_index": reading.study.items.first().sample.class_indices[0],
        "seed": 0,
        "filename": "table2.csv",
    }
    return users, values, panel_url


def url_of(name: str, pattern: URLPattern, values: dict, panel_url: str) -> str:
    if name == "annotator:panel":
        return panel_url
    params = list(pattern.pattern.converters) or list(getattr(pattern.pattern, "regex").groupindex)
    if name.startswith("admin:"):
        fill = {"app_label": "annotator", "object_id": "1", "content_type_id": "1", "url": "x"}
        return reverse(name, kwargs={p: fill.get(p, "1") for p in params})
    unknown = [p for p in params if p not in values]
    assert not unknown, f"{name}: teach the access matrix a value for {unknown}"
    return reverse(name, kwargs={p: values[p] for p in params})


def refused(response, visitor: str) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    if response.status_code == 302:
        location = response["Location"]
        return "/login/" in location
    return False


@pytest.mark.django_db
@pytest.mark.parametrize("visitor", VISITORS)
def test_only_the_allowed_visitors_get_each_page(site, visitor):
    users, values, panel_url = site
    client = Client()
    if visitor != "anonymous":
        client.force_login(users[visitor])
    wrongly_served = []
    # Signing out last, so that the visitor stays signed in for every other page.
    for name, pattern in sorted(named_patterns(), key=lambda entry: entry[0].endswith("logout")):
        url = url_of(name, pattern, values, panel_url)
        allowed = visitor in rule_for(name)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if allowed:
                if response.status_code in (403, 404) or (
                    response.status_code == 302 and "/login/" in response["Location"] and not name.endswith("login")
                ):
                    wrongly_served.append(f"{method.upper()} {name} refused {visitor} ({response.status_code})")
            elif not refused(response, visitor):
                wrongly_served.append(f"{method.upper()} {name} served {visitor} ({response.status_code})")
    assert not wrongly_served, "\n".join(wrongly_served)
