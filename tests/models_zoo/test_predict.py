import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo.models import ModelRun, Prediction
from models_zoo.runs import load_run_model
from models_zoo.tiling import predict_whole_image
from models_zoo.training.metrics import predicted_classes
from study.models import Sample, Study, StudySample
from study.store import TrainingStore, zscore
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db

CLASSES = [[i % 13] for i in range(20)]
SPLITS = ["train"] * 10 + ["val"] * 4 + ["test"] * 6


@pytest.fixture
def trained_run():
    dataset = pixel_dataset("tiny", CLASSES, SPLITS)
    call_command("train", "gapnet_pl", dataset="tiny", name="model", epochs=1, crop=32, batch_size=4, seed=2)
    study = Study.objects.create(name="reading", dataset=dataset, seed=0)
    tests = dataset.samples.filter(split="test").order_by("source_id")[:4]
    StudySample.objects.bulk_create(StudySample(study=study, sample=s, position=i) for i, s in enumerate(tests))
    return ModelRun.objects.get(name="model")


def test_predicting_a_study_stores_one_prediction_per_study_sample(trained_run):
    call_command("predict", "model", study="reading")
    study_samples = set(StudySample.objects.values_list("sample_id", flat=True))
    predictions = Prediction.objects.filter(run=trained_run)
    assert set(predictions.values_list("sample_id", flat=True)) == study_samples
    for prediction in predictions:
        prediction.full_clean()
        assert len(prediction.probabilities) == 13 and len(prediction.classes) >= 1


def test_predicting_again_replaces_the_runs_predictions(trained_run):
    call_command("predict", "model", study="reading")
    first = dict(Prediction.objects.values_list("sample_id", "probabilities"))
    call_command("predict", "model", study="reading")
    call_command("predict", "model", split="test", dataset="tiny")
    assert Prediction.objects.filter(run=trained_run).count() == 6
    again = dict(Prediction.objects.values_list("sample_id", "probabilities"))
    assert all(np.allclose(first[sample], again[sample]) for sample in first)


def test_a_multi_label_run_predicts_every_class_over_threshold_or_else_the_top_one():
    probabilities = np.array([[0.7, 0.2, 0.6], [0.1, 0.3, 0.2], [0.4, 0.45, 0.9]])
    chosen = predicted_classes(probabilities, single_class=False)
    assert chosen.tolist() == [[True, False, True], [False, True, False], [False, False, True]]
    tuned = predicted_classes(probabilities, single_class=False, thresholds=[0.35, 0.5, 0.95])
    assert tuned.tolist() == [[True, False, False], [False, True, False], [True, False, False]]
    assert predicted_classes(probabilities, single_class=True).sum(axis=1).tolist() == [1, 1, 1]


def test_a_single_class_run_predicts_one_class_per_sample(trained_run):
    call_command("finetune", "model", single_class=True, name="single", epochs=1)
    call_command("predict", "single", study="reading")
    predictions = Prediction.objects.filter(run__name="single")
    assert predictions.count() == 4
    for prediction in predictions:
        assert prediction.classes == [prediction.top_class]
        assert sum(prediction.probabilities) == pytest.approx(1.0)


def test_bad_predict_arguments_are_named(trained_run):
    with pytest.raises(CommandError, match="RUN: no model run named 'ghost'"):
        call_command("predict", "ghost", study="reading")
    with pytest.raises(CommandError, match="either --study STUDY or --split SPLIT"):
        call_command("predict", "model")
    with pytest.raises(CommandError, match="no study named 'nowhere'"):
        call_command("predict", "model", study="nowhere")
    other = pixel_dataset("other", [[0]], ["test"])
    with pytest.raises(CommandError, match="--dataset 'other': run 'model' belongs to data set 'tiny'"):
        call_command("predict", "model", split="test", dataset=other.name)


def test_predicting_with_tta_stores_the_mean_over_each_tiles_flips_and_turns(trained_run):
    call_command("predict", "model", study="reading")
    plain = dict(Prediction.objects.values_list("sample_id", "probabilities"))
    call_command("predict", "model", study="reading", tta=True)
    augmented = dict(Prediction.objects.values_list("sample_id", "probabilities"))
    assert augmented.keys() == plain.keys()
    model, tile = load_run_model(trained_run)
    for sample in Sample.objects.filter(pk__in=augmented):
        image = zscore(TrainingStore(settings.STORE_DIR).open(sample.store_key))
        expected = predict_whole_image(model, image, tile, tta=True)
        np.testing.assert_allclose(augmented[sample.pk], expected, atol=1e-6)
        assert not np.allclose(augmented[sample.pk], plain[sample.pk], rtol=0, atol=1e-6)
