import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from models_zoo.architectures.conv_mil import noisy_and
from models_zoo.complexity import count_macs, count_parameters
from models_zoo.registry import LocalizationModel, create_model, list_models
from models_zoo.training.validation import fit_thresholds

MODELS = list_models()
BATCH = 2
SIZE = 128

# The paper's Table 6, at 4 inputs and 13 outputs.
TABLE_6_PARAMETERS = {
    "conv_mil": 593_143,
    "gapnet_pl": 626_221,
    "mcnn": 34_193_853,
    "densenet121": 6_970_317,
    "deeploc": 201_716_967,
}
# The dense layer over the flattened 32x32 class maps that the paper authors' Convolutional MIL
# adds beside noisy-AND, documented in conv_mil.py as the reason its count differs.
CONV_MIL_REFERENCE_DENSE_LAYER = 13 * 32 * 32 * 13 + 13


@pytest.fixture(scope="module")
def built():
    """One model per architecture at 13 classes, built once (DeepLoc alone has 201M parameters)."""
    torch.manual_seed(0)
    return {name: create_model(name) for name in MODELS}


def batch(size=SIZE, channels=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, channels, size, size, generator=generator)


def test_the_registry_knows_the_six_architectures_of_the_paper():
    assert MODELS == ["conv_mil", "deeploc", "densenet121", "fcn_seg", "gapnet_pl", "mcnn"]


def test_an_unknown_model_name_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="unknown model 'gapnet'.*gapnet_pl.*mcnn"):
        create_model("gapnet")


def test_an_unknown_option_is_refused_with_the_models_options():
    with pytest.raises(ValueError, match="no option 'width'.*num_classes, in_channels, dropout"):
        create_model("gapnet_pl", width=3)


def test_a_non_positive_class_count_is_refused():
    with pytest.raises(ValueError, match="num_classes must be a positive whole number"):
        create_model("gapnet_pl", num_classes=0)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_follows_the_contract(built, name):
    model = built[name]
    assert isinstance(model, LocalizationModel)
    assert (model.num_classes, model.in_channels) == (13, 4)
    assert model.outputs_probabilities == (name == "conv_mil")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("num_classes", [13, 28])
