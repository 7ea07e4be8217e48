"""A sequential assisted study: the coordinator freezes a model's suggestions into it; per case the reader
answers alone, that answer is locked, the suggestion appears (stamped by the server), and the reader gives
the final answer."""

import csv
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotator.answers import save_answer
from annotator.models import Answer, Arm, CaseOpening, Suggestion
from tests.analysis.test_study_arrays import add_model
from tests.annotator.openings import opened_an_hour_ago
from tests.factories import reading_study

N_SAMPLES = 8


@pytest.fixture
def reading(db):
    reading = reading_study("assisted", test_samples=N_SAMPLES, train_samples=0)
    # The model is right on every case but the last two (truth: classes 0, 1, 2, ...).
    add_model(reading.study, "gapnet", [0, 1, 2, 3, 4, 5, 0, 0])
    return reading


@pytest.fixture
def sequential(reading):
    call_command("set_assistance", "assisted", "sequential", "--suggestions", "gapnet")
    opened_an_hour_ago(reading.participant)
    return reading


def post(client, number, body):
    url = reverse("annotator:participant_answer", args=["assisted", number])
    return client.post(url, json.dumps(body), content_type="application/json")


def case_page(client, number):
    return client.get(reverse("annotator:participant_case", args=["assisted", number]))


def test_setting_the_assistance_freezes_one_suggestion_per_case(sequential):
    suggestions = {s.item.position: s for s in Suggestion.objects.filter(study=sequential.study)}
    assert len(suggestions) == N_SAMPLES
    assert [suggestions[p].class_index for p in range(N_SAMPLES)] == [0, 1, 2, 3, 4, 5, 0, 0]
    assert suggestions[3].probability == pytest.approx(0.76) and suggestions[3].source == "model"
    assert sequential.study.assistance.design == "sequential" and sequential.study.assistance.source == "gapnet"


def test_a_run_without_a_prediction_for_every_case_is_refused_naming_how_many(reading):
    from models_zoo.models import Prediction

    Prediction.objects.filter(run__name="gapnet", sample__study_items__position__in=[1, 2, 3]).delete()
    with pytest.raises(CommandError, match="run 'gapnet' has no prediction for 3 of study assisted's 8 samples"):
        call_command("set_assistance", "assisted", "sequential", "--suggestions", "gapnet")
    assert not Suggestion.objects.exists()


def test_the_assistance_is_fixed_once_anyone_has_answered(sequential):
    save_answer(sequential.participant, sequential.study.items.first(), 1)
    with pytest.raises(CommandError, match="participants have answered already"):
        call_command("set_assistance", "assisted", "none")
    assert sequential.study.assistance.design == "sequential"


def test_an_assisted_design_needs_a_run(reading):
    with pytest.raises(CommandError, match="needs --suggestions RUN"):
        call_command("set_assistance", "assisted", "sequential")


def test_controlled_suggestions_show_the_runner_up_on_cases_the_model_gets_right(reading):
    call_command("set_assistance", "assisted", "sequential", "--suggestions", "gapnet", "--controlled", "0.25")
    controlled = list(Suggestion.objects.filter(source="controlled").select_related("item__sample"))
    assert len(controlled) == 2
    for suggestion in controlled:
        assert suggestion.class_index != suggestion.item.sample.class_indices[0], "a controlled suggestion is wrong"
        assert suggestion.probability == pytest.approx(0.02), "the runner-up's probability"


def test_more_controlled_cases_than_the_model_gets_right_is_refused(reading):
    add_model(reading.study, "weak", [0, 1, 2, 0, 0, 0, 0, 0])
    with pytest.raises(CommandError, match="it gets 3 right: at most 0.38"):
        call_command("set_assistance", "assisted", "sequential", "--suggestions", "weak", "--controlled", "0.5")
    assert not Suggestion.objects.exists()


def test_the_case_page_shows_no_suggestion_before_the_answer_alone(client, sequential):
    client.force_login(sequential.participant.user)
    page = case_page(client, 1).text
    assert 'id="suggestion"' not in page and "The model suggests" not in page
    assert 'data-arm="unaided"' in page and 'data-waits-for-save="true"' in page
    assert not CaseOpening.objects.filter(arm=Arm.AIDED).exists()


def test_after_the_answer_alone_the_page_shows_the_suggestion_and_stamps_when(client, sequential):
    participant = sequential.participant
    client.force_login(participant.user)
    reply = post(client, 1, {"class_index": 4, "arm": "unaided"})
    assert reply.status_code == 200 and reply.json()["finished"] is False
    item = participant.order()[0]
    page = case_page(client, 1).text
    suggestion = Suggestion.objects.get(item=item)
    name = sequential.study.label_set.by_index(suggestion.class_index).name
    assert re.search(rf"The model suggests <strong>{name}</strong> \(76%\)", page)
    assert "Your answer alone: <strong>Golgi apparatus</strong> (locked)" in page
    assert 'data-arm="aided"' in page
    shown = CaseOpening.objects.get(participant=participant, item=item, arm=Arm.AIDED)
    reply = post(client, 1, {"class_index": suggestion.class_index, "arm": "aided"})
    assert reply.status_code == 200 and reply.json()["finished"] is True and reply.json()["answered"] == 1
    aided = Answer.readings.get(participant=participant, item=item, arm=Arm.AIDED)
    assert (aided.suggested_class, aided.suggestion_probability, aided.suggestion_source) == (
        suggestion.class_index, pytest.approx(0.76), "model"
    )
    assert aided.suggestion_shown_at == shown.opened_at
    assert aided.seconds_before_suggestion >= 3599 and aided.seconds_after_suggestion >= 0
    alone = Answer.readings.get(participant=participant, item=item, arm=Arm.UNAIDED)
    assert alone.class_index == 4 and alone.suggested_class is None


