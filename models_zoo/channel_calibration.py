"""Which image channel feeds which input of a network: a run's stored channel order, and finding it.

A run's ``channel_order`` (``ModelRun.channel_order``) names, for each input ``i`` of the run's
network as its weights stand in ``best.pt``, the store channel (``study.store.CHANNELS``: red,
green, blue, yellow) that input gets. Empty means store order, as every run trained here takes it.
Loading the run's model (``models_zoo.runs.load_run_model``, which prediction uses, and
``models_zoo.runs.run_checkpoint``, which a fine-tune starts from) builds the order into the
layers that read the image (:func:`permute_input_channels`), once, so that the loaded model takes
store-ordered images like any other: ``loaded(x) == network(x[:, order])``.

The released GapNet-PL weights come with no documented order. Their import already takes one
(``import_released_gapnet --channel-order``, built into the first layer so that ``best.pt`` takes
store order); a calibrated order applies on top of that, to ``best.pt``'s inputs. Between them, the
released network's input ``i`` gets store channel ``calibrated[imported[i]]`` (:func:`compose`).

:func:`evaluate_orders` predicts labelled images under all 24 orders at once: each tile goes
through the network under every order in the same forward pass, the tiles and their mean exactly
as ``models_zoo.tiling.predict_whole_image`` predicts a sample.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models_zoo.classification_figures import auc_per_class, multilabel_metrics, spread_over_classes
from models_zoo.tiling import predict_whole_image
from models_zoo.training.validation import predicted_classes
from study.store import CHANNELS

# Every order of the four store channels, store order first.
ALL_ORDERS: tuple[tuple[str, ...], ...] = tuple(itertools.permutations(CHANNELS))
# Scores closer than this are a tie.
TIE_TOLERANCE = 1e-6
# Below this many labelled samples, calibrate_channels warns that the ranking is only a hint.
SAMPLES_TO_SETTLE = 50


class ChannelOrderError(ValueError):
    """An order that does not name each store channel once, or a model it cannot be built into."""


def parse_channel_order(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"green,red,blue,yellow"`` (or a sequence of names), checked: each store channel exactly once."""
    names = text.split(",") if isinstance(text, str) else list(text)
    order = tuple(str(name).strip().lower() for name in names)
    if sorted(order) != sorted(CHANNELS):
        raise ChannelOrderError(
            f"a channel order names each of {', '.join(CHANNELS)} exactly once, comma-separated; "
            f"got {','.join(order) or 'nothing'!r}"
        )
    return order


def store_indices(order: Sequence[str]) -> list[int]:
    """The store index of each channel of ``order``."""
    return [CHANNELS.index(name) for name in parse_channel_order(order)]


def is_store_order(order: Sequence[str] | None) -> bool:
    return order is None or tuple(order) == CHANNELS


def compose(calibrated: Sequence[str], imported: Sequence[str]) -> tuple[str, ...]:
    """The store channel each input of a released network gets: ``imported`` is the import's
    ``--channel-order`` (built into ``best.pt``), ``calibrated`` the order stored on top of it."""
    calibrated_indices = store_indices(calibrated)
    return tuple(CHANNELS[calibrated_indices[i]] for i in store_indices(imported))


def permute_input_channels(model: nn.Module, order: Sequence[str]) -> nn.Module:
    """Build ``order`` into ``model`` in place: afterwards ``model(x)`` is what it was for ``x[:, order]``.

    The layers that read the image are the convolutions over exactly the model's ``in_channels``
    (every architecture's first layer, each of M-CNN's seven scales'), whose kernels move to the
    store channels they get, and convolutions grouped by input channel (FCN-Seg's per-channel
    paths), whose groups move with their channel (the paths are summed, so their order does not
    matter further on).
    """
    indices = store_indices(order)
    channels = getattr(model, "in_channels", len(CHANNELS))
    if channels != len(indices):
        raise ChannelOrderError(f"the model takes {channels} channels, a channel order names {len(indices)}")
    built_into = 0
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, nn.Conv2d):
                continue
            if module.groups == 1 and module.in_channels == channels:
                # Store channel indices[i] meets the kernels of network input i.
                kernels = module.weight.detach().clone()
                module.weight[:, indices] = kernels
                built_into += 1
            elif module.groups == channels > 1:
                # Group i (the path of network input i) becomes the group of store channel indices[i].
                for parameter in (module.weight, module.bias):
                    if parameter is None:
                        continue
                    blocks = parameter.detach().clone().view(channels, -1, *parameter.shape[1:])
                    parameter.view_as(blocks)[indices] = blocks
                built_into += 1
    if not built_into:
        raise ChannelOrderError(f"{type(model).__name__}: found no layer that reads the image's channels")
    return model