def test_forward_and_backward_give_one_logit_per_class_and_finite_gradients(name, num_classes):
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes).train()
    logits = model(batch())
    assert logits.shape == (BATCH, num_classes)
    assert torch.isfinite(logits).all()
    targets = torch.zeros_like(logits)
    targets[:, 0] = 1
    nn.functional.binary_cross_entropy_with_logits(logits, targets).backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
    assert any(parameter.grad.abs().sum() > 0 for parameter in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_models_take_their_minimum_input_size_and_non_square_inputs(built, name):
    model = built[name].eval()
    smallest = model.min_input_size
    with torch.no_grad():
        assert model(torch.randn(1, 4, smallest, smallest)).shape == (1, 13)
        assert model(torch.randn(1, 4, 96, 160)).shape == (1, 13)


@pytest.mark.parametrize("name", sorted(TABLE_6_PARAMETERS))
def test_parameter_counts_match_the_papers_table_6(built, name):
    count = count_parameters(built[name])
    if name == "conv_mil":
        assert count + CONV_MIL_REFERENCE_DENSE_LAYER == TABLE_6_PARAMETERS[name]
    else:
        assert abs(count - TABLE_6_PARAMETERS[name]) <= 0.01 * TABLE_6_PARAMETERS[name]


def test_gapnet_pl_and_mcnn_and_densenet_counts_are_exact(built):
    for name in ("gapnet_pl", "mcnn", "densenet121"):
        assert count_parameters(built[name]) == TABLE_6_PARAMETERS[name]


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_replaces_only_the_last_layer(built, name):
    model = copy.deepcopy(built[name])
    before = {
        key: value.clone() for key, value in model.named_parameters() if not key.startswith("classifier.")
    }
    old_classifier = model.classifier
    model.reset_classifier(1)
    after = dict(model.named_parameters())
    assert model.num_classes == 1
    assert model.classifier is not old_classifier
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert any(key.startswith("classifier.") for key in after)
    with torch.no_grad():
        assert model.eval()(batch(64)).shape == (BATCH, 1)


@pytest.mark.parametrize("name", MODELS)
def test_features_are_what_the_classifier_takes(built, name):
    model = built[name].eval()
    x = batch(64)
    with torch.no_grad():
        features = model.forward_features(x)
        output = model.classifier(features)
        logits = model(x)
    assert features.shape[0] == BATCH
    if name in ("fcn_seg", "conv_mil"):
        maps = model.class_maps(x)
        assert features.ndim == 4
        assert maps.shape[:2] == (BATCH, 13)
        assert ((maps >= 0) & (maps <= 1)).all()
    else:
        assert features.ndim == 2
        torch.testing.assert_close(output, logits)


@pytest.mark.parametrize("name", MODELS)
def test_probabilities_are_the_sigmoid_of_the_logits(built, name):
    model = built[name].eval()
    x = batch(64)
    with torch.no_grad():
        probabilities = model.probabilities(x)
        logits = model(x)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    torch.testing.assert_close(torch.sigmoid(logits), probabilities, atol=2e-6, rtol=0)


def test_gapnet_pl_starts_from_truncated_lecun_normal_weights_and_zero_biases():
    torch.manual_seed(0)
    model = create_model("gapnet_pl")
    for layer in (model.conv1, model.conv6, model.fc1, model.classifier):
        bound = 2 / math.sqrt(math.prod(layer.weight.shape[1:]))
        assert layer.weight.abs().max() <= bound * (1 + 1e-6)
        assert torch.count_nonzero(layer.bias) == 0
    # Truncation at two standard deviations leaves 0.88 of the nominal spread.
    weights = model.conv8.weight
    assert weights.std().item() * math.sqrt(128 * 9) == pytest.approx(0.88, abs=0.02)


def test_gapnet_pl_turns_dropout_off_in_evaluation_mode(built):
    model = built["gapnet_pl"]
    x = batch(64)
    with torch.no_grad():
        model.train()
        torch.manual_seed(1)
        training_a, training_b = model(x), model(x)
        model.eval()
        evaluation_a, evaluation_b = model(x), model(x)
    assert not torch.equal(training_a, training_b)
    assert torch.equal(evaluation_a, evaluation_b)


def test_densenet_checkpointing_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = create_model("densenet121").train()
    efficient = create_model("densenet121", memory_efficient=True).train()
    efficient.load_state_dict(plain.state_dict())
    x = batch(64)
    plain_logits, efficient_logits = plain(x), efficient(x)
    torch.testing.assert_close(plain_logits, efficient_logits)
    plain_logits.sum().backward()
    efficient_logits.sum().backward()
    torch.testing.assert_close(plain.features[0].weight.grad, efficient.features[0].weight.grad)


def test_conv_mil_outputs_the_noisy_and_of_its_maps_and_forward_is_its_logit(built):
    model = built["conv_mil"].eval()
    x = batch(64)
    with torch.no_grad():
        maps = model.class_maps(x)
        probabilities = model.probabilities(x)
        logits = model(x)
    a, b = 5.0, torch.sigmoid(model.classifier.raw_threshold)
    mean = maps.mean(dim=(2, 3))
    sigmoid = torch.sigmoid
    expected = (sigmoid(a * (mean - b)) - sigmoid(-a * b)) / (sigmoid(a * (1 - b)) - sigmoid(-a * b))
    torch.testing.assert_close(probabilities, expected)
    torch.testing.assert_close(torch.logit(probabilities.clamp(1e-6, 1 - 1e-6)), logits)


def test_noisy_and_maps_no_instances_to_zero_and_all_instances_to_one():
    threshold = torch.tensor([0.0, 0.3, 0.9])
    torch.testing.assert_close(noisy_and(torch.zeros(3), 5.0, threshold), torch.zeros(3))
    torch.testing.assert_close(noisy_and(torch.ones(3), 5.0, threshold), torch.ones(3))
    rising = noisy_and(torch.linspace(0, 1, 11)[:, None], 5.0, threshold)
    assert (rising.diff(dim=0) > 0).all()


def test_an_fcn_seg_checkpoint_with_the_old_thresholds_buffer_still_loads(built):
    model = built["fcn_seg"]
    saved = dict(model.state_dict(), thresholds=torch.full((13,), 0.5))
    loaded = create_model("fcn_seg")
    loaded.load_state_dict(saved)
    assert all(torch.equal(value, saved[key]) for key, value in loaded.state_dict().items())


def test_fit_thresholds_finds_the_best_f1_of_every_class():
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 4)) < 0.4).astype(int)
    probabilities = np.clip(0.35 * targets + rng.random((60, 4)) * 0.65, 0, 1).round(2)
    thresholds = fit_thresholds(probabilities, targets)

    def f1(predicted, actual):
        true_positives = np.sum(predicted & (actual == 1))
        return 2 * true_positives / (predicted.sum() + actual.sum())

    for c in range(4):
        best = max(f1(probabilities[:, c] >= t, targets[:, c]) for t in np.unique(probabilities[:, c]))
        assert f1(probabilities[:, c] >= thresholds[c], targets[:, c]) == pytest.approx(best)


def test_fit_thresholds_separates_separable_classes_and_never_predicts_an_absent_one():
    probabilities = np.array([[0.9, 0.2], [0.7, 0.8], [0.4, 0.1], [0.1, 0.3]])
    targets = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    thresholds = fit_thresholds(probabilities, targets)
    assert thresholds[0] == 0.7
    assert not (probabilities[:, 1] >= thresholds[1]).any()


def test_fit_thresholds_refuses_mismatched_or_invalid_input():
    with pytest.raises(ValueError, match="targets have shape"):
        fit_thresholds(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="between 0 and 1"):
        fit_thresholds(np.full((2, 2), 1.5), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="0 or 1"):
        fit_thresholds(np.zeros((2, 2)), np.full((2, 2), 2))


def test_macs_of_a_convolution_and_a_dense_layer_follow_their_shapes():
    model = nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16 * 16, 10)
    )
    expected = 32 * 32 * 8 * 4 * 9 + 16 * 16 * 8 * 4 + 8 * 16 * 16 * 10
    assert count_macs(model, (4, 32, 32)) == expected
    assert count_macs(model, (3, 4, 32, 32)) == 3 * expected


def test_counting_macs_leaves_the_model_as_it_was(built):
    model = built["gapnet_pl"].train()
    weights = model.conv1.weight.clone()
    assert count_macs(model, (4, 1024, 1024)) > 3e9
    assert model.training
    assert model.conv1.weight.device.type == "cpu"
    assert torch.equal(model.conv1.weight, weights)
    assert not model.conv1._forward_hooks


def test_macs_grow_with_the_input_area_for_fully_convolutional_models(built):
    small = count_macs(built["fcn_seg"], (4, 256, 256))
    large = count_macs(built["fcn_seg"], (4, 512, 512))
    assert large == pytest.approx(4 * small, rel=0.01)
