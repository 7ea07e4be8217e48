import pytest

from django.urls import reverse

from annotator.models import Answer
from tests.analysis.assisted_studies import sequential_study
from tests.analysis.test_study_arrays import answered_study
from tests.factories import make_user
from study.roles import COORDINATOR



def sign_in(client, user):
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")


@pytest.fixture
def reading(db):
    reading, _ = answered_study("page", n_samples=13)
    return reading


def people(reading):
    return {
        "participant": reading.participant.user,
        "other participant": reading.other_participant.user,
        "coordinator": reading.coordinator,
        "outsider": reading.outsider,
    }


def test_signed_out_visitors_are_sent_to_sign_in(client, reading):
    for url in (reverse("analysis:studies"), reverse("analysis:study_report", args=["page"])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_everyone_but_analysts_is_refused_the_pages_coordinators_included(client, reading):
    for role, user in people(reading).items():
        sign_in(client, user)
        for url in (reverse("analysis:studies"), reverse("analysis:study_report", args=["page"])):
            assert client.get(url).status_code == 403, (role, url)


def test_the_analyst_sees_the_studies_with_their_answers_and_model_runs(client, reading):
    sign_in(client, reading.analyst)

    response = client.get(reverse("analysis:studies"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "page" in page and str(Answer.objects.count()) in page
    assert "gapnet" in page and "baseline" in page


def test_the_analyst_sees_tables_2_and_3_figures_cases_and_links_to_every_file(client, reading, settings):
    sign_in(client, reading.analyst)

    response = client.get(reverse("analysis:study_report", args=["page"]), {"seed": "2", "model": "gapnet"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Table 2" in page and "Table 3" in page and "Ensemble of scholar" in page and "expert-03" in page
    assert "Model against the population of readers" in page
    assert "the result applies to experts and samples like these" in page
    assert "Fleiss&#x27; kappa" in page and "Cohen&#x27;s kappa" in page and "Accuracy per true class" in page
    built = settings.DATA_DIR / "reports" / "page" / "2"
    assert (built / "report.json").is_file()
    files = sorted(p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file() and not p.name.startswith("."))
    for name in files:
        assert reverse("analysis:report_file", args=["page", 2, name]) in page, name


def test_report_files_are_served_to_analysts_only(client, reading):
    sign_in(client, reading.analyst)
    client.get(reverse("analysis:study_report", args=["page"]), {"model": "gapnet"})
    table = reverse("analysis:report_file", args=["page", 0, "table2.csv"])
    figure = reverse("analysis:report_file", args=["page", 0, "confusion_gapnet.png"])

    response = client.get(table)
    assert response.status_code == 200
    assert b"reader,cohort,simulated" in b"".join(response.streaming_content)
    assert "attachment" in response["Content-Disposition"]
    assert client.get(figure)["Content-Type"] == "image/png"
    for user in people(reading).values():
        sign_in(client, user)
        assert client.get(table).status_code == 403
    client.logout()
    assert client.get(table).status_code == 302


def test_a_file_outside_the_report_or_of_a_report_not_built_is_not_found(client, reading):
    sign_in(client, reading.analyst)
    client.get(reverse("analysis:study_report", args=["page"]), {"model": "gapnet"})

    for name in ("../../study.sqlite3", ".key", "nothing.csv"):
        assert client.get(reverse("analysis:report_file", args=["page", 0, name])).status_code == 404, name
    assert client.get(reverse("analysis:report_file", args=["page", 7, "table2.csv"])).status_code == 404
    assert client.get(reverse("analysis:study_report", args=["no-such-study"])).status_code == 404


def test_the_report_is_built_once_and_again_when_answers_change(client, reading, settings):
    sign_in(client, reading.analyst)
    url = reverse("analysis:study_report", args=["page"])
    client.get(url, {"model": "gapnet"})
    table = settings.DATA_DIR / "reports" / "page" / "0" / "table2.csv"
    built_at = table.stat().st_mtime_ns

    client.get(url, {"model": "gapnet"})
    assert table.stat().st_mtime_ns == built_at

    answer = Answer.objects.filter(participant__pseudonym="expert-01").first()
    answer.class_index = (answer.class_index + 1) % 13
    answer.save()
    client.get(url, {"model": "gapnet"})
    assert table.stat().st_mtime_ns != built_at


def test_with_missing_answers_the_page_lists_them_and_offers_to_compute_on_what_is_there(client, reading):
    Answer.objects.filter(participant__pseudonym="expert-02", item__position__lt=4).delete()
    sign_in(client, reading.analyst)
    url = reverse("analysis:study_report", args=["page"])

    page = client.get(url, {"model": "gapnet"}).content.decode()
    assert "Answers are missing" in page and "expert-02" in page and "allow_missing=1" in page

    page = client.get(url, {"model": "gapnet", "allow_missing": "1"}).content.decode()
    assert "Table 2" in page and "missing" in page


def test_a_coordinator_who_is_also_an_analyst_sees_the_report(client, reading):
    from study.roles import ANALYST, role_group

    both = make_user("both", COORDINATOR)
    both.groups.add(role_group(ANALYST))
    sign_in(client, both)

    assert client.get(reverse("analysis:studies")).status_code == 200


def test_a_bad_seed_is_refused_with_a_message(client, reading):
    sign_in(client, reading.analyst)

    response = client.get(reverse("analysis:study_report", args=["page"]), {"seed": "abc"})

    assert response.status_code == 400 and b"seed" in response.content


def test_the_same_answers_predictions_and_options_are_served_from_the_built_report_without_computing_again(
    client, reading, monkeypatch
):
    from analysis import report_files

    computed = []
    compute = report_files.compute_report
    monkeypatch.setattr(
        report_files, "compute_report", lambda *args, **kwargs: computed.append(1) or compute(*args, **kwargs)
    )
    sign_in(client, reading.analyst)
    url = reverse("analysis:study_report", args=["page"])

    first = client.get(url, {"model": "gapnet"}).content.decode()
    second = client.get(url, {"model": "gapnet"}).content.decode()

    assert len(computed) == 1
    section = "Model against the population of readers"
    assert section in second and second.split(section)[1] == first.split(section)[1]


def test_a_margin_is_part_of_what_the_built_report_depends_on(client, reading, monkeypatch, settings):
    from analysis import report_files

    computed = []
    compute = report_files.compute_report
    monkeypatch.setattr(
        report_files,
        "compute_report",
        lambda *args, **kwargs: computed.append(kwargs["margin"]) or compute(*args, **kwargs),
    )
    sign_in(client, reading.analyst)
    url = reverse("analysis:study_report", args=["page"])

    client.get(url, {"model": "gapnet"})
    page = client.get(url, {"model": "gapnet", "margin": "0.05"}).content.decode()
    client.get(url, {"model": "gapnet", "margin": "0.05"})

    assert computed == [None, 0.05]
    assert "p non-inferior" in page and "non-inferiority margin 0.05" in page
    table = settings.DATA_DIR / "reports" / "page" / "0" / "mrmc.csv"
    assert "p_noninferiority" in table.read_text().splitlines()[0]


def test_a_bad_margin_is_refused_with_a_message(client, reading):
    sign_in(client, reading.analyst)

    response = client.get(reverse("analysis:study_report", args=["page"]), {"margin": "-0.1"})

    assert response.status_code == 400 and b"margin" in response.content


def test_the_analyst_sees_an_assisted_studys_readers_with_the_machine_and_a_changed_final_answer_rebuilds_it(
    client, db, settings
):
    study = sequential_study("assisted-page")
    analyst = make_user("assisted-page-reader", "analyst", study)
    sign_in(client, analyst)
    url = reverse("analysis:study_report", args=[study.name])

    page = client.get(url).content.decode()

    assert "Readers with the machine: aided against unaided" in page
    assert "Harmed (their interval of the change lies below 0): scholar-03." in page
    assert reverse("analysis:report_file", args=[study.name, 0, "assistance_switches.csv"]) in page
    switches = settings.DATA_DIR / "reports" / study.name / "0" / "assistance_switches.csv"
    built_at = switches.stat().st_mtime_ns
    final = Answer.readings.get(participant__pseudonym="scholar-03", item__position=0, arm="aided")
    final.class_index = 0
    final.save()
    client.get(url)
    assert switches.stat().st_mtime_ns != built_at
