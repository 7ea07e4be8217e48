import re
from io import StringIO

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo import prediction
from models_zoo.models import ModelRun, Prediction
from models_zoo.registry import create_model
from models_zoo.runs import create_run, load_run_model, model_checkpoint, save_run_model
from models_zoo.tiling import predict_whole_image
from models_zoo.training.validation import predicted_classes
from study.models import Sample, Study, StudySample
from models_zoo.training.crops import zscore
from study.store import sample_store
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db

CLASSES = [[i % 13] for i in range(20)]
SPLITS = ["train"] * 10 + ["val"] * 4 + ["test"] * 6


def finished_random_run(name, dataset, seed=0, network=None, thresholds=None, kind=ModelRun.Kind.TRAINED, tile=64):
    """A finished run holding a GapNet-PL (``network``, or freshly initialised from ``seed``), without training."""
    if network is None:
        torch.manual_seed(seed)
        network = create_model("gapnet_pl", num_classes=len(dataset.label_set))
    run = create_run(name, kind, "gapnet_pl", dataset, {})
    save_run_model(run, model_checkpoint(network, "gapnet_pl", tile, False))
    run.status, run.thresholds = ModelRun.Status.FINISHED, thresholds
    run.save()
    return run


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


@pytest.fixture
def random_run():
    """The 20 samples of ``tiny`` (64 x 80 px), a study of four of its test samples, and a finished run of a
    randomly initialised GapNet-PL evaluated with 32 px tiles (six per image), without training."""
    dataset = pixel_dataset("tiny", CLASSES, SPLITS)
    study = Study.objects.create(name="reading", dataset=dataset, seed=0)
    tests = dataset.samples.filter(split="test").order_by("source_id")[:4]
    StudySample.objects.bulk_create(StudySample(study=study, sample=s, position=i) for i, s in enumerate(tests))
    return finished_random_run("model", dataset, seed=1, tile=32)


def stored(run):
    """``{source id: (probabilities, classes, primary key)}`` of the run's predictions."""
    rows = Prediction.objects.filter(run=run).values_list("sample__source_id", "probabilities", "classes", "pk")
    return {source: (probabilities, classes, pk) for source, probabilities, classes, pk in rows}


def test_predicting_again_skips_what_the_run_has_predicted_unless_replace(random_run):
    call_command("predict", "model", study="reading", stdout=StringIO())
    first = stored(random_run)
    assert len(first) == 4

    out = StringIO()
    call_command("predict", "model", split="test", dataset="tiny", stdout=out)
    text = out.getvalue()
    assert "Predicting 2 of the 6 samples of the test split of 'tiny' with run 'model'; it has predicted the other 4 " \
        "already." in text
    assert "Stored 2 predictions (0 replaced earlier ones)" in text
    assert "Skipped 4 samples run 'model' had predicted already; --replace predicts them again (as needed after " \
        "calibrate_channels --apply, or to change --tta)." in text
    after = stored(random_run)
    assert len(after) == 6
    assert all(after[source] == first[source] for source in first)  # left as they were, the same rows

    out = StringIO()
    call_command("predict", "model", split="test", dataset="tiny", stdout=out)
    assert "Nothing to predict: run 'model' has predicted all 6 samples of the test split of 'tiny' already." \
        in out.getvalue()
    assert "Stored" not in out.getvalue() and stored(random_run) == after

    out = StringIO()
    call_command("predict", "model", split="test", dataset="tiny", replace=True, stdout=out)
    assert "Predicting 6 samples of the test split of 'tiny'" in out.getvalue()
    assert "Stored 6 predictions (6 replaced earlier ones)" in out.getvalue() and "Skipped" not in out.getvalue()
    again = stored(random_run)
    assert again.keys() == after.keys()
    for source, (probabilities, classes, pk) in after.items():
        np.testing.assert_allclose(again[source][0], probabilities, rtol=0, atol=1e-7)
        assert again[source][1] == classes and again[source][2] != pk  # predicted and stored anew


def test_predictions_are_stored_a_chunk_at_a_time_in_a_transaction_each(random_run, monkeypatch):
    chunks = []
    store = prediction.store_predictions

    def counted(run, predicted):
        chunks.append(len(predicted))
        return store(run, predicted)

    monkeypatch.setattr(prediction, "store_predictions", counted)
    call_command("predict", "model", dataset="tiny", chunk_size=8, stdout=StringIO())
    assert chunks == [8, 8, 4]
    assert Prediction.objects.filter(run=random_run).count() == 20
    with pytest.raises(CommandError, match="--chunk-size must be at least 1"):
        call_command("predict", "model", dataset="tiny", chunk_size=0)