def test_the_answer_alone_is_locked_once_the_suggestion_was_shown(client, sequential):
    client.force_login(sequential.participant.user)
    post(client, 1, {"class_index": 4, "arm": "unaided"})
    case_page(client, 1)
    reply = post(client, 1, {"class_index": 7, "arm": "unaided"})
    assert reply.status_code == 409 and "Your answer alone is locked" in reply.json()["error"]
    assert post(client, 1, {"class_index": 4, "arm": "unaided"}).status_code == 200, "the same answer again is no change"
    assert Answer.readings.get(arm=Arm.UNAIDED).class_index == 4


def test_an_aided_answer_needs_the_answer_alone_and_the_suggestion_shown(client, sequential):
    client.force_login(sequential.participant.user)
    reply = post(client, 2, {"class_index": 1, "arm": "aided"})
    assert reply.status_code == 409 and "Answer the case alone first" in reply.json()["error"]
    post(client, 2, {"class_index": 1, "arm": "unaided"})
    reply = post(client, 2, {"class_index": 1, "arm": "aided"})
    assert reply.status_code == 409 and "has not been shown" in reply.json()["error"]
    assert not Answer.readings.filter(arm=Arm.AIDED).exists()


def test_an_unassisted_study_takes_no_aided_answer(client, reading):
    opened_an_hour_ago(reading.participant)
    client.force_login(reading.participant.user)
    reply = post(client, 1, {"class_index": 1, "arm": "aided"})
    assert reply.status_code == 400 and "shows no suggestions" in reply.json()["error"]


def test_the_comparison_with_the_model_reads_the_answers_alone(client, sequential):
    participant = sequential.participant
    client.force_login(participant.user)
    post(client, 1, {"class_index": 4, "arm": "unaided"})
    case_page(client, 1)
    post(client, 1, {"class_index": 9, "arm": "aided"})
    assert list(participant.answers.values_list("class_index", flat=True)) == [4]


def test_test_retest_compares_the_two_readings_alone_not_those_beside_the_suggestion(client, reading):
    from annotator.models import config_of
    from annotator.reader_data import repeat_readings

    config = config_of(reading.study)
    config.repeated_cases = 2
    config.save()
    call_command("set_assistance", "assisted", "sequential", "--suggestions", "gapnet")
    participant = reading.participant
    opened_an_hour_ago(participant)
    cases = participant.cases()
    read_sequentially(client, participant, [case.number for case in cases], alone=4, final=7)
    pairs = repeat_readings(reading.study)[participant.pseudonym]
    assert len(pairs) == 2 and all((pair.first, pair.second) == (4, 4) for pair in pairs)
    # A second reading alone that is missing leaves its case out, whatever was answered beside the suggestion.
    second_alone = Answer.readings.filter(participant=participant, repeat=1, arm=Arm.UNAIDED).first()
    Answer.readings.filter(pk=second_alone.pk).delete()
    assert len(repeat_readings(reading.study)[participant.pseudonym]) == 1


def read_sequentially(client, participant, numbers, alone=4, final=None):
    client.force_login(participant.user)
    for number in numbers:
        post(client, number, {"class_index": alone, "arm": "unaided"})
        case_page(client, number)
        suggestion = Suggestion.objects.get(item=participant.case_at(number).item)
        post(client, number, {"class_index": suggestion.class_index if final is None else final, "arm": "aided"})


def test_the_export_has_both_readings_with_the_suggestion(client, sequential, tmp_path):
    from annotator.answer_files import export_answers

    read_sequentially(client, sequential.participant, [1, 2])
    path = tmp_path / "answers.csv"
    assert export_answers(sequential.study, path) == 4
    rows = list(csv.DictReader(path.open()))
    assert [row["arm"] for row in rows] == ["unaided", "aided", "unaided", "aided"]
    assert rows[0]["suggested_class"] == "" and rows[1]["suggestion_source"] == "model"
    assert float(rows[1]["suggestion_probability"]) == pytest.approx(0.76)
    assert float(rows[1]["seconds_before_suggestion"]) >= 3599 and rows[1]["seconds_after_suggestion"] != ""


