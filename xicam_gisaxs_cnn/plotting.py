"""Figures of canonical patterns (matplotlib, Agg backend; no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .canonical import QY_RANGE_NM, QZ_RANGE_NM  # noqa: E402

EXTENT_NM = (QY_RANGE_NM[0], QY_RANGE_NM[1], QZ_RANGE_NM[1], QZ_RANGE_NM[0])


DISPLAY_DECADES: float = 4.0
"""Decades of intensity shown below each image's maximum."""


def log_display(image: np.ndarray) -> np.ndarray:
    """log10 of an intensity image for display, floored DISPLAY_DECADES below its maximum (noise <= 0 too)."""
    image = np.asarray(image, dtype=np.float64)
    peak = image.max()
    floor = peak * 10.0 ** -DISPLAY_DECADES if peak > 0 else 1.0
    return np.log10(np.clip(image, floor, None))


def montage(images: Sequence[np.ndarray], titles: Sequence[str], path: str | Path, *, columns: int = 7,
            title_colors: Sequence[str] | None = None, panel_inches: float = 1.9) -> Path:
    """Save canonical images (log scale, q axes in nm^-1) in a grid with one title each; return the path."""
    if len(images) != len(titles):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(panel_inches * columns, panel_inches * 1.12 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= len(images):
            axis.axis("off")
            continue
        axis.imshow(log_display(images[index]), cmap="magma", extent=EXTENT_NM, aspect="auto")
        color = title_colors[index] if title_colors else "black"
        axis.set_title(titles[index], fontsize=7, color=color)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
