"""Shards round-trip exactly, stream every sample once per epoch, and split 5:1 per stratum."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.classes import NUM_CLASSES
from xicam_gisaxs_cnn_trainer.datasets import ShardDataset, read_shard, stratified_split, write_shard
from xicam_gisaxs_cnn_trainer.datasets.batch import epoch_batches

CONFIG = {"distance_nm": [12.0, 35.0], "born": False}


def make_shards(folder, sizes, *, start=0):
    """Shards whose image k is filled with the global index k, so every read can be traced."""
    paths, index = [], start
    for number, size in enumerate(sizes):
        ids = np.arange(index, index + size)
        images = np.broadcast_to(ids[:, None, None], (size, 125, 125)).astype(np.float32)
        params = {
            "sample_id": ids.astype(np.int64),
            "distance_nm": (ids * 0.5 + 12).astype(np.float32),
            "in_plane_direction": (ids % 3).astype(np.int64),
        }
        paths.append(write_shard(folder / f"shard-{number:05d}.h5", images, ids % NUM_CLASSES, params,
                                 config=CONFIG, simulator_version="test-1", seed=number))
        index += size
    return paths


def seen_ids(batches):
    ids = []
    for batch in batches:
        batch_ids = batch.params["sample_id"]
        assert torch.equal(batch.images[:, 0, 0, 0], batch_ids.to(torch.float32))
        assert torch.equal(batch.labels, batch_ids % NUM_CLASSES)
        assert torch.equal(batch.params["in_plane_direction"], batch_ids % 3)
        ids.extend(batch_ids.tolist())
    return ids


def test_shard_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.lognormal(size=(6, 125, 125)).astype(np.float32)
    masks = rng.random((6, 125, 125)) > 0.1
    labels = np.array([0, 6, 3, 3, 1, 2])
    params = {
        "radius_nm": rng.random(6).astype(np.float32),
        "repetitions": rng.integers(1, 200, size=(6, 3)),
        "rotation_deg": rng.random((6, 4)),
        "born": np.array([True, False, True, True, False, False]),
    }
    path = write_shard(tmp_path / "s.h5", torch.from_numpy(images), torch.from_numpy(labels), params,
                       config=CONFIG, simulator_version="1.2.3", seed=42, masks=masks)
    contents = read_shard(path)
    np.testing.assert_array_equal(contents.images, images)
    np.testing.assert_array_equal(contents.masks, masks)
    np.testing.assert_array_equal(contents.labels, labels)
    assert contents.params.keys() == params.keys()
    for name, value in params.items():
        assert contents.params[name].dtype == value.dtype
        np.testing.assert_array_equal(contents.params[name], value)
    assert contents.config == CONFIG
    assert (contents.simulator_version, contents.seed) == ("1.2.3", 42)
    with h5py.File(path) as file:
        assert file["images"].compression == "gzip"
        assert json.loads(file.attrs["class_names"])[6] == "HCP0001"


def test_write_shard_refuses_overwrite_and_bad_shapes(tmp_path):
    images = np.zeros((2, 125, 125))
    write_shard(tmp_path / "a.h5", images, [0, 1], {}, config={}, simulator_version="v", seed=0)
    with pytest.raises(ValueError, match="already exists"):
        write_shard(tmp_path / "a.h5", images, [0, 1], {}, config={}, simulator_version="v", seed=0)
    with pytest.raises(ValueError, match="images must have shape"):
        write_shard(tmp_path / "b.h5", np.zeros((2, 64, 64)), [0, 1], {}, config={}, simulator_version="v", seed=0)
    with pytest.raises(ValueError, match="labels must lie in"):
        write_shard(tmp_path / "b.h5", images, [0, 7], {}, config={}, simulator_version="v", seed=0)
    with pytest.raises(ValueError, match=r"params\['radius_nm'\]"):
        write_shard(tmp_path / "b.h5", images, [0, 1], {"radius_nm": np.ones(3)}, config={}, simulator_version="v", seed=0)
    assert not (tmp_path / "b.h5").exists() and not list(tmp_path.glob("*.partial"))


def test_reader_refuses_a_shard_missing_a_dataset(tmp_path):
    (path,) = make_shards(tmp_path, [3])
    with h5py.File(path, "a") as file:
        del file["masks"]
    with pytest.raises(ValueError, match="'masks'"):
        ShardDataset([path], batch_size=2)


def test_reader_refuses_a_wrong_format_version(tmp_path):
    (path,) = make_shards(tmp_path, [3])
    with h5py.File(path, "a") as file:
        file.attrs["format_version"] = 99
    with pytest.raises(ValueError, match="format_version 99"):
        ShardDataset([path], batch_size=2)


def test_reader_refuses_shards_of_different_configs(tmp_path):
    paths = make_shards(tmp_path, [3, 3])
    with h5py.File(paths[1], "a") as file:
        file.attrs["config"] = json.dumps({"born": True})
    with pytest.raises(ValueError, match="different configs"):
        ShardDataset(paths, batch_size=2)


def test_stream_in_order_reads_every_sample_once(tmp_path):
    make_shards(tmp_path, [5, 7, 4])
    dataset = ShardDataset(tmp_path, batch_size=3)
    batches = list(dataset)
    assert len(batches) == len(dataset) == 6
    assert seen_ids(batches) == list(range(16))


def test_shuffled_stream_covers_every_sample_once_and_reorders_per_epoch(tmp_path):
    make_shards(tmp_path, [5, 7, 4])
    dataset = ShardDataset(tmp_path, batch_size=4, shuffle=True, seed=7)
    first = seen_ids(dataset)
    again = seen_ids(dataset)
    dataset.set_epoch(1)
    second = seen_ids(dataset)
    assert sorted(first) == sorted(second) == list(range(16))
    assert first == again and first != second


def test_dataloader_workers_share_an_epoch_without_duplicates(tmp_path):
    make_shards(tmp_path, [9, 8])
    dataset = ShardDataset(tmp_path, batch_size=2, shuffle=True, seed=3)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2)
    ids = seen_ids(loader)
    assert sorted(ids) == list(range(17))


def test_ranks_split_an_epoch_without_duplicates(tmp_path):
    make_shards(tmp_path, [6, 5])
    ranks = [seen_ids(ShardDataset(tmp_path, batch_size=2, shuffle=True, rank=rank, world_size=3)) for rank in range(3)]
    assert sorted(sum(ranks, [])) == list(range(11))
    assert all(ranks)


def test_indices_select_exactly_those_samples_and_drop_last_trims(tmp_path):
    make_shards(tmp_path, [5, 7])
    chosen = [11, 0, 6, 5, 3]
    assert sorted(seen_ids(ShardDataset(tmp_path, batch_size=2, indices=chosen))) == sorted(chosen)
    trimmed = ShardDataset(tmp_path, batch_size=2, indices=chosen, drop_last=True)
    assert len(trimmed) == 2 and len(seen_ids(trimmed)) == 4
    with pytest.raises(ValueError, match="indices"):
        ShardDataset(tmp_path, batch_size=2, indices=[12])


def test_read_gathers_one_dataset_over_all_shards(tmp_path):
    make_shards(tmp_path, [5, 7])
    dataset = ShardDataset(tmp_path, batch_size=2)
    np.testing.assert_array_equal(dataset.read("params/in_plane_direction"), np.arange(12) % 3)
    assert dataset.config == CONFIG and dataset.simulator_version == "test-1"
    with pytest.raises(ValueError, match="'params/angle'"):
        dataset.read("params/angle")


def test_epoch_batches_partition_positions():
    batches = epoch_batches(10, 3, shuffle=True, seed=1, epoch=2)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches)) == list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        epoch_batches(10, 0, shuffle=False, seed=0, epoch=0)


def strata(classes=NUM_CLASSES, directions=4, per_stratum=12, seed=0):
    labels = np.repeat(np.arange(classes), directions * per_stratum)
    bins = np.tile(np.repeat(np.arange(directions), per_stratum), classes)
    order = np.random.default_rng(seed).permutation(labels.size)
    return labels[order], bins[order]


def test_split_is_five_to_one_within_every_class_and_direction():
    labels, directions = strata()
    split = stratified_split(labels, directions, seed=0)
    assert np.intersect1d(split.train, split.test).size == 0
    assert np.array_equal(np.union1d(split.train, split.test), np.arange(labels.size))
    for label in range(NUM_CLASSES):
        for direction in range(4):
            member = (labels == label) & (directions == direction)
            assert member[split.train].sum() == 10 and member[split.test].sum() == 2


def test_split_is_reproducible_by_seed_and_changes_with_it():
    labels, directions = strata()
    first = stratified_split(labels, directions, seed=5)
    second = stratified_split(labels, directions, seed=5)
    other = stratified_split(labels, directions, seed=6)
    assert np.array_equal(first.test, second.test) and np.array_equal(first.train, second.train)
    assert not np.array_equal(first.test, other.test)


def test_split_of_uneven_strata_rounds_each_to_the_nearest_count():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 1 + [0] * 9)
    directions = np.array([0] * 7 + [0] * 3 + [0] * 1 + [1] * 9)
    split = stratified_split(labels, directions, seed=0)
    test_labels = list(zip(labels[split.test], directions[split.test]))
    assert sorted(test_labels) == [(0, 0), (0, 1), (0, 1), (1, 0)]  # round(7/6)=1, round(9/6)=2, round(3/6)=1, round(1/6)=0


def test_split_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="directions"):
        stratified_split(np.zeros(4, int), np.zeros(5, int), seed=0)
    with pytest.raises(ValueError, match="labels"):
        stratified_split(np.zeros(4), np.zeros(4, int), seed=0)
    with pytest.raises(ValueError, match="train_to_test"):
        stratified_split(np.zeros(4, int), np.zeros(4, int), seed=0, train_to_test=0)


def simulated(**kwargs):
    from xicam_gisaxs_cnn_trainer.datasets.onthefly import SimulatedDataset
    from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig

    options = {"batch_size": NUM_CLASSES, "batches_per_epoch": 2, "seed": 4, **kwargs}
    return SimulatedDataset(SimulationConfig(grains=1, repetitions_lateral_range=(1.0, 30.0)), **options)


def same_images(first, second):
    """Equal to float32 rounding: torch's reductions depend on its thread count (1 in DataLoader workers)."""
    peak = first.amax(dim=(1, 2, 3), keepdim=True)
    return bool(((first - second).abs() <= 1e-6 * peak).all())


