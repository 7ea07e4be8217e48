"""The training loader hands over raw crops, z-scored where the model runs; the result is the crops that
``models_zoo.training.crops`` z-scores on the CPU."""

import numpy as np
import pytest
import torch

from models_zoo.training.config import ConfigError
from models_zoo.training.data import (
    CropDataset,
    EpochSampler,
    SplitSamples,
    device_crops,
    train_loader,
    zscore_crops,
)
from models_zoo.training.crops import zscore
from study.store import SampleStore


def store_samples(root, arrays) -> SplitSamples:
    store = SampleStore(root)
    keys = []
    for i, array in enumerate(arrays):
        store.write(f"{i}.npy", array)
        keys.append(f"{i}.npy")
    targets = np.zeros((len(keys), 13), dtype=np.float32)
    targets[np.arange(len(keys)), np.arange(len(keys)) % 13] = 1
    return SplitSamples(list(range(len(keys))), keys, targets)


def mixed_arrays(seed=0):
    """8-bit, 16-bit far from zero, 16-bit near the top of the range, smaller than a crop, a constant channel."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (4, 70, 90)).astype(np.uint8),
        rng.normal(30000, 300, (4, 100, 50)).clip(0, 65535).astype(np.uint16),
        rng.integers(60000, 65536, (4, 40, 40)).astype(np.uint16),
        rng.normal(1500, 400, (4, 120, 130)).clip(0, 65535).astype(np.uint16),
    ]
    arrays[3][2] = 7
    return arrays


@pytest.mark.parametrize("augment", [False, True])
def test_raw_batches_z_scored_are_the_crops_z_scored_on_the_cpu(tmp_path, augment):
    dataset = CropDataset(SampleStore(tmp_path), store_samples(tmp_path, mixed_arrays()), 64, seed=3, augment=augment)
    tagged = [(i, 5) for i in range(len(dataset))]
    batch = dataset.__getitems__(tagged)[0]
    assert batch.images.dtype == torch.int16 and batch.images.shape == (4, 4, 64, 64)  # 16-bit pixels travel as int16
    assert batch.read_seconds > 0
    expected = torch.stack([dataset[t][0] for t in tagged])  # random_crop and augment: z-scored on the CPU
    torch.testing.assert_close(zscore_crops(batch.images), expected, rtol=0, atol=3e-5)
    torch.testing.assert_close(batch.targets, torch.as_tensor(dataset.samples.targets))
    assert torch.equal(zscore_crops(batch.images)[3, 2], torch.zeros(64, 64))  # a constant channel: zeros


def test_8_bit_batches_stay_8_bit(tmp_path):
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 256, (4, 80, 80)).astype(np.uint8) for _ in range(3)]
    dataset = CropDataset(SampleStore(tmp_path), store_samples(tmp_path, arrays), 64, seed=0, augment=True)
    batch = dataset.__getitems__([(i, 1) for i in range(3)])[0]
    assert batch.images.dtype == torch.uint8
    expected = torch.stack([dataset[(i, 1)][0] for i in range(3)])
    torch.testing.assert_close(zscore_crops(batch.images), expected, rtol=0, atol=3e-5)


def test_at_1024_px_the_device_z_score_is_within_float_rounding_of_float64_and_of_the_cpu_one():
    rng = np.random.default_rng(2)
    pixels = rng.normal(30000, 300, (1, 4, 1024, 1024)).clip(0, 65535).astype(np.uint16)
    exact = pixels.astype(np.float64)
    exact = (exact - exact.mean(axis=(2, 3), keepdims=True)) / exact.std(axis=(2, 3), keepdims=True)
    on_device = zscore_crops(torch.from_numpy(pixels.view(np.int16))).numpy()
    on_cpu = zscore(pixels[0]).numpy()
    assert np.abs(on_device - exact).max() < 1e-5
    assert np.abs(on_device[0] - on_cpu).max() < 1e-3  # the CPU's float32 einsum sums are the coarser
    assert np.abs(on_cpu - exact[0]).max() < 1e-3


def test_device_crops_keep_channels_last(tmp_path):
    dataset = CropDataset(SampleStore(tmp_path), store_samples(tmp_path, mixed_arrays()), 32, seed=0)
    raw = dataset.__getitems__([(i, 0) for i in range(4)])[0].images
    crops = device_crops(raw, torch.device("cpu"), channels_last=True)
    assert crops.dtype == torch.float32 and crops.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(crops, zscore_crops(raw))


@pytest.mark.parametrize("workers", [0, 2])
def test_the_loader_reads_the_batches_of_the_dataset_and_leaves_out_the_last_smaller_one(tmp_path, workers):
    # 4 + 4 + 4 + 3 samples: 7 batches of 2 and one left out, more batches than the ring has slots
    # (read-ahead + 2), so that every slot is written again while the batches are taken as training does.
    arrays = mixed_arrays() + mixed_arrays(1) + mixed_arrays(2) + mixed_arrays(3)[:3]
    dataset = CropDataset(SampleStore(tmp_path), store_samples(tmp_path, arrays), 32, seed=4, augment=True)
    sampler = EpochSampler(dataset, seed=4)
    loader = train_loader(dataset, sampler, 2, workers=workers, pin_memory=False)
    assert len(loader.ring) == 2 * workers + 2
    for epoch in (3, 4):
        sampler.set_epoch(epoch)
        order = [tagged for tagged in sampler]
        taken = 0
        for number, batch in enumerate(loader):
            expected = dataset.__getitems__(order[2 * number : 2 * number + 2])[0]
            assert torch.equal(batch.images, expected.images) and torch.equal(batch.targets, expected.targets)
            taken += 1
        assert taken == len(loader) == 7


def test_a_loader_worker_reads_the_same_batches_as_the_training_process(tmp_path):
    arrays = mixed_arrays() + mixed_arrays(1) + mixed_arrays(2)[:2]  # 10 samples
    dataset = CropDataset(SampleStore(tmp_path), store_samples(tmp_path, arrays), 32, seed=4, augment=True)
    sampler = EpochSampler(dataset, seed=4)
    sampler.set_epoch(3)
    inline = train_loader(dataset, sampler, 4, workers=0, pin_memory=False)
    in_worker = train_loader(dataset, sampler, 4, workers=1, pin_memory=False)
    pairs = 0
    for a, b in zip(inline, in_worker):
        assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
        pairs += 1
    assert pairs == 2  # 10 samples: two batches of 4, the other 2 left out


def test_starting_the_loader_draws_nothing_from_torchs_global_generator(tmp_path):
    dataset = CropDataset(SampleStore(tmp_path), store_samples(tmp_path, mixed_arrays()), 32, seed=0)
    sampler = EpochSampler(dataset, seed=0)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    for workers in (0, 1):
        list(train_loader(dataset, sampler, 2, workers=workers, pin_memory=False))
    assert torch.equal(torch.rand(3), expected)


def test_a_batch_larger_than_the_training_samples_is_named(tmp_path):
    dataset = CropDataset(SampleStore(tmp_path), store_samples(tmp_path, mixed_arrays()), 32, seed=0)
    with pytest.raises(ConfigError, match=r"batch_size 5 \(per process\) is more than the 4 training samples"):
        train_loader(dataset, EpochSampler(dataset, seed=0), 5, workers=0, pin_memory=False)


def test_the_loaders_pinning_thread_copies_a_batch_out_of_the_ring(tmp_path, monkeypatch):
    # What the DataLoader's pinning thread does with what a worker hands over (pinned memory needs a GPU:
    # here a pinned copy is a plain copy).
    from torch.utils.data._utils.pin_memory import pin_memory

    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda tensor, *args: tensor.clone())
    dataset = CropDataset(SampleStore(tmp_path), store_samples(tmp_path, mixed_arrays()), 32, seed=0)
    sampler = EpochSampler(dataset, seed=0)
    loader = train_loader(dataset, sampler, 2, workers=0, pin_memory=False)
    handed_over = loader.loader.dataset.__getitems__(next(iter(loader.batches)))[0]
    pinned = pin_memory(handed_over)
    in_ring = handed_over.resolve()
    assert type(pinned).__name__ == "CropBatch" and torch.equal(pinned.images, in_ring.images)
    assert pinned.images.untyped_storage().data_ptr() != in_ring.images.untyped_storage().data_ptr()
    assert torch.equal(pinned.targets, in_ring.targets)
