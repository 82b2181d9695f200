"""Resample a detector frame onto the canonical (qy, qz) grid with a validity mask.

The expensive part, finding which detector pixels fall in which canonical cell,
depends only on the geometry and the frame shape; it is done once in a
:class:`ResamplingPlan` and applied to every frame (or a batch) as one gather of
the pixels in the window and sparse matrix products (sums and valid counts),
fast enough for Pilatus frames at detector rates. :func:`resample_scales` resamples
one frame at many window scales, classifying its pixels once for all of them.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Sequence

import numpy as np
import scipy.sparse

from ..canonical import IMAGE_SIZE, QY_RANGE_NM, QZ_RANGE_NM
from .detectors import layout_for_shape
from .geometry import DetectorGeometry
from .qmap import exit_angles_deg, pixel_from_q, pixel_q_nm

BeamStop = tuple[int, int, int, int]
"""A beam-stop rectangle ``(x_min, x_max, y_min, y_max)`` in px, bounds included."""

ZEROS_AS_GAPS_BELOW: float = 0.1
"""With ``zero_is_gap=None`` (auto), zero pixels are gaps only if fewer than this fraction of the
window's pixels read 0 and none is negative: in a well-exposed frame a 0 can only be a gap or a
dead pixel, while a weak frame holds many genuine zero-count pixels and a detector that marks
its gaps with negative values leaves its zeros as counts."""


def canonical_axes_nm(window_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Column centres in qy and row centres in qz, nm^-1, of the canonical grid shrunk by ``window_scale``.

    ``window_scale = s`` maps qy onto [-1, 1] / s and qz onto [2, 0] / s nm^-1
    (an s-fold zoom for large lattice constants).
    """
    scale = _check_window_scale(window_scale)
    qy = np.linspace(QY_RANGE_NM[0] / scale, QY_RANGE_NM[1] / scale, IMAGE_SIZE)
    qz = np.linspace(QZ_RANGE_NM[0] / scale, QZ_RANGE_NM[1] / scale, IMAGE_SIZE)
    return qy, qz