def test_simulated_batches_are_balanced_masked_below_the_horizon_with_their_parameters():
    from xicam_gisaxs_cnn.canonical import DEFAULT_ALPHA_I_DEG, DEFAULT_WAVELENGTH_NM, qz_nm

    # Exit angle >= 0 <=> qz >= k sin(alpha_i) at the nominal geometry.
    horizon_qz = 2 * np.pi / DEFAULT_WAVELENGTH_NM * np.sin(np.radians(DEFAULT_ALPHA_I_DEG))
    above = torch.from_numpy(qz_nm() >= horizon_qz)
    batches = list(simulated())
    assert len(batches) == 2
    for batch in batches:
        assert batch.images.shape == (NUM_CLASSES, 1, 125, 125) and batch.images.dtype == torch.float32
        assert batch.masks.dtype == torch.bool
        assert torch.equal(batch.masks[:, 0], above[None, :, None].expand(NUM_CLASSES, 125, 125))
        assert (batch.images[~batch.masks] == 0).all()
        assert sorted(batch.labels.tolist()) == list(range(NUM_CLASSES))
        assert torch.equal(batch.params["label"], batch.labels)
        assert batch.params["in_plane_direction"].shape == (NUM_CLASSES,)
        assert torch.isfinite(batch.images).all() and (batch.images.amax(dim=(1, 2, 3)) > 0).all()


