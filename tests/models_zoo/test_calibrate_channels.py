import re
from io import StringIO

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo.channel_calibration import (
    ALL_ORDERS,
    AllOrders,
    ChannelOrderError,
    compose,
    parse_channel_order,
    permute_input_channels,
    score_orders,
    store_indices,
    tied_with_best,
)
from models_zoo.models import ModelRun, Prediction
from models_zoo.registry import create_model, list_models
from models_zoo.released import load_released_gapnet
from models_zoo.runs import load_run_model, run_checkpoint
from models_zoo.tiling import predict_whole_image
from models_zoo.training.validation import predicted_classes
from study.models import ReferenceLabel
from models_zoo.training.crops import zscore
from study.store import CHANNELS, sample_store
from tests.factories import pixel_dataset
from tests.models_zoo.test_predict import finished_random_run

pytestmark = pytest.mark.django_db

# The order a scrambled copy of a network takes its channels in, and the order that undoes it.
SCRAMBLE = ("yellow", "blue", "red", "green")
UNSCRAMBLE = ("blue", "yellow", "green", "red")
TABLE_ROW = re.compile(r"^\s*(\d+)\s+([a-z,]+)\s+([0-9.]+)\s+([0-9.]+|n/a)")


def images_of(dataset):
    store = sample_store()
    return [zscore(store.open(s.store_key)) for s in dataset.samples.order_by("source_id")]


def whole_image_probabilities(model, images, tile=64):
    return np.stack([predict_whole_image(model, image, tile) for image in images])


def ranking(output: str) -> list[tuple[tuple[str, ...], float, float]]:
    rows = [TABLE_ROW.match(line) for line in output.splitlines()]
    return [
        (tuple(m.group(2).split(",")), float(m.group(3)), float("nan") if m.group(4) == "n/a" else float(m.group(4)))
        for m in rows if m
    ]


@pytest.fixture
def scrambled():
    """A field labelled by a network ("truth", store order) and a copy of that network whose inputs
    were scrambled ("scrambled": input i expects store channel SCRAMBLE[i]), so UNSCRAMBLE puts it right."""
    dataset = pixel_dataset("field", [[0]] * 12, [""] * 12)
    truth = finished_random_run("truth", dataset, seed=3)
    model, _ = load_run_model(truth)
    probabilities = whole_image_probabilities(model, images_of(dataset))
    thresholds = np.median(probabilities, axis=0)
    labels = predicted_classes(probabilities, False, thresholds)
    ReferenceLabel.objects.filter(sample__dataset=dataset).delete()
    for sample, row in zip(dataset.samples.order_by("source_id"), labels):
        classes = np.flatnonzero(row)
        ReferenceLabel.objects.bulk_create(ReferenceLabel(sample=sample, class_index=int(c)) for c in classes)
    truth.thresholds = thresholds.tolist()
    truth.save()
    network = create_model("gapnet_pl", num_classes=13)
    network.load_state_dict(model.state_dict())
    permute_input_channels(network, SCRAMBLE)
    run = finished_random_run("scrambled", dataset, network=network, thresholds=thresholds.tolist())
    return dataset, truth, run, probabilities


def test_the_undoing_order_is_the_inverse_of_the_scramble():
    x = torch.randn(1, 4, 5, 5)
    assert torch.equal(x[:, store_indices(SCRAMBLE)][:, store_indices(UNSCRAMBLE)], x)


def test_calibration_ranks_all_24_orders_and_the_true_one_first(scrambled):
    dataset, _, run, _ = scrambled
    out = StringIO()
    call_command("calibrate_channels", "scrambled", dataset="field", stdout=out)
    text = out.getvalue()
    ranked = ranking(text)
    assert len(ranked) == 24 and {order for order, _, _ in ranked} == set(ALL_ORDERS)
    assert ranked[0][0] == UNSCRAMBLE
    assert ranked[0][1] == pytest.approx(1.0)
    assert ranked[0][1] > ranked[1][1]
    f1s = [f1 for _, f1, _ in ranked]
    assert f1s == sorted(f1s, reverse=True)
    assert "12 labelled samples of data set 'field'" in text
    assert "WARNING: 12 samples" in text and "cannot settle the channel order" in text
    assert "red,green,blue,yellow" in text and "(stored)" in text
    run.refresh_from_db()
    assert run.channel_order is None  # nothing stored without --apply


