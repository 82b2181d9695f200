"""Accuracy on the randomised training distribution by total counts (trainer.realistic.counts, issue 8)."""
from __future__ import annotations

import pytest

from xicam_gisaxs_cnn.models import load_model
from xicam_gisaxs_cnn_trainer.realistic.counts import accuracy_by_counts

FEW, MANY = (1.5, 2.0), (5.0, 7.0)


@pytest.fixture(scope="module")
def rows():
    return accuracy_by_counts(load_model("frames"), per_class=8, log10_bins=(FEW, MANY))


def test_the_shipped_frames_model_needs_photons_on_its_own_training_distribution(rows):
    few, many = rows
    assert few["log10_counts"] == list(FEW) and many["patterns"] == 56
    # measured: 30-100 photons 33.9% (HCP0001 25.0%), 1e5-1e7 photons 83.9% (HCP0001 87.5%); chance is 14.3%
    assert few["accuracy_percent"] < 60 < 75 < many["accuracy_percent"]
    assert many["hcp0001_recall_percent"] > few["hcp0001_recall_percent"]


def test_the_same_seed_gives_the_same_figures(rows):
    assert accuracy_by_counts(load_model("frames"), per_class=8, log10_bins=(FEW, MANY)) == rows


@pytest.mark.parametrize("options, message", [
    (dict(per_class=0), "per_class must be an integer >= 1"),
    (dict(log10_bins=((3.0, 2.0),)), "low <= high"),
    (dict(log10_bins=()), "log10_bins must be"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        accuracy_by_counts(load_model("frames"), **options)
