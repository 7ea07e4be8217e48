import numpy as np
import pytest

from analysis.reader_arrays import NO_ANSWER
from analysis.report_inputs import ReportError
from analysis.study_arrays import default_model_runs, model_runs_named, study_answers
from annotator.models import Answer, Cohort, Participant
from models_zoo.models import ModelRun, Prediction
from study.models import Dataset
from tests.factories import reading_study

N_CLASSES = 13



def add_reader(study, cohort_name: str, pseudonym: str, classes: list[int | None], simulated: bool = False):
    """A participant whose answer to the study's i-th sample is ``classes[i]`` (None: not answered)."""
    cohort, _ = Cohort.objects.get_or_create(study=study, name=cohort_name)
    participant = Participant.objects.filter(study=study, pseudonym=pseudonym).first() or Participant.objects.create(
        study=study, cohort=cohort, pseudonym=pseudonym, order_seed=len(pseudonym), simulated=simulated
    )
    items = list(study.items.order_by("position"))
    Answer.objects.bulk_create(
        Answer(participant=participant, item=item, class_index=c, display_percentiles={})
        for item, c in zip(items, classes)
        if c is not None
    )
    return participant


def add_model(study, name: str, classes: list[int], single_class: bool = True, probabilities: bool = True):
    """A run predicting ``classes[i]`` for the study's i-th sample, with softmax-like probabilities."""
    run = ModelRun.objects.create(
        name=name, kind=ModelRun.Kind.FINETUNED, architecture="gapnet_pl", dataset=study.dataset, single_class=single_class
    )
    items = list(study.items.order_by("position").select_related("sample"))
    predictions = []
    for item, c in zip(items, classes):
        p = [0.02] * N_CLASSES
        p[c] = 0.76
        predictions.append(Prediction(run=run, sample=item.sample, probabilities=p if probabilities else None, classes=[c]))
    Prediction.objects.bulk_create(predictions)
    return run