def test_an_interrupted_prediction_resumes_with_what_is_left_and_ends_as_an_uninterrupted_one(
    random_run, monkeypatch
):
    call_command("predict", "model", dataset="tiny", chunk_size=3, stdout=StringIO())
    uninterrupted = stored(random_run)
    interrupted_run = finished_random_run("interrupted", random_run.dataset, seed=1, tile=32)  # the same weights

    calls = []
    predict = prediction.predict_whole_image

    def interrupted_after_seven(*args, **kwargs):
        if len(calls) == 7:
            raise KeyboardInterrupt
        calls.append(1)
        return predict(*args, **kwargs)

    monkeypatch.setattr(prediction, "predict_whole_image", interrupted_after_seven)
    with pytest.raises(KeyboardInterrupt):
        call_command("predict", "interrupted", dataset="tiny", chunk_size=3, stdout=StringIO())
    # Two chunks of three were stored as they came; the seventh prediction, on the way out.
    assert len(stored(interrupted_run)) == 7
    monkeypatch.undo()

    out = StringIO()
    call_command("predict", "interrupted", dataset="tiny", chunk_size=3, stdout=out)
    assert "Predicting 13 of the 20 samples of data set 'tiny' with run 'interrupted'" in out.getvalue()
    assert "Skipped 7 samples" in out.getvalue()
    resumed = stored(interrupted_run)
    assert resumed.keys() == uninterrupted.keys()
    for source, (probabilities, classes, _) in uninterrupted.items():
        np.testing.assert_allclose(resumed[source][0], probabilities, rtol=0, atol=1e-7)
        assert resumed[source][1] == classes


def test_progress_shows_as_plain_lines_where_standard_error_is_no_terminal(random_run, capsys):
    call_command("predict", "model", dataset="tiny")
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("predicting: ")]
    assert [line.split()[1] for line in lines] == ["2/20", "4/20", "6/20", "8/20", "10/20", "12/20", "14/20",
                                                   "16/20", "18/20", "20/20"]
    assert re.fullmatch(r"predicting: 20/20 samples \(100%\), [0-9.]+ samples/s, \d\d:\d\d elapsed", lines[-1])
    assert "about" in lines[0] and "left" in lines[0]
    assert re.search(r"Stored 20 predictions \(0 replaced earlier ones\) in [0-9.]+ s: [0-9.]+ samples/s\.",
                     captured.out)


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
        assert prediction.classes == [int(np.argmax(prediction.probabilities))]
        assert sum(prediction.probabilities) == pytest.approx(1.0)


def test_bad_predict_arguments_are_named(trained_run):
    with pytest.raises(CommandError, match="RUN: no model run named 'ghost'"):
        call_command("predict", "ghost", study="reading")
    with pytest.raises(CommandError, match="say what to predict: --study STUDY, --dataset NAME"):
        call_command("predict", "model")
    with pytest.raises(CommandError, match="no study named 'nowhere'"):
        call_command("predict", "model", study="nowhere")
    with pytest.raises(CommandError, match="--study takes the study's samples; give no --dataset or --split"):
        call_command("predict", "model", study="reading", dataset="tiny", split="test")
    with pytest.raises(CommandError, match="give --split SPLIT or --samples FILE, not both"):
        call_command("predict", "model", split="test", samples="list.txt")
    pixel_dataset("kaggle", [[0]], ["test"], label_set_key="hpa28")
    with pytest.raises(CommandError, match="--dataset 'kaggle': data set 'kaggle' uses label set hpa28; run 'model' "
                       r"\(of data set 'tiny'\) predicts the classes of cyto13"):
        call_command("predict", "model", split="test", dataset="kaggle")
    assert not Prediction.objects.exists()


def test_predicting_with_tta_stores_the_mean_over_each_tiles_flips_and_turns(trained_run):
    call_command("predict", "model", study="reading")
    plain = dict(Prediction.objects.values_list("sample_id", "probabilities"))
    call_command("predict", "model", study="reading", tta=True, replace=True)
    augmented = dict(Prediction.objects.values_list("sample_id", "probabilities"))
    assert augmented.keys() == plain.keys()
    model, tile = load_run_model(trained_run)
    for sample in Sample.objects.filter(pk__in=augmented):
        image = zscore(sample_store().open(sample.store_key))
        expected = predict_whole_image(model, image, tile, tta=True)
        np.testing.assert_allclose(augmented[sample.pk], expected, atol=1e-6)
        assert not np.allclose(augmented[sample.pk], plain[sample.pk], rtol=0, atol=1e-6)


