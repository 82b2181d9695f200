"""``gisaxs-cnn simulate``: balanced, reproducible shards, the same however they are computed."""
from __future__ import annotations

import json

import numpy as np
import pytest

from xicam_gisaxs_cnn.classes import CLASS_NAMES, NUM_CLASSES
from xicam_gisaxs_cnn.cli import main
from xicam_gisaxs_cnn_trainer.datasets import ShardDataset, find_shards, read_shard
from xicam_gisaxs_cnn_trainer.simulation import SIMULATOR_VERSION, SimulationConfig

SMALL = ["--per-class", "2", "--shard-size", "5", "--batch-size", "4"]
FAST = SimulationConfig(grains=1, repetitions_lateral_range=(1.0, 30.0))


@pytest.fixture(scope="module")
def fast_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "fast.json"
    path.write_text(json.dumps(FAST.to_dict()))
    return str(path)


def simulate(out, *extra, config):
    return main(["simulate", *SMALL, "--out", str(out), "--config", config, *extra])


def contents(folder):
    return [read_shard(path) for path in find_shards(folder)]


def assert_same_dataset(first, second):
    """Labels and parameters bit for bit; images to float32 rounding (torch's reductions depend on its thread count)."""
    for a, b in zip(contents(first), contents(second), strict=True):
        peak = a.images.max(axis=(1, 2), keepdims=True)
        assert np.all(np.abs(a.images - b.images) <= 1e-6 * peak)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.params.keys() == b.params.keys()
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, fast_config):
    out = tmp_path_factory.mktemp("reference")
    assert simulate(out, "--seed", "11", config=fast_config) == 0
    return out


def test_simulate_writes_every_class_per_class_times_into_shards(reference):
    shards = contents(reference)
    assert [len(shard.labels) for shard in shards] == [5, 5, 4]
    labels = np.concatenate([shard.labels for shard in shards])
    assert np.bincount(labels, minlength=NUM_CLASSES).tolist() == [2] * NUM_CLASSES
    for shard in shards:
        np.testing.assert_array_equal(shard.params["label"], shard.labels)
        assert shard.params["in_plane_direction"].shape == shard.labels.shape
        assert np.all(np.isfinite(shard.images)) and np.all(shard.images.max(axis=(1, 2)) > 0)
        assert shard.masks.any(axis=(0, 2)).sum() < 125 and np.all(shard.images[~shard.masks] == 0)
        assert SimulationConfig.from_dict(shard.config) == FAST
        assert shard.simulator_version == SIMULATOR_VERSION
    manifest = json.loads((reference / "dataset.json").read_text())
    assert manifest["patterns"] == 14 and manifest["class_names"] == list(CLASS_NAMES)
    assert manifest["shards"] == ["shard-00000.h5", "shard-00001.h5", "shard-00002.h5"]


def test_simulate_is_reproducible_by_seed(reference, tmp_path, fast_config):
    assert simulate(tmp_path / "again", "--seed", "11", config=fast_config) == 0
    assert_same_dataset(reference, tmp_path / "again")
    assert simulate(tmp_path / "other", "--seed", "12", config=fast_config) == 0
    assert not np.array_equal(contents(reference)[0].images, contents(tmp_path / "other")[0].images)


def test_simulate_on_a_dask_scheduler_gives_the_same_dataset(reference, tmp_path, fast_config):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        assert simulate(tmp_path / "dask", "--seed", "11", "--scheduler", cluster.scheduler_address,
                        config=fast_config) == 0
    assert_same_dataset(reference, tmp_path / "dask")


def test_simulate_with_local_worker_processes_gives_the_same_dataset(reference, tmp_path, fast_config):
    assert simulate(tmp_path / "workers", "--seed", "11", "--workers", "2", config=fast_config) == 0
    assert_same_dataset(reference, tmp_path / "workers")


def test_simulate_applies_a_config_file(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"nn_distance_nm_range": [20.0, 20.0], "grains": 1}))
    assert simulate(tmp_path / "out", config=str(config)) == 0
    dataset = ShardDataset(tmp_path / "out", batch_size=4)
    np.testing.assert_allclose(dataset.read("params/nn_distance_nm"), 20.0)
    assert SimulationConfig.from_dict(dataset.config).grains == 1


def test_simulate_refuses_a_folder_that_already_holds_shards(reference, capsys, fast_config):
    assert simulate(reference, config=fast_config) == 2
    assert "already holds shards" in capsys.readouterr().err


def test_simulate_refuses_an_unknown_config_key(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"lattice_constant": 3}))
    assert simulate(tmp_path / "out", config=str(config)) == 2
    assert "lattice_constant" in capsys.readouterr().err