class AllOrders(nn.Module):
    """A model's probabilities for a batch of tiles under each of ``orders``, side by side:
    ``(N, len(orders) * num_classes)``, one forward pass of ``N * len(orders)`` inputs."""

    def __init__(self, model: nn.Module, orders: Sequence[Sequence[str]] = ALL_ORDERS):
        super().__init__()
        self.model = model
        self.orders = [tuple(order) for order in orders]
        self.register_buffer("index", torch.tensor([store_indices(order) for order in self.orders]))
        self.in_channels = model.in_channels
        self.num_classes = len(self.orders) * model.num_classes

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        every_order = x[:, self.index]  # (N, orders, channels, H, W): network input i gets store channel order[i]
        return self.model.probabilities(every_order.flatten(0, 1)).reshape(n, self.num_classes)


def evaluate_orders(
    model: nn.Module,
    images: Iterable[tuple[int, torch.Tensor]],
    n_samples: int,
    tile: int,
    batch_size: int = 1,
    device: str = "cpu",
    orders: Sequence[Sequence[str]] = ALL_ORDERS,
    progress: Callable[[Iterable], Iterable] = iter,
) -> np.ndarray:
    """Whole-image probabilities ``(orders, n_samples, num_classes)`` of z-scored images
    ``(index, (channels, H, W))``; ``batch_size`` tiles per forward pass, each under every order."""
    every_order = AllOrders(model, orders)
    probabilities = np.zeros((len(every_order.orders), n_samples, model.num_classes))
    for index, image in progress(images):
        flat = predict_whole_image(every_order, image, tile, batch_size, torch.device(device))
        probabilities[:, index] = flat.reshape(len(every_order.orders), model.num_classes)
    return probabilities


@dataclass(frozen=True)
class OrderScore:
    order: tuple[str, ...]
    macro_f1: float
    mean_auc: float  # NaN where no class has both positive and negative samples
    classes_with_auc: int
    labelled_probability: float  # the mean over samples of the mean probability of their labelled classes


def score_orders(
    probabilities: np.ndarray,
    truth: np.ndarray,
    single_class: bool,
    thresholds: Sequence[float] | None = None,
    orders: Sequence[Sequence[str]] = ALL_ORDERS,
) -> list[OrderScore]:
    """Each order's macro-F1 (the classes ``predict`` would store: the run's thresholds or 0.5, the
    argmax where none is reached, or the argmax of a single-class run), mean AUC over the classes
    that have one, and mean probability of the labelled classes, best first: by macro-F1, then AUC,
    then that probability (which still tells orders apart on a sample or two), then in ``orders``' order.
    ``truth`` is boolean ``(samples, classes)``, every sample with at least one class."""
    n_classes = truth.shape[1]
    scores = []
    for order, rows in zip(orders, probabilities, strict=True):
        chosen = predicted_classes(rows, single_class, thresholds)
        aucs = spread_over_classes(auc_per_class(rows, truth, n_classes))
        labelled = float(((rows * truth).sum(axis=1) / truth.sum(axis=1)).mean())
        f1 = float(multilabel_metrics(chosen, truth, n_classes).f1)
        scores.append(OrderScore(tuple(order), f1, aucs.mean, aucs.n_classes, labelled))
    return [score for _, score in sorted(enumerate(scores), key=lambda item: _rank_key(*item))]


def _rank_key(index: int, score: OrderScore) -> tuple[float, float, float, int]:
    auc = math.inf if math.isnan(score.mean_auc) else -score.mean_auc
    return (-score.macro_f1, auc, -score.labelled_probability, index)


def tied_with_best(ranked: list[OrderScore]) -> list[OrderScore]:
    """The orders that score as the best one does (itself included), to rounding: a network that
    treats its inputs alike gives every order the same scores but for the order of its sums."""
    best = ranked[0]

    def same(a: float, b: float) -> bool:
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=0, abs_tol=TIE_TOLERANCE)

    return [
        s for s in ranked
        if same(s.macro_f1, best.macro_f1) and same(s.mean_auc, best.mean_auc)
        and same(s.labelled_probability, best.labelled_probability)
    ]
