"""Whole-image predictions per second along ``predict``'s path, in one process and under torchrun.

GapNet-PL with random weights predicts whole 16-bit images of ``--sizes`` px (2048 and 3072: 4 and 9
tiles of 1024 px) along the path ``manage.py predict`` takes: read from the sample store, z-scored
over the whole image, the mean of the tiles' probabilities, stored as Prediction rows in chunks
(``models_zoo.prediction.predict_samples``). On the CPU with 1 process (using every core) and with 2
processes under ``torchrun --nproc_per_node 2`` (one thread each, as torchrun sets; gloo), each
predicting its share and storing its own chunks; on the GPU(s) when there are any, one process per
GPU (then ``--gpu-rounds`` passes over the images, for steadier figures, tiles 9 to a batch, and 4
loader workers reading images ahead: "readers"), else it says there is none.

    python benchmarks/bench_prediction.py [--images 4] [--sizes 2048 3072] [--gpu-rounds 4]

The time is the first process's, from the moment it starts predicting (the model loaded and
warmed up on one tile, the processes connected) until every process has stored its last chunk. The
images live in a throw-away site (``temporary_site``). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
RESULT = "RESULT "
RUN = "bench-prediction"


def dataset_name(size: int) -> str:
    return f"px{size}"


def prepare(images: int, sizes: list[int]) -> None:
    """The data sets (``images`` random 16-bit images of each size, in the store) and a run of a
    randomly initialised GapNet-PL, tiles of 1024 px."""
    import numpy as np
    import torch

    from models_zoo.models import ModelRun
    from models_zoo.registry import create_model
    from models_zoo.runs import create_run, model_checkpoint, save_run_model
    from study.models import Dataset, Sample
    from study.store import sample_store

    store = sample_store()
    rng = np.random.default_rng(0)
    datasets = []
    for size in sizes:
        dataset = Dataset.objects.create(name=dataset_name(size), label_set_key="cyto13")
        datasets.append(dataset)
        for i in range(images):
            key = f"{dataset.name}/{i:03d}.npy"
            store.write(key, rng.integers(0, 4096, (4, size, size), dtype=np.uint16))
            Sample.objects.create(
                dataset=dataset, source_id=f"{size}-{i:03d}", height=size, width=size, bit_depth=16, store_key=key
            )
    torch.manual_seed(0)
    network = create_model("gapnet_pl", num_classes=len(datasets[0].label_set))
    run = create_run(RUN, ModelRun.Kind.TRAINED, "gapnet_pl", datasets[0], {})
    save_run_model(run, model_checkpoint(network, "gapnet_pl", 1024, False))
    ModelRun.objects.filter(pk=run.pk).update(status=ModelRun.Status.FINISHED)


def worker(args: argparse.Namespace) -> None:
    """One process of a measurement (under torchrun or not): predict every data set, the first process
    printing one result line per size."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import torch

    from models_zoo.registry import create_model
    from models_zoo.runs import get_run
    from models_zoo.tiling import predict_whole_image
    from models_zoo.training.processes import current_processes, process_device, process_group

    processes = current_processes()
    device = process_device(args.device, processes)
    warm = create_model("gapnet_pl")
    predict_whole_image(warm, torch.zeros(4, 1024, 1024), 1024, args.batch_size, device, args.amp)
    run = get_run(RUN)
    with process_group(processes, "cpu"):  # as the predict command connects them
        predict_sizes(args, run, processes)


def predict_sizes(args: argparse.Namespace, run, processes) -> None:
    import torch

    from models_zoo.prediction import predict_samples
    from study.models import Sample

    for size in args.sizes:
        samples = list(Sample.objects.filter(dataset__name=dataset_name(size)).order_by("source_id"))
        predicted = seconds = 0.0
        for _ in range(args.rounds):
            summary = predict_samples(
                run, samples, device=args.device, batch_size=args.batch_size, workers=args.workers, amp=args.amp,
                replace=True,
            )
            predicted += summary.predicted
            seconds += summary.seconds
        if processes.is_writer:
            result = {"size": size, "images": predicted, "seconds": seconds, "threads": torch.get_num_threads()}
            print(RESULT + json.dumps(result), flush=True)


def measure(
    device: str, processes: int, sizes: list[int], rounds: int, batch_size: int, amp: bool = False, workers: int = 0
) -> None:
    command = [str(HERE), "--worker", "--device", device, "--rounds", str(rounds), "--batch-size", str(batch_size)]
    command += ["--workers", str(workers), "--sizes", *map(str, sizes)] + (["--amp"] if amp else [])
    if processes > 1:
        launcher = [str(TORCHRUN), "--standalone", f"--nproc_per_node={processes}"]
    else:
        launcher = [sys.executable]
    environment = dict(os.environ)
    if processes == 1:
        environment.pop("OMP_NUM_THREADS", None)  # one process uses every core
    done = subprocess.run(launcher + command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        print(f"{device} with {processes} processes failed:\n{done.stdout}{done.stderr}", flush=True)
        return
    precision = "bf16" if amp else "fp32"
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT):])
            rate = result["images"] / result["seconds"]
            print(
                f"{device:<6} {precision:<9} {processes:>9} {result['threads']:>15} {workers:>7} {result['size']:>5} "
                f"{result['images']:>6.0f} {result['seconds']:>8.2f} {rate:>13.2f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images of each size (default 4; even, for 2 processes)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 3072], help="image sizes in px")
    parser.add_argument("--gpu-rounds", type=int, default=4, help="passes over the images on a GPU (default 4)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--amp", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    sys.path.insert(0, str(HERE.parent))
    import temporary_site  # points Django at a throw-away data folder, in this process and its children
    import torch

    with temporary_site.migrated():
        prepare(args.images, args.sizes)
        print(
            f"GapNet-PL (random weights), whole {'/'.join(map(str, args.sizes))} px 16-bit images from the store, "
            f"1024 px tiles, stored as Prediction rows; {os.cpu_count()} CPU cores"
        )
        print(f"{'device':<6} {'precision':<9} {'processes':>9} {'threads/process':>15} {'readers':>7} {'px':>5} "
              f"{'images':>6} {'seconds':>8} {'predictions/s':>13}", flush=True)
        for processes in (1, 2):
            measure("cpu", processes, args.sizes, rounds=1, batch_size=4)
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not gpus:
            print("No CUDA GPU here: the GPU figures are skipped.")
            return
        for processes in sorted({1, gpus}):
            for amp in (False, True):
                measure("cuda", processes, args.sizes, rounds=args.gpu_rounds, batch_size=9, amp=amp, workers=4)


if __name__ == "__main__":
    main()