def test_simulated_stream_is_reproducible_and_new_each_epoch():
    first, again = list(simulated(batches_per_epoch=1)), list(simulated(batches_per_epoch=1))
    for a, b in zip(first, again):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    dataset = simulated()
    dataset.set_epoch(1)
    assert not torch.equal(next(iter(dataset)).images, first[0].images)


def test_simulated_stream_deals_the_same_batches_over_ranks():
    reference = list(simulated(batch_size=2, batches_per_epoch=3))
    ranks = [list(simulated(batch_size=2, batches_per_epoch=3, rank=rank, world_size=2)) for rank in range(2)]
    assert [len(batches) for batches in ranks] == [2, 1]
    for expected, batch in zip(reference, [ranks[0][0], ranks[1][0], ranks[0][1]], strict=True):
        assert torch.equal(expected.params["nn_distance_nm"], batch.params["nn_distance_nm"])
        assert same_images(expected.images, batch.images)


def test_dataset_indices_are_checked_for_range_and_repeats():
    from xicam_gisaxs_cnn_trainer.datasets.batch import check_indices

    np.testing.assert_array_equal(check_indices(None, 3, what="samples"), [0, 1, 2])
    np.testing.assert_array_equal(check_indices([2, 0], 3, what="samples"), [2, 0])
    with pytest.raises(ValueError, match=r"sample indices in \[0, 3\)"):
        check_indices([3], 3, what="samples")
    with pytest.raises(ValueError, match="repeated files"):
        check_indices([1, 1], 3, what="files")
