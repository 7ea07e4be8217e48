import io

import numpy as np
import pytest

from django.core.management import CommandError, call_command

from analysis.study_arrays import study_answers
from annotator.models import Answer, AnswerHistory, Participant
from annotator.simulation import CYTO13_CONFUSIONS, confusion_model, simulated_answers
from study.labels import CYTO13, HPA28
from study.models import Study, StudySample
from tests.factories import stored_dataset

N_SAMPLES = 200


@pytest.fixture
def study(db):
    dataset = stored_dataset("simulated", [[i % 13] for i in range(N_SAMPLES)])
    dataset.samples.update(split="test")
    study = Study.objects.create(name="simulated-study", dataset=dataset, seed=0)
    StudySample.objects.bulk_create(
        StudySample(study=study, sample=s, position=i) for i, s in enumerate(dataset.samples.order_by("source_id"))
    )
    return study


def simulate(*arguments):
    call_command("simulate_readers", "simulated-study", *arguments, stdout=io.StringIO())


def test_simulated_readers_answer_every_sample_and_are_marked_as_simulated(study):
    simulate("--cohort", "expert", "--count", "3", "--skill", "0.75", "--seed", "1")

    readers = Participant.objects.filter(study=study).order_by("pseudonym")
    assert [r.pseudonym for r in readers] == ["sim-expert-01", "sim-expert-02", "sim-expert-03"]
    assert all(r.simulated and r.user is None and r.cohort.name == "expert" for r in readers)
    assert Answer.objects.filter(participant__study=study).count() == 3 * N_SAMPLES
    assert AnswerHistory.objects.count() == 3 * N_SAMPLES
    seconds = np.array(Answer.objects.values_list("active_seconds", flat=True))
    assert seconds.min() > 0 and 10 < np.median(seconds) < 60


def test_a_more_skilled_reader_is_more_accurate(study):
    simulate("--cohort", "expert", "--count", "1", "--skill", "0.9", "--seed", "4")
    simulate("--cohort", "scholar", "--count", "1", "--skill", "0.5", "--seed", "4")

    data = study_answers(study, [])
    accuracy = {p.pseudonym: np.mean(row == data.truth) for p, row in zip(data.people, data.answers)}
    assert accuracy["sim-expert-01"] > accuracy["sim-scholar-01"]
    assert accuracy["sim-expert-01"] == pytest.approx(0.9, abs=0.07)
    assert accuracy["sim-scholar-01"] == pytest.approx(0.5, abs=0.1)


def test_mistakes_fall_mostly_on_the_classes_people_confuse():
    index = {c.key: c.index for c in CYTO13.classes}
    confusable = np.zeros((13, 13), dtype=bool)
    for first, second in CYTO13_CONFUSIONS:
        confusable[index[first], index[second]] = confusable[index[second], index[first]] = True
    truth = np.arange(13).repeat(400)

    answers = simulated_answers(truth, 0.0, confusion_model(CYTO13), np.random.default_rng(0))

    assert (answers != truth).all()
    on_confusable = confusable[truth, answers].mean()
    uniform_share = confusable.sum() / (13 * 12)
    assert on_confusable > 0.8 > 2 * uniform_share
    nucleus_mistakes = answers[truth == index["nucleus"]]
    assert np.mean(nucleus_mistakes == index["nucleoli"]) > np.mean(nucleus_mistakes == index["actin"]) * 10


def test_other_label_sets_get_a_uniform_confusion_model():
    model = confusion_model(HPA28)

    assert np.allclose(np.diagonal(model), 0)
    assert np.allclose(model[~np.eye(28, dtype=bool)], 1 / 27)


def test_the_same_seed_gives_the_same_readers_and_running_again_adds_nothing(study):
    simulate("--cohort", "expert", "--count", "2", "--skill", "0.7", "--seed", "9")
    first = list(Answer.objects.order_by("participant__pseudonym", "item__position").values_list("class_index", "active_seconds"))

    simulate("--cohort", "expert", "--count", "2", "--skill", "0.7", "--seed", "9")
    assert Answer.objects.count() == 2 * N_SAMPLES

    Participant.objects.filter(study=study).delete()
    simulate("--cohort", "expert", "--count", "2", "--skill", "0.7", "--seed", "9")
    again = list(Answer.objects.order_by("participant__pseudonym", "item__position").values_list("class_index", "active_seconds"))
    assert again == first

    Participant.objects.filter(study=study).delete()
    simulate("--cohort", "expert", "--count", "2", "--skill", "0.7", "--seed", "10")
    other = list(Answer.objects.order_by("participant__pseudonym", "item__position").values_list("class_index", "active_seconds"))
    assert other != first


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--cohort", "expert", "--count", "0", "--skill", "0.7"], "--count 0"),
        (["--cohort", "expert", "--count", "2", "--skill", "1.5"], "--skill 1.5"),
        (["--cohort", "bad name", "--count", "2", "--skill", "0.5"], "--cohort 'bad name'"),
    ],
)
def test_bad_arguments_are_refused_by_name(study, arguments, message):
    with pytest.raises(CommandError, match=message):
        simulate(*arguments)
    assert not Participant.objects.exists()


