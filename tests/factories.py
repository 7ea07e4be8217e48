"""Small data sets written and stored for tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tifffile
from PIL import Image

from django.contrib.auth.models import User

from study.models import Dataset, ReferenceLabel, Sample, Study
from study.store import CHANNELS, sample_store

if TYPE_CHECKING:
    from annotator.models import Participant


def channel_pixels(seed: int, shape=(48, 64), dtype=np.uint16) -> np.ndarray:
    high = 4000 if dtype == np.uint16 else 255
    return np.random.default_rng(seed).integers(0, high, size=(4, *shape)).astype(dtype)


def write_channels(folder: Path, sample_id: str, pixels: np.ndarray, suffix: str = ".tif") -> dict[str, Path]:
    """Write a (4, H, W) array as the four channel files of one sample."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for channel, plane in zip(CHANNELS, pixels):
        path = folder / f"{sample_id}_{channel}{suffix}"
        if suffix in (".tif", ".tiff"):
            tifffile.imwrite(path, plane)
        else:
            Image.fromarray(plane).save(path)
        paths[channel] = path
    return paths


def write_labels(folder: Path, labels: dict[str, list[int]], name: str = "labels.csv") -> Path:
    path = folder / name
    lines = ["Id,Target"] + [f"{sample_id},{' '.join(map(str, classes))}" for sample_id, classes in labels.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def stored_dataset(name: str, classes_per_sample: list[list[int]], label_set_key: str = "cyto13") -> Dataset:
    """A data set of sample rows with reference labels and no pixels (for splits and studies)."""
    dataset = Dataset.objects.create(name=name, label_set_key=label_set_key)
    for i, classes in enumerate(classes_per_sample):
        sample = Sample.objects.create(
            dataset=dataset, source_id=f"s{i:05d}", height=64, width=64, bit_depth=16, store_key=f"{name}/{i}.npy"
        )
        ReferenceLabel.objects.bulk_create(ReferenceLabel(sample=sample, class_index=c) for c in classes)
    return dataset


def pixel_dataset(
    name: str, classes_per_sample: list[list[int]], splits: list[str], shape=(64, 80), label_set_key: str = "cyto13"
) -> Dataset:
    """A data set whose samples have pixels in the sample store (for panels, training, prediction)."""
    dataset = Dataset.objects.create(name=name, label_set_key=label_set_key, split_seed=0)
    store = sample_store()
    for i, (classes, split) in enumerate(zip(classes_per_sample, splits, strict=True)):
        key = f"{name}-{i:05d}.npy"
        store.write(key, channel_pixels(i, shape))
        sample = Sample.objects.create(
            dataset=dataset, source_id=f"{name}-src-{i:05d}", height=shape[0], width=shape[1], bit_depth=16,
            store_key=key, split=split,
        )
        ReferenceLabel.objects.bulk_create(ReferenceLabel(sample=sample, class_index=c) for c in classes)
    return dataset


TEST_PASSWORD = "a-long-test-password-1"


@dataclass
class ReadingStudy:
    """A study with one person in each role: the test base for every page."""

    study: Study
    coordinator: User
    analyst: User
    participant: Participant
    other_participant: Participant
    outsider: User

    def visitors(self, foreign: "ReadingStudy") -> dict[str, User]:
        """Each kind of signed-in visitor by name, ``foreign``'s participant being one of another study."""
        return {
            "participant": self.participant.user,
            "other_participant": self.other_participant.user,
            "coordinator": self.coordinator,
            "analyst": self.analyst,
            "outsider": self.outsider,
            "foreign_participant": foreign.participant.user,
            "foreign_coordinator": foreign.coordinator,
            "foreign_analyst": foreign.analyst,
        }


def make_user(username: str, role: str | None = None, study: Study | None = None) -> User:
    """A user; with ``role``, holding it for ``study`` or, without one, for every study."""
    from study.models import StudyRole
    from study.roles import role_group

    user = User.objects.create_user(username=username, password=TEST_PASSWORD)
    if role and study:
        StudyRole.objects.create(user=user, role=role, study=study)
    elif role:
        user.groups.add(role_group(role))
    return user


def reading_study(name: str = "reading", test_samples: int = 6, train_samples: int = 4) -> ReadingStudy:
    """A study over ``test_samples`` single-location test samples (classes 0, 1, 2, ...) with pixels,
    ``train_samples`` training samples for the gallery, an expert and a scholar cohort, a coordinator
    and an analyst given this study, two participants (one per cohort) and a signed-in user with no
    part in it."""
    from annotator.models import Cohort, Participant
    from study.models import StudySample
    from study.roles import ANALYST, COORDINATOR

    classes = [[i % 13] for i in range(test_samples)] + [[i % 13] for i in range(train_samples)]
    splits = ["test"] * test_samples + ["train"] * train_samples
    dataset = pixel_dataset(f"{name}-data", classes, splits)
    study = Study.objects.create(name=name, dataset=dataset, seed=0)
    tests = dataset.samples.filter(split="test").order_by("source_id")
    StudySample.objects.bulk_create(StudySample(study=study, sample=s, position=i) for i, s in enumerate(tests))
    expert = Cohort.objects.create(study=study, name="expert")
    scholar = Cohort.objects.create(study=study, name="scholar")
    participant = Participant.objects.create(
        study=study, cohort=expert, user=make_user(f"{name}-alice"), pseudonym="expert-01", order_seed=1
    )
    other = Participant.objects.create(
        study=study, cohort=scholar, user=make_user(f"{name}-bob"), pseudonym="scholar-01", order_seed=2
    )
    return ReadingStudy(
        study=study,
        coordinator=make_user(f"{name}-coordinator", COORDINATOR, study),
        analyst=make_user(f"{name}-analyst", ANALYST, study),
        participant=participant,
        other_participant=other,
        outsider=make_user(f"{name}-outsider"),
    )
