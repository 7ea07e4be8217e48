"""Panel rendering and serving: the first render of a sample's four panels (display and full
resolution), and cached panel requests through Django's test client.

Standalone: it makes a temporary data folder with an SQLite database, migrates it, and fills the
sample store with synthetic 16-bit fields of cells.
"""

import argparse
import os
import time

import numpy as np

from temporary_site import migrated  # first: it sets Django up on a temporary site

from django.contrib.auth.models import User  # noqa: E402
from django.test import Client  # noqa: E402

from annotator import panel_cache  # noqa: E402
from annotator.models import Cohort, Participant, config_of  # noqa: E402
from annotator.panel_composition import PANELS, render_panels  # noqa: E402
from annotator.panels import panel_urls, render_to_cache, settings_digest  # noqa: E402
from synthetic.dataset import dataset_sample  # noqa: E402
from study.models import Dataset, ReferenceLabel, Sample, Study, StudySample  # noqa: E402
from study.store import sample_store  # noqa: E402


def build_study(samples: int, size: int) -> Study:
    dataset = Dataset.objects.create(name="bench", label_set_key="cyto13")
    study = Study.objects.create(name="bench", dataset=dataset, seed=0)
    store = sample_store()
    for i in range(samples):
        synthetic = dataset_sample(0, i, size)
        key = f"bench/{i}.npy"
        store.write(key, synthetic.image)
        sample = Sample.objects.create(
            dataset=dataset, source_id=synthetic.id, height=size, width=size, bit_depth=16, store_key=key, split="test"
        )
        ReferenceLabel.objects.create(sample=sample, class_index=synthetic.locations[0])
        StudySample.objects.create(study=study, sample=sample, position=i)
    return study


def signed_in_participant(study: Study) -> Client:
    user = User.objects.create_user("bench-reader")
    cohort = Cohort.objects.create(study=study, name="expert")
    Participant.objects.create(study=study, cohort=cohort, user=user, pseudonym="expert-01", order_seed=1)
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with migrated():
        study = build_study(args.samples, args.size)
        percentiles = config_of(study).display_percentiles
        samples = [item.sample for item in study.items.select_related("sample")]
        cores = os.cpu_count()

        pixels = np.asarray(sample_store().open(samples[0].store_key))
        start = time.perf_counter()
        render_panels(pixels, percentiles)
        stretch_seconds = time.perf_counter() - start

        timings = {"display": [], "full": []}
        cpu_timings = {"display": [], "full": []}
        for sample in samples:
            for resolution in timings:
                start, cpu_start = time.perf_counter(), time.process_time()
                render_to_cache(sample, percentiles, resolution)
                timings[resolution].append(time.perf_counter() - start)
                cpu_timings[resolution].append(time.process_time() - cpu_start)
        sizes = {
            resolution: np.mean([
                panel_cache.panel_path(s.store_key, settings_digest(percentiles), p, resolution).stat().st_size
                for s in samples for p in PANELS
            ])
            for resolution in timings
        }

        client = signed_in_participant(study)
        urls = [url for sample in samples for url in panel_urls(study, sample).values()]
        for url in urls:
            b"".join(client.get(url).streaming_content)
        latencies = []
        for n in range(args.requests):
            start = time.perf_counter()
            response = client.get(urls[n % len(urls)])
            b"".join(response.streaming_content)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise SystemExit(f"panel request {urls[n % len(urls)]} answered {response.status_code}")
        p50, p95 = np.percentile(np.array(latencies) * 1000, [50, 95])

    # Wall-clock figures stretch on a busy machine; the CPU seconds and the load average say how much.
    where = f"{args.samples} samples of {args.size}x{args.size} 16-bit, {cores} cores, load {os.getloadavg()[0]:.1f}"
    print(f"panels: stretch and composition of the four full-size panels (numpy, no encoding): {stretch_seconds * 1000:.0f} ms ({where})")
    for resolution, seconds in timings.items():
        print(
            f"panels: first render of a sample's four {resolution} panels (store read, stretch, encode, write): "
            f"mean {np.mean(seconds):.2f} s, max {max(seconds):.2f} s, CPU {np.mean(cpu_timings[resolution]):.2f} s; "
            f"{sizes[resolution] / 1024:.0f} KiB a panel "
            f"({where})"
        )
    print(
        f"panels: cached display panel request through the test client: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"over {args.requests} requests ({where})"
    )


if __name__ == "__main__":
    main()
