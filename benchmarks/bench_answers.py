"""Answer-save latency through the real view: 1,000 answers POSTed to the participant answer endpoint
of a 200-sample study, half of them new answers and half changes of an earlier one.

A participant can give at most 200 new answers in a 200-sample study, so five participants share the
work, each with its own signed-in client: each answers 100 cases and changes 100 earlier answers, a
change after every new answer. The requests carry the CSRF header as the labelling page sends it.

Standalone: it runs on a temporary site (see temporary_site.py).
Run: ``.venv/bin/python benchmarks/bench_answers.py``
"""

import json
import os
import random
import time

import numpy as np

from temporary_site import migrated  # first: it sets Django up on a temporary site

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from annotator.models import Answer, Cohort, Participant  # noqa: E402
from study.models import Dataset, ReferenceLabel, Sample, Study, StudySample  # noqa: E402

SAMPLES = 200
PARTICIPANTS = 5
NEW_PER_PARTICIPANT = 100  # and as many changes
CLASSES = 13


def build_study() -> Study:
    """Sample rows only: saving an answer never reads the pixels."""
    dataset = Dataset.objects.create(name="bench", label_set_key="cyto13")
    study = Study.objects.create(name="bench", dataset=dataset, seed=0)
    samples = Sample.objects.bulk_create(
        Sample(dataset=dataset, source_id=f"s{i:05d}", height=1024, width=1024, bit_depth=16, store_key=f"bench/{i}.npy", split="test")
        for i in range(SAMPLES)
    )
    ReferenceLabel.objects.bulk_create(ReferenceLabel(sample=s, class_index=i % CLASSES) for i, s in enumerate(samples))
    StudySample.objects.bulk_create(StudySample(study=study, sample=s, position=i) for i, s in enumerate(samples))
    return study


def signed_in_participant(study: Study, number: int) -> tuple[Client, str]:
    """A participant's client, signed in and holding the CSRF token their first case page hands out."""
    user = User.objects.create_user(f"bench-reader-{number}")
    cohort, _ = Cohort.objects.get_or_create(study=study, name="expert")
    Participant.objects.create(study=study, cohort=cohort, user=user, pseudonym=f"expert-{number:02d}", order_seed=number)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    client.get(reverse("annotator:participant_case", args=[study.name, 1]))
    return client, client.cookies["csrftoken"].value


def requests_of_one_participant(rng: random.Random) -> list[tuple[str, int, int]]:
    """(kind, case number, class index): a new answer to case k, then a change of a random earlier case."""
    current = {}
    plan = []
    for number in range(1, NEW_PER_PARTICIPANT + 1):
        current[number] = rng.randrange(CLASSES)
        plan.append(("new", number, current[number]))
        changed = rng.randint(1, number)
        current[changed] = (current[changed] + 1) % CLASSES
        plan.append(("change", changed, current[changed]))
    return plan


def main() -> None:
    rng = random.Random(0)
    with migrated():
        study = build_study()
        latencies = {"new": [], "change": []}
        cpu_seconds = 0.0
        for number in range(1, PARTICIPANTS + 1):
            client, token = signed_in_participant(study, number)
            for kind, case, class_index in requests_of_one_participant(rng):
                body = json.dumps({"class_index": class_index, "active_seconds": rng.uniform(2, 30)})
                url = reverse("annotator:participant_answer", args=[study.name, case])
                start, cpu_start = time.perf_counter(), time.process_time()
                response = client.post(url, body, content_type="application/json", headers={"X-CSRFToken": token})
                latencies[kind].append(time.perf_counter() - start)
                cpu_seconds += time.process_time() - cpu_start
                if response.status_code != 200:
                    raise SystemExit(f"answer to case {case} answered {response.status_code}: {response.content[:200]!r}")
        stored = Answer.objects.aggregate(answers=Count("id"), changes=Sum("changes"))
        vendor = connection.vendor

    total = sum(map(len, latencies.values()))
    where = (
        f"{PARTICIPANTS} participants x {SAMPLES}-sample study, {vendor}, one client at a time, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    for kind, seconds in [("all", latencies["new"] + latencies["change"]), *latencies.items()]:
        p50, p95, p99 = np.percentile(np.array(seconds) * 1000, [50, 95, 99])
        print(f"answers: save through the view ({kind}, {len(seconds)}): p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms ({where})")
    # Wall-clock figures stretch on a busy machine; the CPU time and the load average say how much.
    print(
        f"answers: {total / sum(map(sum, latencies.values())):.0f} answers/s, CPU {cpu_seconds / total * 1000:.1f} ms an answer; "
        f"{stored['answers']} answers stored with {stored['changes']} changes ({where})"
    )


if __name__ == "__main__":
    main()