def test_the_scores_are_those_of_predicting_under_each_order(scrambled):
    dataset, _, run, _ = scrambled
    network, tile = load_run_model(run, apply_channel_order=False)
    images = images_of(dataset)
    every_order = whole_image_probabilities(AllOrders(network), images, tile).reshape(12, 24, 13)
    for k in (0, 7, 23):
        indices = store_indices(ALL_ORDERS[k])
        one_by_one = whole_image_probabilities(network, [image[indices] for image in images], tile)
        np.testing.assert_allclose(every_order[:, k], one_by_one, atol=1e-6)


def test_applying_the_best_order_makes_predict_feed_the_channels_in_it(scrambled):
    dataset, truth, run, truth_probabilities = scrambled
    call_command("predict", "scrambled", dataset="field", stdout=StringIO())
    before = np.array([p.probabilities for p in Prediction.objects.filter(run=run).order_by("sample__source_id")])
    out = StringIO()
    call_command("calibrate_channels", "scrambled", dataset="field", apply_best=True, stdout=out)
    stored = "Stored channel order blue,yellow,green,red with run 'scrambled' (was red,green,blue,yellow)"
    assert stored in out.getvalue()
    run.refresh_from_db()
    assert run.channel_order == list(UNSCRAMBLE)

    call_command("predict", "scrambled", dataset="field", replace=True, stdout=StringIO())
    after = np.array([p.probabilities for p in Prediction.objects.filter(run=run).order_by("sample__source_id")])
    assert not np.allclose(after, before, rtol=0, atol=1e-6)
    # The same as the network fed the permuted image by hand, and so as the unscrambled network.
    network, tile = load_run_model(run, apply_channel_order=False)
    unscrambled = [image[store_indices(UNSCRAMBLE)] for image in images_of(dataset)]
    by_hand = whole_image_probabilities(network, unscrambled, tile)
    np.testing.assert_allclose(after, by_hand, atol=1e-6)
    np.testing.assert_allclose(after, truth_probabilities, atol=1e-5)
    # Calibrating again ranks against the stored network, and marks the stored order.
    again = StringIO()
    call_command("calibrate_channels", "scrambled", dataset="field", stdout=again)
    assert ranking(again.getvalue())[0][0] == UNSCRAMBLE
    assert re.search(r"blue,yellow,green,red\s+1\.0000\s+[0-9.]+\s+[0-9.]+\s+\(stored\)", again.getvalue())