def noisy(truth: np.ndarray, accuracy: float, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    wrong = rng.random(truth.size) > accuracy
    return [int((t + rng.integers(1, N_CLASSES)) % N_CLASSES) if w else int(t) for t, w in zip(truth, wrong)]


def answered_study(name: str = "answered", n_samples: int = 39):
    """A study of ``n_samples`` samples (classes 0, 1, 2, ...), three experts and four scholars who
    answered everything, and two model runs over the whole test split; the first one is the better."""
    reading = reading_study(name, test_samples=n_samples, train_samples=2)
    study = reading.study
    truth = np.arange(n_samples) % N_CLASSES
    for i, accuracy in enumerate([0.7, 0.6, 0.5]):
        add_reader(study, "expert", f"expert-{i + 1:02d}", noisy(truth, accuracy, seed=i))
    for i, accuracy in enumerate([0.5, 0.45, 0.4, 0.35]):
        add_reader(study, "scholar", f"scholar-{i + 1:02d}", noisy(truth, accuracy, seed=10 + i), simulated=i == 3)
    add_model(study, "gapnet", noisy(truth, 0.9, seed=100))
    add_model(study, "baseline", noisy(truth, 0.6, seed=101), single_class=False)
    return reading, truth


@pytest.mark.django_db
def test_it_reads_truth_answers_and_predictions_in_the_studys_sample_order():
    reading, truth = answered_study(n_samples=13)
    study = reading.study
    data = study_answers(study, [ModelRun.objects.get(name="gapnet")])

    assert data.truth.tolist() == truth.tolist()
    assert data.positions.tolist() == list(range(13))
    assert [p.pseudonym for p in data.people] == [f"expert-{i:02d}" for i in (1, 2, 3)] + [f"scholar-{i:02d}" for i in (1, 2, 3, 4)]
    first_expert = Participant.objects.get(study=study, pseudonym="expert-02")
    stored = dict(Answer.objects.filter(participant=first_expert).values_list("item__position", "class_index"))
    assert data.answers[1].tolist() == [stored[i] for i in range(13)]
    predictions = {
        p.sample.source_id: int(np.argmax(p.probabilities))
        for p in Prediction.objects.filter(run__name="gapnet").select_related("sample")
    }
    assert data.models[0].answers.tolist() == [predictions[s] for s in data.sample_ids]
    assert [p.simulated for p in data.people] == [False] * 6 + [True]
    assert [p.cohort for p in data.people] == ["expert"] * 3 + ["scholar"] * 4


@pytest.mark.django_db
def test_it_counts_missing_answers_and_predictions_per_reader():
    reading = reading_study("gaps", test_samples=5, train_samples=1)
    study = reading.study
    add_reader(study, "expert", "expert-01", [0, None, 2, None, 4])
    add_model(study, "partial", [0, 1, 2, 3, 4])
    Prediction.objects.filter(run__name="partial", sample__source_id__endswith="00004").delete()

    data = study_answers(study, [ModelRun.objects.get(name="partial")])

    assert data.answers[0].tolist() == [0, NO_ANSWER, 2, NO_ANSWER, 4]
    assert data.missing_answers() == {"expert-01": 2, "scholar-01": 5, "partial": 1}


@pytest.mark.django_db
def test_the_default_models_are_the_runs_that_predicted_every_study_sample_single_class_first():
    reading, _ = answered_study(n_samples=13)
    ModelRun.objects.create(name="aaa-empty", kind=ModelRun.Kind.IMPORTED, dataset=reading.study.dataset)

    assert [run.name for run in default_model_runs(reading.study)] == ["gapnet", "baseline"]


@pytest.mark.django_db
def test_the_test_split_gives_multi_label_truth_and_the_runs_that_cover_it():
    reading, truth = answered_study(n_samples=13)

    split = study_answers(reading.study).test_split

    assert split.truth.shape == (13, N_CLASSES)
    assert split.truth.argmax(axis=1).tolist() == truth.tolist()
    assert [run.name for run in split.runs] == ["baseline", "gapnet"]
    assert split.runs[1].probabilities.shape == (13, N_CLASSES)


@pytest.mark.django_db
def test_a_run_made_for_another_data_set_of_the_same_classes_reads_the_study_too():
    study = reading_study().study
    other = Dataset.objects.create(name="elsewhere", label_set_key=study.dataset.label_set_key)
    run = add_model(study, "released", [0, 1, 2, 3, 4, 5])
    ModelRun.objects.filter(pk=run.pk).update(dataset=other)

    assert [r.name for r in default_model_runs(study)] == ["released"]
    assert [r.name for r in model_runs_named(study, ["released"])] == ["released"]


@pytest.mark.django_db
def test_a_run_of_another_label_set_is_refused_by_name():
    study = reading_study().study
    run = add_model(study, "kaggle", [0, 1, 2, 3, 4, 5])
    ModelRun.objects.filter(pk=run.pk).update(dataset=Dataset.objects.create(name="k", label_set_key="hpa28"))

    with pytest.raises(ReportError, match="predicts the hpa28 classes, the study uses cyto13"):
        model_runs_named(study, ["kaggle"])


@pytest.mark.django_db
def test_an_assisted_study_gives_each_readers_aided_answers_with_the_suggestion_shown_and_its_times():
    # Imported here: assisted_studies builds on this module's add_model.
    from tests.analysis.assisted_studies import SECONDS_AFTER, SEQUENTIAL_READERS, SUGGESTION, sequential_study

    study = sequential_study()

    data = study_answers(study, [])

    arm = data.assisted
    names = [p.pseudonym for p in data.people]
    assert arm.design == "sequential" and arm.source == "gapnet"
    for name, (alone, final) in SEQUENTIAL_READERS.items():
        assert data.answers[names.index(name)].tolist() == alone, "the answers alone stay the report's answers"
        assert arm.aided[names.index(name)].tolist() == final
        assert arm.suggestion[names.index(name)].tolist() == SUGGESTION
    assert not arm.controlled.any()
    assert np.all(arm.seconds_after_suggestion == SECONDS_AFTER)
    assert set(arm.unaided_session.ravel()) == set(arm.aided_session.ravel()) == {1}


@pytest.mark.django_db
def test_a_study_read_unaided_has_no_aided_arm():
    reading, _ = answered_study(n_samples=13)

    assert study_answers(reading.study).assisted is None