@pytest.fixture
def field():
    """A data set too small to split (no sample has a split) and a run made for it."""
    dataset = pixel_dataset("field", [[0], [1], [2], [3]], ["", "", "", ""])
    return dataset, finished_random_run("released", dataset)


def predicted_ids(run):
    predictions = Prediction.objects.filter(run=run).order_by("sample__source_id")
    return list(predictions.values_list("sample__source_id", flat=True))


def test_a_dataset_without_split_predicts_every_sample(field):
    dataset, run = field
    out = StringIO()
    call_command("predict", "released", dataset="field", stdout=out)
    assert "Predicting 4 samples of data set 'field'" in out.getvalue()
    assert predicted_ids(run) == sorted(dataset.samples.values_list("source_id", flat=True))
    with pytest.raises(CommandError, match="the test split of 'field' has no samples to predict; without --split"):
        call_command("predict", "released", dataset="field", split="test")


def test_every_sample_means_every_split(trained_run):
    call_command("predict", "model", dataset="tiny", stdout=StringIO())
    assert Prediction.objects.filter(run=trained_run).count() == 20


def test_a_list_of_samples_predicts_those(field, tmp_path):
    dataset, run = field
    listing = tmp_path / "samples.txt"
    listing.write_text("field-src-00002\n\n  field-src-00000  \n")
    call_command("predict", "released", samples=str(listing), stdout=StringIO())
    assert predicted_ids(run) == ["field-src-00000", "field-src-00002"]

    table = tmp_path / "samples.csv"
    rows = ["reader,Sample,class", "A,field-src-00001,Nucleoplasm", "B,field-src-00001,Cytosol", "A,field-src-00003,x"]
    table.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    call_command("predict", "released", samples=str(table), dataset="field", stdout=StringIO())
    assert predicted_ids(run) == [f"field-src-0000{i}" for i in range(4)]


def test_unknown_samples_in_a_list_are_named_by_line_and_nothing_is_predicted(field, tmp_path):
    listing = tmp_path / "samples.txt"
    listing.write_text("field-src-00000\nfield-src-00001\nghost\nfield-src-00002\nfield-src-00009\n")
    with pytest.raises(CommandError) as error:
        call_command("predict", "released", samples=str(listing))
    message = str(error.value)
    assert message.startswith(f"--samples: {listing}: 2 of 5 listed samples are not in data set 'field'")
    assert "line 3: 'ghost'; line 5: 'field-src-00009'" in message and "Nothing was predicted." in message
    assert not Prediction.objects.exists()


def test_a_list_that_cannot_be_read_is_named(field, tmp_path):
    for text, expected in [
        ("", "names no samples"),
        ("id,class\nfield-src-00000,1\n", r"line 1: a CSV file needs a header with a 'sample' column"),
        ("field-src-00000\nfield-src-00001,field-src-00002\n", "line 2: expected one sample id, got 2 cells"),
        ("sample,class\n,1\n", "line 2: no sample id in column 'sample'"),
    ]:
        listing = tmp_path / "list.csv"
        listing.write_text(text)
        with pytest.raises(CommandError, match=expected):
            call_command("predict", "released", samples=str(listing))
    with pytest.raises(CommandError, match="cannot read the file"):
        call_command("predict", "released", samples=str(tmp_path / "missing.txt"))


def test_a_run_predicts_another_data_set_with_its_label_set(field):
    _, run = field
    own = pixel_dataset("own", [[5], [6]], ["", ""])
    study = Study.objects.create(name="own-reading", dataset=own, seed=0)
    StudySample.objects.create(study=study, sample=own.samples.first(), position=0)
    out = StringIO()
    call_command("predict", "released", dataset="own", stdout=out)
    assert "Run 'released' was made for data set 'field'; 'own' has its label set, cyto13." in out.getvalue()
    call_command("predict", "released", study="own-reading", stdout=StringIO())
    predictions = Prediction.objects.filter(run=run)
    assert sorted(predictions.values_list("sample__dataset__name", flat=True)) == ["own", "own"]
    for prediction in predictions:
        prediction.full_clean()
    assert list(ModelRun.objects.for_dataset(own)) == [run]
    assert list(ModelRun.objects.for_dataset(run.dataset)) == [run]
    assert not ModelRun.objects.for_dataset(pixel_dataset("unpredicted", [[0]], [""])).exists()
