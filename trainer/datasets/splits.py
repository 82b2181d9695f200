"""The paper's train/test split: 5 to 1, stratified over class and in-plane direction.

Liu et al. (2019) split each data set 5:1 into training and evaluation data,
"stratified under different directions that are parallel to the thin film
substrate", so every in-plane direction keeps the same ratio. Here each
stratum is one (class, in-plane direction bin) pair.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

TRAIN_TO_TEST: int = 5
"""Training samples per test sample in the paper."""


class Split(NamedTuple):
    """Sorted global sample indices of the two sides of a split."""

    train: np.ndarray
    test: np.ndarray


def stratified_split(
    labels: np.ndarray,
    directions: np.ndarray,
    *,
    seed: int,
    train_to_test: int = TRAIN_TO_TEST,
) -> Split:
    """Split samples ``train_to_test`` : 1 within every (class, direction) stratum.

    Parameters
    ----------
    labels : (N,) int array
        Class index of every sample.
    directions : (N,) int array
        In-plane direction bin of every sample (the simulator's
        ``"in_plane_direction"`` parameter).
    seed : int
        Which samples of a stratum go to the test side; the same seed and
        inputs give the same split.
    train_to_test : int
        Ratio of the split, >= 1 (paper: 5).

    Returns
    -------
    Split
        ``train`` and ``test`` indices, disjoint and together ``0 .. N-1``. A
        stratum of n samples puts ``round(n / (train_to_test + 1))`` of them in
        the test side, so the ratio is exact where n is a multiple of
        ``train_to_test + 1``.

    Examples
    --------
    >>> split = stratified_split(np.zeros(12, int), np.arange(12) % 2, seed=0)
    >>> len(split.train), len(split.test)
    (10, 2)
    """
    labels = np.asarray(labels)
    directions = np.asarray(directions)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
    if directions.shape != labels.shape or not np.issubdtype(directions.dtype, np.integer):
        raise ValueError(
            f"directions must be integers of the labels' shape {labels.shape}, "
            f"got shape {directions.shape} dtype {directions.dtype}"
        )
    if isinstance(train_to_test, bool) or int(train_to_test) != train_to_test or train_to_test < 1:
        raise ValueError(f"train_to_test must be a positive integer, got {train_to_test!r}")
    rng = np.random.default_rng(seed)
    strata, stratum_of = np.unique(np.stack([labels, directions], axis=1), axis=0, return_inverse=True)
    stratum_of = stratum_of.ravel()
    test = []
    for stratum in range(len(strata)):
        members = np.flatnonzero(stratum_of == stratum)
        count = int(np.floor(members.size / (train_to_test + 1) + 0.5))
        test.append(rng.permutation(members)[:count])
    test_indices = np.sort(np.concatenate(test)) if test else np.empty(0, dtype=np.int64)
    is_test = np.zeros(labels.size, dtype=bool)
    is_test[test_indices] = True
    return Split(train=np.flatnonzero(~is_test), test=np.flatnonzero(is_test))
