"""Widgets of the GISAXS CNN GUI plugin: frame viewer, result image, result panel, model picker."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QRectF, Qt, Signal
from qtpy.QtGui import QFont
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..canonical import IMAGE_SIZE, QY_RANGE_NM, QZ_RANGE_NM, pixel_size_nm
from ..classes import CLASS_NAMES
from ..models import DEFAULT_MODEL_NAME, DETECTOR_FRAME_MODEL_NAME, list_models

SALIENCY_OPACITY: float = 0.6
"""Opacity of the saliency overlay at full saliency (0 = invisible, 1 = opaque)."""


def log_intensity(image: np.ndarray) -> np.ndarray:
    """log10 of intensities for display; non-positive values map to the smallest positive one."""
    image = np.asarray(image, dtype=np.float64)
    positive = image[image > 0]
    floor = positive.min() if positive.size else 1.0
    return np.log10(np.maximum(image, floor))


def saliency_lookup_table() -> np.ndarray:
    """RGBA lookup table (256, 4): transparent at 0, through red to opaque yellow at 1."""
    ramp = np.linspace(0.0, 1.0, 256)
    table = np.empty((256, 4))
    table[:, 0] = 255
    table[:, 1] = 255 * np.clip(2 * ramp - 1, 0, 1)
    table[:, 2] = 0
    table[:, 3] = 255 * SALIENCY_OPACITY * ramp
    return table.astype(np.uint8)


class FrameView(pg.ImageView):
    """The run's detector frames, log intensity, with a slider over the frame index."""

    def show_frames(self, frames: np.ndarray) -> None:
        """Show a stack (N, rows, columns) of frames; row 0 at the top."""
        self.setImage(log_intensity(frames), axes={"t": 0, "y": 1, "x": 2})

    def current_frame_index(self) -> int:
        return int(self.currentIndex)


class ResultImage(pg.GraphicsLayoutWidget):
    """The canonical pattern in q coordinates (nm^-1, at its window scale) with the saliency map laid over it."""

    def __init__(self) -> None:
        super().__init__()
        self.plot = self.addPlot(title="Canonical pattern and saliency")
        self.plot.setLabel("bottom", "qy", units="nm^-1")
        self.plot.setLabel("left", "qz", units="nm^-1")
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # "nm^-1" takes no SI prefix
        self.plot.setAspectLocked(True)
        self.pattern = pg.ImageItem(axisOrder="row-major")
        self.saliency = pg.ImageItem(axisOrder="row-major")
        self.saliency.setLookupTable(saliency_lookup_table())
        self.plot.addItem(self.pattern)
        self.plot.addItem(self.saliency)

    def show_result(self, image: np.ndarray, mask: np.ndarray, saliency: np.ndarray,
                    window_scale: float = 1.0) -> None:
        """Show a canonical image (row 0 = top = qz 2/window_scale nm^-1), masked cells dark, and its saliency."""
        shown = np.where(mask, log_intensity(np.where(mask, image, 0)), np.nan)
        low, high = np.nanpercentile(shown, [1, 99.5]) if np.isfinite(shown).any() else (0.0, 1.0)
        self.pattern.setImage(np.flipud(np.nan_to_num(shown, nan=low)), levels=(low, high))
        self.saliency.setImage(np.flipud(saliency), levels=(0.0, 1.0))
        dqy, dqz = (step / window_scale for step in pixel_size_nm())
        rect = QRectF(QY_RANGE_NM[0] / window_scale - dqy / 2, QZ_RANGE_NM[1] / window_scale - dqz / 2,
                      IMAGE_SIZE * dqy, IMAGE_SIZE * dqz)
        for item in (self.pattern, self.saliency):
            item.setRect(rect)
        self.plot.setTitle(f"Canonical pattern and saliency (window scale {window_scale:.3g})")


class ResultPanel(QWidget):
    """Predicted class, OOD flag and the probability of every class (bar chart and table)."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel("no result yet")
        font = QFont()
        font.setPointSize(20)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setAlignment(Qt.AlignCenter)
        self.ood = QLabel("")
        self.ood.setAlignment(Qt.AlignCenter)
        self.source = QLabel("")
        self.source.setWordWrap(True)
        self.chart = pg.PlotWidget(title="Class probabilities")
        self.chart.setXRange(0, 1)
        self.chart.getAxis("left").setTicks([list(enumerate(CLASS_NAMES))])
        self.chart.invertY(True)  # first class on top, as in the table
        self.chart.setMouseEnabled(x=False, y=False)
        self.bars = pg.BarGraphItem(x0=0, y=np.arange(len(CLASS_NAMES)), height=0.6,
                                    width=np.zeros(len(CLASS_NAMES)), brush="c")
        self.chart.addItem(self.bars)
        self.table = QTableWidget(len(CLASS_NAMES), 2)
        self.table.setHorizontalHeaderLabels(["class", "probability"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        for row, name in enumerate(CLASS_NAMES):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            self.table.setItem(row, 1, QTableWidgetItem(""))
        layout = QVBoxLayout(self)
        for widget in (self.label, self.ood, self.chart, self.table, self.source):
            layout.addWidget(widget)

    def show_result(self, result: dict, source: str) -> None:
        """Show the classify step's outputs; ``source`` says which frame and model gave them."""
        probabilities = np.asarray(result["probabilities"], dtype=float)
        self.label.setText(result["label"])
        score = float(result["ood_score"])
        if result["ood_flag"]:
            self.ood.setText(f"OUT OF DISTRIBUTION (score {score:.3g})")
            self.ood.setStyleSheet("color: white; background: #b00020; font-weight: bold")
        else:
            text = "OOD score unavailable for this model" if np.isnan(score) else f"in distribution (score {score:.3g})"
            self.ood.setText(text)
            self.ood.setStyleSheet("color: #1b5e20")
        self.bars.setOpts(width=probabilities)
        for row, probability in enumerate(probabilities):
            self.table.item(row, 1).setText(f"{probability:.3f}")
        self.source.setText(source)

    def displayed_probabilities(self) -> dict[str, float]:
        """The probabilities as the table shows them."""
        return {self.table.item(row, 0).text(): float(self.table.item(row, 1).text()) for row in range(len(CLASS_NAMES))}


class ModelPicker(QWidget):
    """Choose the model bundle: the shipped one for each step, a bundle by name, or a bundle directory."""

    sigModelChanged = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.combo = QComboBox()
        self.browse = QPushButton("Bundle folder…")
        self.browse.clicked.connect(self._browse)
        self.combo.currentIndexChanged.connect(lambda _: self.sigModelChanged.emit(self.current_model()))
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Model bundle"))
        layout.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        """List the shipped choice and every bundle found by name (user model directory, shipped bundles)."""
        self.combo.blockSignals(True)
        self.combo.clear()
        shipped = f"shipped ({DETECTOR_FRAME_MODEL_NAME} on detector frames, {DEFAULT_MODEL_NAME} on patterns)"
        self.combo.addItem(shipped, "")
        for name, directory in list_models().items():
            self.combo.addItem(name, str(directory))
        self.combo.blockSignals(False)

    def current_model(self) -> str:
        """Bundle directory of the selection, ``""`` for the shipped model of each step."""
        return self.combo.currentData() or ""

    def choose(self, directory: str) -> None:
        """Select a bundle directory (added to the list if new)."""
        index = self.combo.findData(str(directory))
        if index < 0:
            self.combo.addItem(str(directory), str(directory))
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)

    def _browse(self) -> None:
        directory = QFileDialog.getExistingDirectory(self, "Model bundle folder")
        if directory:
            self.choose(directory)
