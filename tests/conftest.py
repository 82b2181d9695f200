"""Shared fixtures: small, seeded, real objects (no mocks)."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def untrained_bundle(tmp_path_factory):
    """A real weight bundle of the compact architecture with seeded random weights."""
    from xicam_gisaxs_cnn.models import build_model, save_bundle

    torch.manual_seed(0)
    return save_bundle(build_model("compact"), tmp_path_factory.mktemp("bundles") / "untrained")


@pytest.fixture(autouse=True)
def isolated_model_dir(tmp_path, monkeypatch):
    """Each test gets its own empty user model directory."""
    directory = tmp_path / "user-models"
    monkeypatch.setenv("GISAXS_CNN_MODEL_DIR", str(directory))
    return directory


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (simulations of realistic frames; the suite runs on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
