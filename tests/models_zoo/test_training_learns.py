import json

import numpy as np
import pytest
from django.core.management import call_command

from synthetic.render import render_sample
from models_zoo.models import ModelRun
from study.labels import CYTO13
from study.models import Dataset, ReferenceLabel, Sample
from study.store import sample_store

pytestmark = pytest.mark.django_db

# Four locations whose synthetic patterns differ plainly (nucleus fill, cell-edge membrane,
# mitochondrial rods, straight actin fibres), so that a few CPU epochs can learn them.
LOCATIONS = [CYTO13.by_name(name).index for name in ("Nucleus", "Plasma membrane", "Mitochondria", "Actin filaments")]
SIZE = 96


def synthetic_dataset(name: str, per_class: dict[str, int]) -> Dataset:
    """Single-location synthetic fields of LOCATIONS, ``per_class[split]`` of each class per split."""
    dataset = Dataset.objects.create(name=name, label_set_key="cyto13", split_seed=0)
    store = sample_store()
    number = 0
    for split, count in per_class.items():
        for repeat in range(count):
            for location in LOCATIONS:
                key = f"{name}/{number:05d}.npy"
                store.write(key, render_sample(number, SIZE, [location]))
                sample = Sample.objects.create(
                    dataset=dataset, source_id=f"{number:05d}", height=SIZE, width=SIZE, bit_depth=16,
                    store_key=key, split=split,
                )
                ReferenceLabel.objects.create(sample=sample, class_index=location)
                number += 1
    return dataset


def chance_macro_f1(truth: np.ndarray, n_classes: int) -> float:
    """The better of two readers that ignore the images, scored like the model (per-class F1, mean
    over all classes): one that calls every class present (F1 = 2p / (1 + p) for a class of
    prevalence p) and one that calls each class at random with its prevalence (expected F1 = p)."""
    prevalence = np.bincount(truth, minlength=n_classes) / len(truth)
    everything = np.mean(2 * prevalence / (1 + prevalence))
    at_random = np.mean(prevalence)
    return float(max(everything, at_random))


def test_a_short_seeded_training_on_synthetic_fields_beats_chance_clearly():
    dataset = synthetic_dataset("shapes", {"train": 40, "val": 8})
    call_command(
        "train", "gapnet_pl", dataset="shapes", name="learns", epochs=8, crop=SIZE, batch_size=4, lr=0.03, seed=0,
    )
    run = ModelRun.objects.get(name="learns")
    truth = np.array([s.class_indices[0] for s in dataset.samples.filter(split="val")])
    chance = chance_macro_f1(truth, len(CYTO13))
    assert run.status == ModelRun.Status.FINISHED
    assert run.best_val_macro_f1 > 1.5 * chance
    records = [json.loads(line) for line in (run.directory / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 9))
    assert max(r["val_macro_f1"] for r in records) == pytest.approx(run.best_val_macro_f1)