@pytest.fixture
def second(reading):
    """The same samples in a second study read sequentially with the same model."""
    from study.models import Study, StudySample

    study = Study.objects.create(name="assisted-again", dataset=reading.study.dataset, seed=0)
    StudySample.objects.bulk_create(StudySample(study=study, sample=i.sample, position=i.position) for i in reading.study.items.all())
    call_command("set_assistance", "assisted-again", "sequential", "--suggestions", "gapnet")
    return study


def test_an_export_imports_into_a_study_with_the_same_suggestions(client, sequential, second, tmp_path):
    from annotator.answer_files import export_answers, import_answers

    read_sequentially(client, sequential.participant, [1, 2, 3])
    path = tmp_path / "answers.csv"
    export_answers(sequential.study, path)
    assert import_answers(second, path) == 6
    aided = Answer.readings.filter(participant__study=second, arm=Arm.AIDED)
    assert aided.count() == 3 and all(a.suggested_class is not None for a in aided)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda rows: [{k: v for k, v in row.items() if k != "arm"} for row in rows], "give each answer's arm"),
        (lambda rows: [{**row, "suggested_class": "12"} if row["arm"] == "aided" else row for row in rows],
         "line 3, column 15 (suggested_class): '12' is not the suggestion frozen"),
        (lambda rows: [row for row in rows if not (row["arm"] == "unaided" and row["position"] == "1")],
         "line 2, column 13 (arm): expert-01 has no answer alone"),
        (lambda rows: [{**row, "arm": "later"} for row in rows], "line 2, column 13 (arm): 'later'"),
    ],
)
def test_a_bad_assisted_file_is_refused_naming_the_line(client, sequential, second, tmp_path, change, words):
    from annotator.answer_files import export_answers, import_answers
    from study.operations import OperationError

    read_sequentially(client, sequential.participant, [1, 2])
    path = tmp_path / "answers.csv"
    export_answers(sequential.study, path)
    rows = change(list(csv.DictReader(path.open())))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(OperationError, match=re.escape(words)):
        import_answers(second, path)
    assert not Answer.readings.filter(participant__study=second).exists()


def assistance_form(**changes):
    data = {"action": "assistance", "assistance-design": "sequential", "assistance-run": "gapnet",
            "assistance-controlled_fraction": "0", "assistance-block_size": "10", "assistance-washout_days": "28",
            "assistance-aided_instructions": ""}
    data.update({f"assistance-{key}": value for key, value in changes.items()})
    return data


def test_the_coordinator_sets_the_assistance_on_the_study_page(client, reading):
    client.force_login(reading.coordinator)
    page = reverse("annotator:coordinator_study", args=["assisted"])
    assert '<option value="gapnet">gapnet</option>' in client.get(page).text
    response = client.post(page, assistance_form())
    assert response.status_code == 302
    assert Suggestion.objects.filter(study=reading.study).count() == N_SAMPLES
    assert "Now: <strong>sequential</strong>, the suggestions of <strong>gapnet</strong>" in client.get(page).text


def test_the_study_page_refuses_a_run_without_every_prediction_saying_how_many(client, reading):
    from models_zoo.models import Prediction

    Prediction.objects.filter(run__name="gapnet", sample__study_items__position=0).delete()
    client.force_login(reading.coordinator)
    page = reverse("annotator:coordinator_study", args=["assisted"])
    assert "gapnet (7 of 8 samples)" in client.get(page).text
    response = client.post(page, assistance_form())
    assert response.status_code == 400 and "has no prediction for 1 of study assisted&#x27;s 8 samples" in response.text
    assert not Suggestion.objects.exists()


def test_the_study_page_shows_the_assistance_fixed_once_anyone_answered(client, sequential):
    save_answer(sequential.participant, sequential.study.items.first(), 1)
    client.force_login(sequential.coordinator)
    page = client.get(reverse("annotator:coordinator_study", args=["assisted"])).text
    assert "Fixed: participants have answered already." in page
    assert re.search(r'<select name="assistance-design"[^>]*disabled', page)
    assert 'value="assistance"' not in page


def test_the_instructions_say_how_the_suggestions_come_and_are_recorded(client, reading):
    from annotator.assistance import AssistanceSettings, set_assistance
    from annotator.models import InstructionsSeen

    set_assistance(reading.study, AssistanceSettings("sequential", "gapnet", aided_instructions="The model is right about 9 times in 10."))
    client.force_login(reading.participant.user)
    text = client.get(reverse("annotator:participant_instructions", args=["assisted"])).text
    assert "For each sample you first give your own answer. It is then locked" in text
    assert "The model is right about 9 times in 10." in text
    seen = set(InstructionsSeen.objects.filter(participant=reading.participant).values_list("text", flat=True))
    assert "The model is right about 9 times in 10." in seen


def test_after_submitting_a_study_with_controlled_suggestions_participants_are_told(client, reading):
    from annotator.answers import submit

    call_command("set_assistance", "assisted", "sequential", "--suggestions", "gapnet", "--controlled", "0.25")
    submit(reading.participant)
    client.force_login(reading.participant.user)
    text = client.get(reverse("annotator:participant_done", args=["assisted"])).text
    assert "in 2 of the 8 samples the suggestion was\\nchosen on purpose to be wrong".replace("\\n", "\n") in text