@pytest.fixture
def study_with_repeats_and_questions(study):
    from annotator.models import config_of

    config = config_of(study)
    config.repeated_cases = 10
    config.background_fields = [
        {"key": "years", "label": "Years of experience", "kind": "number", "options": [], "required": True},
        {"key": "field", "label": "Field", "kind": "choice", "options": ["biology", "pathology"], "required": True},
        {"key": "note", "label": "Anything else", "kind": "text", "options": [], "required": False},
    ]
    config.save()
    return study


def test_simulated_readers_read_the_repeated_cases_twice_mostly_alike(study_with_repeats_and_questions):
    from annotator.reader_data import repeat_readings

    simulate("--cohort", "expert", "--count", "4", "--skill", "0.7", "--seed", "3")

    assert Answer.readings.filter(participant__study=study_with_repeats_and_questions).count() == 4 * (N_SAMPLES + 10)
    assert Answer.objects.count() == 4 * N_SAMPLES, "the comparison sees first readings only"
    readings = repeat_readings(study_with_repeats_and_questions)
    assert set(readings) == {f"sim-expert-0{i}" for i in range(1, 5)} and all(len(r) == 10 for r in readings.values())
    agree = np.mean([pair.first == pair.second for reader in readings.values() for pair in reader])
    assert 0.6 < agree < 1.0, "consistent, with some noise"
    for participant in Participant.objects.filter(study=study_with_repeats_and_questions):
        answers = list(Answer.readings.filter(participant=participant))
        assert all(a.active_seconds > 0 for a in answers)
        by_number = {case.number: case for case in participant.cases()}
        times = {(a.item_id, a.repeat): a.answered_at for a in answers}
        in_order = [times[(by_number[n].item.pk, by_number[n].repeat)] for n in sorted(by_number)]
        assert in_order == sorted(in_order), "answered one after another in the reader's own order"


def test_simulated_readers_answer_the_background_form(study_with_repeats_and_questions):
    from annotator.reader_data import reader_covariates

    simulate("--cohort", "expert", "--count", "2", "--skill", "0.9", "--seed", "3")
    simulate("--cohort", "scholar", "--count", "2", "--skill", "0.4", "--seed", "3")

    covariates = reader_covariates(study_with_repeats_and_questions)
    assert len(covariates) == 4
    for pseudonym, values in covariates.items():
        assert isinstance(values["years"], int) and values["years"] >= 0
        assert values["field"] in ("biology", "pathology")
        assert values["note"] == f"simulated reader {pseudonym}"
    experts = np.mean([v["years"] for p, v in covariates.items() if "expert" in p])
    scholars = np.mean([v["years"] for p, v in covariates.items() if "scholar" in p])
    assert experts > scholars


@pytest.fixture
def sequential_study(db):
    from tests.analysis.test_study_arrays import add_model
    from tests.factories import reading_study

    reading = reading_study("sim-assisted", test_samples=26, train_samples=0)
    # The model is right on the first 20 cases and suggests class 0 on the last 6.
    add_model(reading.study, "gapnet", [i % 13 for i in range(20)] + [0] * 6)
    call_command("set_assistance", "sim-assisted", "sequential", "--suggestions", "gapnet")
    return reading.study


def test_in_a_sequential_study_each_simulated_reader_answers_alone_then_beside_the_suggestion(sequential_study):
    call_command("simulate_readers", "sim-assisted", "--cohort", "scholar", "--count", "2", "--skill", "0.5", "--reliance", "1", stdout=io.StringIO())
    for participant in Participant.objects.filter(study=sequential_study, simulated=True):
        alone = {a.item_id: a for a in Answer.readings.filter(participant=participant, arm="unaided")}
        aided = {a.item_id: a for a in Answer.readings.filter(participant=participant, arm="aided")}
        assert set(alone) == set(aided) and len(aided) == 26
        for item_id, final in aided.items():
            assert final.class_index == final.suggested_class, "reliance 1 takes every suggestion"
            assert final.suggestion_shown_at == alone[item_id].answered_at < final.answered_at


def test_a_reader_who_never_relies_keeps_their_answers(sequential_study):
    call_command("simulate_readers", "sim-assisted", "--cohort", "expert", "--count", "1", "--skill", "0.5", "--reliance", "0", stdout=io.StringIO())
    pairs = Answer.readings.filter(participant__study=sequential_study).values_list("item_id", "arm", "class_index")
    by_arm = {arm: {item: c for item, a, c in pairs if a == arm} for arm in ("unaided", "aided")}
    assert by_arm["unaided"] == by_arm["aided"]


def test_reliance_is_a_probability(sequential_study):
    with pytest.raises(CommandError, match="--reliance 1.5"):
        call_command("simulate_readers", "sim-assisted", "--cohort", "expert", "--count", "1", "--skill", "0.5", "--reliance", "1.5")