@dataclasses.dataclass(frozen=True, eq=False)
class ResamplingPlan:
    """Which detector pixels feed which canonical cell, for one geometry and frame shape.

    Attributes
    ----------
    shape : tuple of int
        Detector frame shape (rows, columns), px.
    window_scale : float
        Zoom of the canonical q window (see :func:`canonical_axes_nm`).
    pixels : numpy.ndarray
        Flat indices of the detector pixels that feed a cell: centres inside the window,
        above the horizon and outside the beam stop and user mask.
    binning : scipy.sparse.csr_matrix
        (125*125, len(pixels)) 0/1 matrix: which of ``pixels`` fall in each canonical cell.
    cell_pixels : numpy.ndarray
        (125*125,) number of detector pixel centres in each cell before any masking.
    nearest : numpy.ndarray
        (125*125,) flat index of the detector pixel under each cell centre, used for cells
        no pixel centre falls in (pixels coarser than the grid); -1 where not on the detector.
    min_valid_fraction : float
        A cell is valid when at least this fraction of its pixels hold data.
    """

    shape: tuple[int, int]
    window_scale: float
    pixels: np.ndarray
    binning: scipy.sparse.csr_matrix
    cell_pixels: np.ndarray
    nearest: np.ndarray
    min_valid_fraction: float

    def apply(self, frames: np.ndarray, *, zero_is_gap: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Resample one frame (rows, columns) or a batch (N, rows, columns).

        Parameters
        ----------
        frames : numpy.ndarray
            Detector counts. Non-finite and negative pixels (Pilatus gaps hold -1/-2)
            are masked, and zeros too when ``zero_is_gap``.
        zero_is_gap : bool or None
            Treat pixels that read exactly 0 as gaps (True) or as counts (False);
            None (default) decides per frame, see :data:`ZEROS_AS_GAPS_BELOW` (keyword-only).

        Returns
        -------
        image, mask : numpy.ndarray
            Mean counts per canonical cell, float32, 0 where masked, and the boolean
            validity mask (True = data), each (125, 125) or (N, 125, 125).
        """
        array = np.asarray(frames)
        single = array.ndim == 2
        if single:
            array = array[None]
        if array.ndim != 3 or array.shape[1:] != self.shape:
            raise ValueError(f"frame shape {np.shape(frames)} does not match the detector shape {self.shape}")
        _check_real(array)
        images = np.empty((array.shape[0], IMAGE_SIZE**2), dtype=np.float32)
        masks = np.empty((array.shape[0], IMAGE_SIZE**2), dtype=bool)
        for index, frame in enumerate(array):
            images[index], masks[index] = self._apply_one(frame.ravel(), zero_is_gap)
        image = images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        mask = masks.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        return (image[0], mask[0]) if single else (image, mask)

    @functools.cached_property
    def frame_binning(self) -> scipy.sparse.csr_matrix:
        """``binning`` with a column for every detector pixel (rows x columns of them), made when first needed."""
        return scipy.sparse.csr_matrix((self.binning.data, self.pixels[self.binning.indices], self.binning.indptr),
                                       shape=(IMAGE_SIZE**2, self.shape[0] * self.shape[1]))

    def _apply_one(self, flat: np.ndarray, zero_is_gap: bool | None) -> tuple[np.ndarray, np.ndarray]:
        return self._bin(_PixelClasses.of(flat[self.pixels]), flat, zero_is_gap)

    def _bin(self, classes: _PixelClasses, flat: np.ndarray, zero_is_gap: bool | None,
             whole_frame: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Image and mask from ``classes`` of the window's pixels, or of every pixel of the frame ``flat``."""
        binning = self.frame_binning if whole_frame else self.binning
        sums, positive, zero = binning @ classes.counts, binning @ classes.positive, binning @ classes.zero
        if zero_is_gap is None:
            negative = self._holds_negative(classes) if whole_frame else classes.negative.size > 0
            zero_is_gap = not negative and zero.sum() < ZEROS_AS_GAPS_BELOW * self.pixels.size
        counts = positive if zero_is_gap else positive + zero
        enough = (counts > 0) & (counts >= self.min_valid_fraction * self.cell_pixels)
        with np.errstate(invalid="ignore", divide="ignore"):
            image = np.where(enough, sums / counts, np.float32(0)).astype(np.float32)
        fallback = (self.cell_pixels == 0) & (self.nearest >= 0)
        image[fallback], enough[fallback] = _valid_values(flat[self.nearest[fallback]], zero_is_gap)
        return image, enough

    def _holds_negative(self, classes: _PixelClasses) -> bool:
        """Whether a negative pixel of the whole frame's ``classes`` lies in this plan's window."""
        negative = classes.negative
        if negative.size == 0:
            return False
        if negative.size * LOOK_UP_NEGATIVES_BELOW < self.pixels.size:  # a few dead pixels: find each in the window
            found = np.searchsorted(self.pixels, negative).clip(max=self.pixels.size - 1)
            return bool((self.pixels[found] == negative).any())
        return bool((self.frame_binning @ classes.negative_vector).any())


LOOK_UP_NEGATIVES_BELOW: int = 16
"""A plan looks a frame's negative pixels up in its window one by one (a binary search each) while they are
fewer than 1/16 of the window's pixels (a few dead pixels); more of them it bins like the counts."""


@dataclasses.dataclass(frozen=True)
class _PixelClasses:
    """Detector pixels sorted for binning: float32 vectors of the counts, of 1 where positive and of 1 where zero."""

    counts: np.ndarray
    """The value where positive, else 0."""
    positive: np.ndarray
    zero: np.ndarray
    negative: np.ndarray
    """Indices of the negative pixels, increasing (NaN is neither positive, zero nor negative)."""

    @classmethod
    def of(cls, values: np.ndarray, never_binned: np.ndarray | None = None) -> _PixelClasses:
        """Classes of ``values``; negative pixels where ``never_binned`` (boolean, e.g. module gaps) do not count."""
        values = values.astype(np.float32, copy=False)
        positive, negative = values > 0, values < 0
        if never_binned is not None:
            negative &= ~never_binned
        return cls(np.where(positive, values, np.float32(0)), positive.astype(np.float32),
                   (values == 0).astype(np.float32), np.flatnonzero(negative))

    @functools.cached_property
    def negative_vector(self) -> np.ndarray:
        """1 at the negative pixels, float32, for binning."""
        vector = np.zeros(self.counts.size, dtype=np.float32)
        vector[self.negative] = 1.0
        return vector


def _valid_values(values: np.ndarray, zero_is_gap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Counts as float32 with gaps zeroed, and the validity (negative, NaN, and 0 if ``zero_is_gap``: invalid)."""
    values = values.astype(np.float32, copy=False)
    with np.errstate(invalid="ignore"):
        valid = values > 0 if zero_is_gap else values >= 0  # False for NaN
    return np.where(valid, values, np.float32(0)), valid


def resampling_plan(
    shape: tuple[int, int],
    *,
    geometry: DetectorGeometry,
    window_scale: float = 1.0,
    beam_stop_px: BeamStop | None = None,
    pixel_valid: np.ndarray | None = None,
    min_valid_fraction: float = 0.5,
) -> ResamplingPlan:
    """Precompute the resampling of frames of ``shape`` taken at ``geometry``.

    Parameters
    ----------
    shape : tuple of int
        Detector frame shape (rows, columns), px.
    geometry : DetectorGeometry
        Keyword-only; its beam centre must lie on the detector.
    window_scale : float
        Shrink the canonical window to qy in [-1, 1]/s, qz in [0, 2]/s nm^-1 (s > 0).
    beam_stop_px : tuple of int, optional
        Beam-stop rectangle ``(x_min, x_max, y_min, y_max)``, px, bounds included; masked.
    pixel_valid : numpy.ndarray, optional
        Boolean user mask of ``shape``, True where a pixel may be used. Frames of a known
        detector layout (:mod:`.detectors`: Pilatus 1M and 2M) lose their module gaps too.
    min_valid_fraction : float
        Fraction of a cell's pixels that must hold data for the cell to count, in (0, 1].

    Returns
    -------
    ResamplingPlan
    """
    shape = _check_shape(shape)
    geometry.check_detector_shape(shape)
    scale = _check_window_scale(window_scale)
    if not 0 < min_valid_fraction <= 1:
        raise ValueError(f"min_valid_fraction must be in (0, 1], got {min_valid_fraction}")
    layout = layout_for_shape(shape)
    usable = np.ones(shape, dtype=bool) if layout is None else ~layout.gap_mask()
    if pixel_valid is not None:
        pixel_valid = np.asarray(pixel_valid)
        if pixel_valid.shape != shape or pixel_valid.dtype != bool:
            raise ValueError(f"pixel_valid must be a boolean array of shape {shape}, got {pixel_valid.dtype} {pixel_valid.shape}")
        usable &= pixel_valid
    if beam_stop_px is not None:
        x_min, x_max, y_min, y_max = _check_beam_stop(beam_stop_px)
        usable[max(y_min, 0):y_max + 1, max(x_min, 0):x_max + 1] = False

    qy, qz, above_horizon = _pixel_map(shape, geometry)
    usable &= above_horizon.reshape(shape)  # below the sample horizon: transmission, not reflection
    cell = _cell_index(qy, qz, scale)
    inside = cell >= 0
    cell_pixels = np.bincount(cell[inside], minlength=IMAGE_SIZE**2).astype(np.float32)
    take = inside & usable.ravel()
    pixels = np.flatnonzero(take)
    binning = scipy.sparse.csr_matrix(
        (np.ones(pixels.size, dtype=np.float32), (cell[take], np.arange(pixels.size))),
        shape=(IMAGE_SIZE**2, pixels.size),
    )
    nearest = _nearest_pixels(shape, geometry, scale, usable)
    return ResamplingPlan(shape, scale, pixels, binning, cell_pixels, nearest, float(min_valid_fraction))


def resample(
    frame: np.ndarray,
    *,
    geometry: DetectorGeometry,
    window_scale: float = 1.0,
    beam_stop_px: BeamStop | None = None,
    pixel_valid: np.ndarray | None = None,
    zero_is_gap: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample one detector frame onto the canonical grid: ``(image, mask)``, each (125, 125).

    See :func:`resampling_plan` and :meth:`ResamplingPlan.apply`; plans without a user
    mask are cached, so calling this per frame of one geometry stays fast.

    Examples
    --------
    >>> from xicam_gisaxs_cnn.frames.geometry import DetectorGeometry
    >>> g = DetectorGeometry(energy_kev=10, distance_mm=2000, pixel_size_mm=(0.172, 0.172),
    ...                      beam_centre_px=(490, 900), incidence_angle_deg=0.2)
    >>> image, mask = resample(np.ones((1043, 981)), geometry=g)
    >>> image.shape, bool(mask[0, 70]), bool(mask[-1, 70])  # qy = 0 (column 62) falls in a module gap here
    ((125, 125), True, False)
    """
    frame = _single_frame(frame)
    if pixel_valid is None:
        plan = _cached_plan(frame.shape, geometry, float(window_scale), None if beam_stop_px is None else tuple(beam_stop_px))
    else:
        plan = resampling_plan(frame.shape, geometry=geometry, window_scale=window_scale,
                               beam_stop_px=beam_stop_px, pixel_valid=pixel_valid)
    return plan.apply(frame, zero_is_gap=zero_is_gap)


def resample_scales(
    frame: np.ndarray,
    *,
    geometry: DetectorGeometry,
    window_scales: Sequence[float],
    beam_stop_px: BeamStop | None = None,
    zero_is_gap: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample one detector frame at each of ``window_scales``: ``(images, masks)``, each (S, 125, 125).

    The same as :func:`resample` at each scale, but the frame's pixels are classified
    (positive, zero, negative) once for every scale, and each scale's plan bins them
    straight from the whole frame.
    """
    frame = _single_frame(frame)
    scales = np.asarray(window_scales, dtype=float).ravel()
    if scales.size == 0:
        raise ValueError("window_scales holds no scale")
    stop = None if beam_stop_px is None else tuple(beam_stop_px)
    plans = [_cached_plan(frame.shape, geometry, float(scale), stop) for scale in scales]
    flat = frame.ravel()
    layout = layout_for_shape(frame.shape)  # its gaps hold negative values in no plan's window
    classes = _PixelClasses.of(flat, None if layout is None else layout.gap_mask().ravel())
    binned = [plan._bin(classes, flat, zero_is_gap, whole_frame=True) for plan in plans]
    images = np.stack([image for image, _ in binned]).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    masks = np.stack([mask for _, mask in binned]).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    return images, masks


PLAN_CACHE_SIZE: int = 56
"""Resampling plans kept (least recently used dropped): the 25 scales the model-based modes try, for two
geometries, and a few more (a Pilatus 1M geometry's 25 plans hold about 90 MB)."""


@functools.lru_cache(maxsize=PLAN_CACHE_SIZE)
def _cached_plan(shape, geometry, window_scale, beam_stop_px) -> ResamplingPlan:
    return resampling_plan(shape, geometry=geometry, window_scale=window_scale, beam_stop_px=beam_stop_px)


@functools.lru_cache(maxsize=2)
def _pixel_map(shape: tuple[int, int], geometry: DetectorGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """qy and qz (nm^-1) of every pixel centre of frames of ``shape``, and whether it lies above the sample
    horizon, flat and read-only: the same for every window scale, so a ladder's plans compute it once."""
    y_px, x_px = np.mgrid[0:shape[0], 0:shape[1]]
    qy, qz = pixel_q_nm(x_px, y_px, geometry=geometry)
    alpha_f, _ = exit_angles_deg(x_px, y_px, geometry=geometry)
    pixel_map = qy.ravel(), qz.ravel(), (alpha_f >= 0).ravel()
    for array in pixel_map:
        array.flags.writeable = False
    return pixel_map


def _cell_index(qy: np.ndarray, qz: np.ndarray, scale: float) -> np.ndarray:
    """Flat canonical cell of each (qy, qz), nm^-1; -1 outside the window."""
    qy_axis, qz_axis = canonical_axes_nm(scale)
    dqy = qy_axis[1] - qy_axis[0]
    dqz = qz_axis[0] - qz_axis[1]
    with np.errstate(invalid="ignore"):
        column = np.rint((qy - qy_axis[0]) / dqy)
        row = np.rint((qz_axis[0] - qz) / dqz)
        inside = (column >= 0) & (column < IMAGE_SIZE) & (row >= 0) & (row < IMAGE_SIZE)
    return np.where(inside, row * IMAGE_SIZE + column, -1).astype(np.int64)


def _nearest_pixels(shape: tuple[int, int], geometry: DetectorGeometry, scale: float, usable: np.ndarray) -> np.ndarray:
    """Flat index of the usable detector pixel under each canonical cell centre, -1 where none."""
    qy_axis, qz_axis = canonical_axes_nm(scale)
    qz, qy = np.meshgrid(qz_axis, qy_axis, indexing="ij")
    x, y = pixel_from_q(qy.ravel(), qz.ravel(), geometry=geometry)
    with np.errstate(invalid="ignore"):
        column, row = np.rint(x), np.rint(y)
        on = (column >= 0) & (column < shape[1]) & (row >= 0) & (row < shape[0])
    index = np.full(IMAGE_SIZE**2, -1, dtype=np.int64)
    flat = (row[on] * shape[1] + column[on]).astype(np.int64)
    index[np.flatnonzero(on)] = np.where(usable.ravel()[flat], flat, -1)
    return index


def _single_frame(frame: np.ndarray) -> np.ndarray:
    """``frame`` as a 2-D array of real numbers; a ValueError naming the problem otherwise."""
    frame = np.asarray(frame)
    if frame.ndim != 2:
        raise ValueError(f"frame must be a 2-D array, got shape {frame.shape}")
    _check_real(frame)
    return frame


def _check_real(array: np.ndarray) -> None:
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"frame must hold real numbers, got dtype {array.dtype}")


def _check_window_scale(window_scale: float) -> float:
    scale = float(window_scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"window_scale must be a finite number > 0, got {window_scale}")
    return scale


def _check_shape(shape) -> tuple[int, int]:
    if len(shape) != 2 or min(shape) < 2:
        raise ValueError(f"detector shape must be (rows, columns) with at least 2 of each, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _check_beam_stop(beam_stop_px) -> BeamStop:
    if len(beam_stop_px) != 4:
        raise ValueError(f"beam_stop_px must be (x_min, x_max, y_min, y_max), got {beam_stop_px!r}")
    x_min, x_max, y_min, y_max = (int(v) for v in beam_stop_px)
    if x_max < x_min or y_max < y_min:
        raise ValueError(f"beam_stop_px must have x_min <= x_max and y_min <= y_max, got {beam_stop_px!r}")
    return x_min, x_max, y_min, y_max