def test_apply_stores_the_order_given_and_a_fine_tune_starts_from_it(scrambled):
    _, _, run, _ = scrambled
    call_command("calibrate_channels", "scrambled", apply="Green, RED,blue,yellow", split=None, stdout=StringIO())
    run.refresh_from_db()
    assert run.channel_order == ["green", "red", "blue", "yellow"]
    # What a fine-tune copies as its starting weights takes store order with the order built in.
    loaded, _ = load_run_model(run)
    network = create_model("gapnet_pl", num_classes=13)
    network.load_state_dict(run_checkpoint(run)["model"])
    x = torch.randn(2, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(network.eval()(x), loaded(x))
        raw, _ = load_run_model(run, apply_channel_order=False)
        torch.testing.assert_close(loaded(x), raw(x[:, [1, 0, 2, 3]]))


def test_apply_best_refuses_a_tie_for_first_place():
    dataset = pixel_dataset("field", [[0], [1], [0]], [""] * 3)
    network = create_model("gapnet_pl", num_classes=13)
    with torch.no_grad():  # the same kernels for every input: no order is better than another
        network.conv1.weight[:] = network.conv1.weight[:, :1]
    run = finished_random_run("symmetric", dataset, network=network)
    out = StringIO()
    with pytest.raises(CommandError, match="--apply-best: the first place is tied"):
        call_command("calibrate_channels", "symmetric", apply_best=True, stdout=out)
    assert "24 orders tie for first place" in out.getvalue()
    run.refresh_from_db()
    assert run.channel_order is None


def test_bad_calibration_arguments_are_named(scrambled):
    dataset, _, run, _ = scrambled
    with pytest.raises(CommandError, match="RUN: no model run named 'ghost'"):
        call_command("calibrate_channels", "ghost")
    with pytest.raises(CommandError, match="--apply: a channel order names each of red, green, blue, yellow"):
        call_command("calibrate_channels", "scrambled", apply="red,green,green,yellow")
    with pytest.raises(CommandError, match="the val split of 'field' has no labelled samples"):
        call_command("calibrate_channels", "scrambled", split="val")
    pixel_dataset("kaggle", [[0]], [""], label_set_key="hpa28")
    with pytest.raises(CommandError, match="--dataset 'kaggle': data set 'kaggle' uses label set hpa28"):
        call_command("calibrate_channels", "scrambled", dataset="kaggle")
    unlabelled = pixel_dataset("unlabelled", [[]], [""])
    with pytest.raises(CommandError, match="data set 'unlabelled' has no labelled samples"):
        call_command("calibrate_channels", "scrambled", dataset=unlabelled.name)
    ModelRun.objects.filter(pk=run.pk).update(status=ModelRun.Status.RUNNING)
    with pytest.raises(CommandError, match="--apply-best: run 'scrambled' is running, not finished"):
        call_command("calibrate_channels", "scrambled", apply_best=True)


# Small variants of the architectures whose defaults are large.
SMALL = {"deeploc": {"feature_size": 2}, "mcnn": {"pooled_size": 1}}


@pytest.mark.parametrize("name", list_models())
def test_an_order_built_into_any_architecture_is_the_input_permuted(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, **SMALL.get(name, {})).eval()
    size = max(64, model.min_input_size)
    x = torch.randn(2, 4, size, size)
    order = ("yellow", "red", "blue", "green")
    with torch.no_grad():
        expected = model(x[:, store_indices(order)])
        assert not torch.allclose(model(x), expected)
        torch.testing.assert_close(permute_input_channels(model, order)(x), expected, rtol=1e-4, atol=1e-5)


def test_a_calibrated_order_composes_with_the_released_import_order():
    imported = ("blue", "green", "red", "yellow")
    calibrated = ("green", "yellow", "red", "blue")
    both = permute_input_channels(load_released_gapnet(channel_order=imported), calibrated)
    at_once = load_released_gapnet(channel_order=compose(calibrated, imported))
    x = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(both(x), at_once(x), rtol=1e-4, atol=1e-5)


def test_a_channel_order_names_every_store_channel_once():
    assert parse_channel_order(" Green,red , BLUE,yellow") == ("green", "red", "blue", "yellow")
    for bad in ("red,green,blue", "red,green,blue,blue", "red,green,blue,yellow,red", "", "r,g,b,y"):
        with pytest.raises(ChannelOrderError, match="names each of red, green, blue, yellow exactly once"):
            parse_channel_order(bad)
    assert len(ALL_ORDERS) == 24 and ALL_ORDERS[0] == CHANNELS


def test_orders_rank_by_macro_f1_then_auc_then_the_probability_of_the_labels():
    truth = np.array([[True, False], [False, True]])
    orders = ALL_ORDERS[:4]
    probabilities = np.array([
        [[0.6, 0.4], [0.4, 0.6]],  # right, barely
        [[0.9, 0.1], [0.2, 0.8]],  # right, surely: first
        [[0.4, 0.6], [0.6, 0.4]],  # wrong
        [[0.6, 0.7], [0.4, 0.6]],  # one false positive
    ])
    ranked = score_orders(probabilities, truth, single_class=False, orders=orders)
    assert [score.order for score in ranked] == [orders[1], orders[0], orders[3], orders[2]]
    assert [score.macro_f1 for score in ranked] == pytest.approx([1.0, 1.0, 5 / 6, 0.0])
    assert ranked[0].labelled_probability == pytest.approx(0.85)
    assert tied_with_best(ranked) == ranked[:1]
    assert len(tied_with_best(score_orders(probabilities[[0, 0]], truth, False, orders=orders[:2]))) == 2
