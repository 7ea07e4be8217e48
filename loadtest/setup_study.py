"""The study the simulated participants read: single-location test samples with tiny pixels in the
sample store, and participants with accounts that sign in with one known password.

Built the way ``tests/factories.py`` builds a reading study, but in bulk: the password is hashed
once and shared, because hashing it per account (PBKDF2, about a third of a second each) would
spend a minute on setup at 200 participants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import transaction

from annotator.models import Cohort, Participant, config_of
from study.labels import CYTO13
from study.models import Dataset, ReferenceLabel, Sample, Study, StudySample
from study.store import sample_store

STUDY_NAME = "loadtest"
PASSWORD = "loadtest-participant-password-1"
PIXEL_SHAPE = (48, 64)


@dataclass(frozen=True)
class LoadStudy:
    study_name: str
    usernames: list[str]
    password: str
    samples: int


def username(index: int) -> str:
    return f"reader-{index:04d}"


def sample_pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, size=(4, *PIXEL_SHAPE)).astype(np.uint16)


@transaction.atomic
def build_study(participants: int, samples: int, expert_share: float = 0.125) -> LoadStudy:
    """A study over ``samples`` test samples (classes 0, 1, ..., 12, 0, ...) read by ``participants``
    people: the first ``expert_share`` of them in an "expert" cohort, the rest "scholar"."""
    if participants < 1 or samples < 1:
        raise ValueError(f"need at least one participant and one sample, got {participants} and {samples}")
    dataset = Dataset.objects.create(name=f"{STUDY_NAME}-data", label_set_key=CYTO13.key, split_seed=0)
    store = sample_store()
    rows = []
    for i in range(samples):
        key = f"{dataset.name}/{i:05d}.npy"
        store.write(key, sample_pixels(i))
        rows.append(
            Sample(
                dataset=dataset, source_id=f"src-{i:05d}", height=PIXEL_SHAPE[0], width=PIXEL_SHAPE[1],
                bit_depth=16, store_key=key, split=Sample.Split.TEST,
            )
        )
    stored = Sample.objects.bulk_create(rows)
    ReferenceLabel.objects.bulk_create(ReferenceLabel(sample=s, class_index=i % len(CYTO13)) for i, s in enumerate(stored))
    study = Study.objects.create(name=STUDY_NAME, dataset=dataset, seed=0)
    StudySample.objects.bulk_create(StudySample(study=study, sample=s, position=i) for i, s in enumerate(stored))
    config_of(study)

    cohorts = {name: Cohort.objects.create(study=study, name=name) for name in ("expert", "scholar")}
    experts = max(1, round(participants * expert_share))
    password_hash = make_password(PASSWORD)
    names = [username(i) for i in range(participants)]
    users = User.objects.bulk_create(User(username=name, password=password_hash) for name in names)
    Participant.objects.bulk_create(
        Participant(
            study=study,
            cohort=cohorts["expert" if i < experts else "scholar"],
            user=user,
            pseudonym=f"{'expert' if i < experts else 'scholar'}-{i:04d}",
            order_seed=Participant.new_order_seed(),
        )
        for i, user in enumerate(users)
    )
    return LoadStudy(study_name=STUDY_NAME, usernames=names, password=PASSWORD, samples=samples)
