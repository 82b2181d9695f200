"""The report's figures (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from xicam_gisaxs_cnn.classes import CLASS_NAMES  # noqa: E402


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def confusion(matrix: np.ndarray, path: Path) -> None:
    """Fig. 2: M_ij = fraction of true class j predicted as i."""
    figure, axis = plt.subplots(figsize=(5.5, 4.8))
    image = axis.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
    axis.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=45, ha="right")
    axis.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    axis.set_xlabel("true class j")
    axis.set_ylabel("predicted class i")
    for (i, j), value in np.ndenumerate(matrix):
        if value >= 0.005:
            axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")
    figure.colorbar(image, ax=axis)
    _save(figure, path)


def pca(projections: np.ndarray, labels: np.ndarray, evr: np.ndarray, path: Path) -> None:
    """Fig. 3: first two principal components of the penultimate layer, and the cumulative EVR."""
    figure, (scatter, curve) = plt.subplots(1, 2, figsize=(10, 4.2))
    for index, name in enumerate(CLASS_NAMES):
        chosen = labels == index
        scatter.scatter(projections[chosen, 0], projections[chosen, 1], s=5, label=name, alpha=0.6)
    scatter.set_xlabel("PC 1")
    scatter.set_ylabel("PC 2")
    scatter.legend(fontsize=7, markerscale=3)
    components = np.arange(1, min(20, evr.size) + 1)
    curve.plot(components, evr[:components.size], "o-")
    curve.set_xlabel("components k")
    curve.set_ylabel("explained variance ratio")
    curve.set_ylim(0, 1.02)
    _save(figure, path)


def reliability_diagram(calibration: dict, path: Path) -> None:
    """Accuracy vs confidence per bin, for each evaluated condition."""
    figure, axis = plt.subplots(figsize=(4.5, 4.2))
    axis.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for name, result in calibration.items():
        counts = np.asarray(result["counts"])
        used = counts > 0
        axis.plot(np.asarray(result["confidence"])[used], np.asarray(result["accuracy"])[used], "o-",
                  label=f"{name} (ECE {result['ece']:.3f})")
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.legend(fontsize=8)
    _save(figure, path)


def repetitions(accuracy_by_count: dict, path: Path) -> None:
    """Fig. 6: accuracy vs lateral repetitions of the unit cell."""
    counts = [int(k) for k in accuracy_by_count]
    figure, axis = plt.subplots(figsize=(4.5, 3.6))
    axis.semilogx(counts, list(accuracy_by_count.values()), "o-")
    axis.set_xlabel("lateral repetitions")
    axis.set_ylabel("accuracy (%)")
    axis.set_ylim(min(50, min(accuracy_by_count.values()) - 5), 100.5)
    axis.grid(alpha=0.3)
    _save(figure, path)
