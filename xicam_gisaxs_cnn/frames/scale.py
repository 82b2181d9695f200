"""Choose the zoom of the canonical q window from the frame, so any lattice constant (10-150 nm) fits the model.

The model was trained on lattices whose first in-plane Bragg rods lie near
:data:`REFERENCE_PEAK_NM` on the canonical grid. A film with a lattice s times
larger puts its rods s times closer to qy = 0; resampling it with
``window_scale = s`` (qy in [-1, 1]/s, qz in [0, 2]/s nm^-1) brings them back.

Three ways to find s:

- :func:`scale_from_peaks` (``"auto"``): the in-plane intensity profile of the
  rows just above the sample horizon, on a logarithmic |qy| axis, flattened by a
  running median; the lowest-|qy| prominent peak is the first Bragg rod, and
  s = :data:`REFERENCE_PEAK_NM` / its qy. Cheap, but module gaps, the beam stop
  and the Yoneda band mislead it.
- :func:`scale_by_confidence` (``"confidence"``): resample at the
  :data:`LADDER_CANDIDATES` (25 scales; those where the frame fills at least 5% of the
  window, typically about 20), classify each, keep the scale whose
  out-of-distribution score is lowest.
- ``"ensemble"``: classify at the same scales and average the class
  probabilities (:meth:`LadderPrediction.ensemble_probabilities`), then sharpen the
  average by the bundle's ensemble temperature (:func:`tempered`; an average over
  scales where the lattice does not fit is flat, far less confident than the label is
  right); the scale recorded is where the chosen class is most probable (:func:`scale_by_ensemble`),
  and the OOD score is the mean over the scales (:meth:`LadderPrediction.ensemble_ood_score`).
  A model trained across scales (``gisaxs-cnn train --data simulate-scaled``)
  recognises a lattice over a band of scales, and the average over that band beats
  any single choice; the README and the bundles' reports give the figures.

Scales are rounded to :data:`SCALE_STEPS_PER_OCTAVE` steps per factor of two, so
frames of one run share a few cached resampling plans; the trainer draws its
window scales from the same ladder.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import scipy.ndimage
import scipy.signal

from .fold import FOLD_QY, fold_qy
from .geometry import DetectorGeometry
from .qmap import exit_angles_deg, pixel_q_nm
from .resample import BeamStop, resample_scales

REFERENCE_PEAK_NM: float = 0.35
"""Canonical qy, nm^-1, where the first in-plane Bragg rod found is put.

Training lattices have nearest-neighbour distances d of 12-35 nm. The rod found
first lies at c 2 pi / d with c of about 0.7-3 by class, in-plane orientation and
which rods stand out (median 1.1 on realistic frames). Mapping it to 0.35 nm^-1
gives d / s = c x 18 nm, inside the training range for c in 0.67-1.95 (80 % of
realistic frames of 10-150 nm lattices; see the README).
"""

SCALE_RANGE: tuple[float, float] = (0.25, 16.0)
"""Smallest and largest window scale chosen automatically (lattices of about 4-250 nm)."""

SCALE_MODES: tuple[str, ...] = ("auto", "confidence", "ensemble")
"""Ways to choose the window scale from the frame (besides a number)."""

MODEL_SCALE_MODES: tuple[str, ...] = ("confidence", "ensemble")
"""The modes that classify the frame at every scale of :data:`LADDER_CANDIDATES` (they need the classifier)."""

SCALE_STEPS_PER_OCTAVE: int = 8
"""Automatic scales are 2 ** (k / 8) for integer k (9 % apart)."""

HORIZON_BAND_DEG: tuple[float, float] = (0.02, 0.6)
"""Exit angles alpha_f, degrees, of the rows whose in-plane profile is searched for rods."""

MIN_PEAK_PROMINENCE: float = 0.15
"""Least prominence, log10 of intensity, of a rod over the flattened profile."""

_BINS_PER_DECADE = 160
_TREND_DECADES = 0.25


@dataclasses.dataclass(frozen=True)
class ScaleChoice:
    """The window scale used for a frame and how it was found.

    Attributes
    ----------
    window_scale : float
        Zoom of the canonical q window (> 0).
    method : str
        ``"forced"`` (the user's number), ``"peaks"``, ``"confidence"``,
        ``"ensemble"``, or ``"default"`` (no rod found; 1.0 used).
    peak_qy_nm : float
        |qy| of the first in-plane rod found, nm^-1; NaN if none.
    """

    window_scale: float
    method: str
    peak_qy_nm: float = float("nan")


DETECTOR_FRAME_WINDOW_SCALE: str = "ensemble"
"""How the window scale of detector frames is chosen when none is given (``gisaxs-cnn
classify``, ``live``, ``classify-run``); canonical images take 1."""


def parse_window_scale(text: str | float) -> float | str:
    """A window scale as a user writes it: one of :data:`SCALE_MODES` or a number > 0; a ValueError names a bad one."""
    if isinstance(text, str) and text.strip().lower() in SCALE_MODES:
        return text.strip().lower()
    try:
        value = float(text)
    except (TypeError, ValueError):
        modes = ", ".join(SCALE_MODES)
        raise ValueError(f"window scale must be a number > 0 or one of {modes}, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"window scale must be > 0, got {text!r}")
    return value


def default_window_scale(detector_frames: bool) -> float | str:
    """The window scale used when none is given: :data:`DETECTOR_FRAME_WINDOW_SCALE` for detector frames,
    1 for canonical images."""
    return DETECTOR_FRAME_WINDOW_SCALE if detector_frames else 1.0


def quantise_scale(scale: float) -> float:
    """Round ``scale`` (> 0) to the nearest 2 ** (k / :data:`SCALE_STEPS_PER_OCTAVE`) inside :data:`SCALE_RANGE`.

    Examples
    --------
    >>> quantise_scale(1.0), round(quantise_scale(5.1), 4)
    (1.0, 5.1874)
    """
    scale = float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale}")
    low, high = (math.log2(limit) * SCALE_STEPS_PER_OCTAVE for limit in SCALE_RANGE)
    step = min(max(round(math.log2(scale) * SCALE_STEPS_PER_OCTAVE), math.ceil(low)), math.floor(high))
    return 2.0 ** (step / SCALE_STEPS_PER_OCTAVE)


def scale_ladder() -> np.ndarray:
    """Every scale :func:`quantise_scale` can return, increasing."""
    low, high = (math.log2(limit) * SCALE_STEPS_PER_OCTAVE for limit in SCALE_RANGE)
    return 2.0 ** (np.arange(math.ceil(low), math.floor(high) + 1) / SCALE_STEPS_PER_OCTAVE)


LADDER_CANDIDATES: np.ndarray = scale_ladder()[::2]
"""Scales the model-based modes try: every other step of :func:`scale_ladder` (25 from 0.25 to 16, 1.19 apart)."""


def inplane_profile(
    frame: np.ndarray,
    *,
    geometry: DetectorGeometry,
    beam_stop_px: BeamStop | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean intensity of the rows just above the horizon against |qy|, on a logarithmic |qy| axis.

    Parameters
    ----------
    frame : numpy.ndarray
        Detector counts (rows, columns); negative and non-finite pixels are gaps.
    geometry : DetectorGeometry
        Keyword-only detector geometry.
    beam_stop_px : tuple of int, optional
        Beam-stop rectangle ``(x_min, x_max, y_min, y_max)``, px, left out.

    Returns
    -------
    qy_nm, profile : numpy.ndarray
        Bin centres in |qy|, nm^-1, and mean counts per pixel in each bin (NaN where
        the bin holds no valid pixel). Pixels with alpha_f in :data:`HORIZON_BAND_DEG`
        and |qy| above the specular rod's width (4 pixels) are used.
    """
    array = np.asarray(frame)
    if array.ndim != 2:
        raise ValueError(f"frame must be a 2-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"frame must hold real numbers, got dtype {array.dtype}")
    pixels, bins, centres = _profile_plan(array.shape, geometry, None if beam_stop_px is None else tuple(beam_stop_px))
    values = array.ravel()[pixels].astype(np.float64)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values) & (values >= 0)
    sums = np.bincount(bins[valid], values[valid], minlength=centres.size)
    counts = np.bincount(bins[valid], minlength=centres.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(counts > 0, sums / counts, np.nan)
    return centres, profile


def first_peak_qy_nm(qy_nm: np.ndarray, profile: np.ndarray) -> float:
    """|qy|, nm^-1, of the lowest-|qy| prominent peak of a log-spaced profile; NaN if none.

    The profile is taken in log10, gaps are interpolated, the smooth background
    (form factor, diffuse scattering; a running median over
    0.25 decades) is subtracted, and peaks at least :data:`MIN_PEAK_PROMINENCE`
    and 70 % of the strongest peak's prominence high are kept.
    """
    qy_nm, profile = np.asarray(qy_nm, float), np.asarray(profile, float)
    if qy_nm.shape != profile.shape or qy_nm.ndim != 1:
        raise ValueError(f"qy_nm and profile must be 1-D of one shape, got {qy_nm.shape} and {profile.shape}")
    present = np.isfinite(profile)
    if present.sum() < 8:
        return float("nan")
    floor = max(np.nanmin(profile[profile > 0]) if np.any(profile > 0) else 1.0, 1e-12) * 0.5
    logged = np.log10(np.maximum(np.where(present, profile, np.nan), floor))
    index = np.arange(logged.size)
    logged = np.interp(index, index[present], logged[present])
    smoothed = scipy.ndimage.gaussian_filter1d(logged, 1.0)
    trend_bins = 2 * int(_TREND_DECADES * _BINS_PER_DECADE / 2) + 1
    flattened = smoothed - scipy.ndimage.median_filter(smoothed, size=trend_bins, mode="nearest")
    peaks, properties = scipy.signal.find_peaks(flattened, prominence=MIN_PEAK_PROMINENCE)
    inside = present[peaks]
    peaks, prominences = peaks[inside], properties["prominences"][inside]
    if peaks.size == 0:
        return float("nan")
    strong = peaks[prominences >= 0.7 * prominences.max()]
    return float(qy_nm[strong.min()])


def scale_from_peaks(
    frame: np.ndarray,
    *,
    geometry: DetectorGeometry,
    beam_stop_px: BeamStop | None = None,
) -> ScaleChoice:
    """The window scale that puts the frame's first in-plane rod at :data:`REFERENCE_PEAK_NM`.

    Returns a ``"default"`` choice of 1.0 when no rod stands out (a disordered or
    empty film, or too few counts).

    Examples
    --------
    A 100 nm lattice's first rods at |qy| of about 0.063 nm^-1 give a scale of about 5.6.
    """
    qy, profile = inplane_profile(frame, geometry=geometry, beam_stop_px=beam_stop_px)
    peak = first_peak_qy_nm(qy, profile)
    if not math.isfinite(peak):
        return ScaleChoice(1.0, "default")
    return ScaleChoice(quantise_scale(REFERENCE_PEAK_NM / peak), "peaks", peak)


def tempered(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities (..., 7) as ``softmax(log(p) / temperature)``: p^(1/T) renormalised.

    T < 1 sharpens, T = 1 returns ``probabilities`` as they are; the most probable class never
    changes. ``gisaxs-cnn fit-ood-threshold`` fits T for a bundle's ``"ensemble"`` probabilities
    on realistic frames (the manifest's ``ensemble_temperature``).
    """
    if temperature == 1.0:
        return probabilities
    logs = np.log(np.maximum(probabilities, np.finfo(np.float64).tiny)) / temperature
    powered = np.exp(logs - logs.max(axis=-1, keepdims=True))
    return powered / powered.sum(axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class LadderPrediction:
    """A frame classified at several window scales (one row per scale kept).

    Attributes
    ----------
    scales : numpy.ndarray
        (S,) window scales whose canonical image held enough data, in the order tried.
    valid_fractions : numpy.ndarray
        (S,) fraction of canonical cells holding data at each scale.
    prediction : xicam_gisaxs_cnn.models.Prediction
        The classifier's output, one row per scale.
    """

    scales: np.ndarray
    valid_fractions: np.ndarray
    prediction: object

    def confident_row(self) -> int:
        """Row of the lowest out-of-distribution score (``"confidence"``)."""
        scores = self.prediction.ood_scores
        if not np.isfinite(scores).any():
            raise ValueError("window_scale='confidence' needs a model with OOD statistics; this bundle has none")
        return int(np.nanargmin(scores))

    def ensemble_probabilities(self, temperature: float = 1.0) -> np.ndarray:
        """(7,) class probabilities averaged over the scales, then :func:`tempered` (``"ensemble"``)."""
        return tempered(self.prediction.probabilities.mean(axis=0), temperature)

    def ensemble_row(self) -> int:
        """Row where the ensemble's class is most probable: the scale recorded for ``"ensemble"``."""
        return int(np.argmax(self.prediction.probabilities[:, int(np.argmax(self.ensemble_probabilities()))]))

    def ensemble_ood_score(self) -> float:
        """OOD score of ``"ensemble"``: the scores averaged over the scales; NaN for a model without OOD statistics.

        A model trained across scales recognises a superlattice over a band of scales,
        while a film of no class looks like one at a few scales at most; the score of
        the best row alone let such films through (see the README's figures).
        """
        scores = self.prediction.ood_scores
        return float(np.mean(scores)) if np.isfinite(scores).all() else float("nan")


def predict_ladder(
    frame: np.ndarray,
    *,
    geometry: DetectorGeometry,
    classifier,
    candidates: np.ndarray | None = None,
    beam_stop_px: BeamStop | None = None,
    min_valid_fraction: float = 0.05,
    fold: bool = FOLD_QY,
) -> LadderPrediction:
    """Resample a frame at each candidate window scale and classify all of them in one batch.

    Parameters
    ----------
    frame : numpy.ndarray
        Detector counts (rows, columns).
    geometry : DetectorGeometry
        Keyword-only detector geometry.
    classifier : xicam_gisaxs_cnn.models.Classifier
        Its ``predict`` runs once on all candidates.
    candidates : array_like, optional
        Scales to try; default :data:`LADDER_CANDIDATES`.
    beam_stop_px : tuple of int, optional
        Beam-stop rectangle, px.
    min_valid_fraction : float
        Candidates whose canonical image holds less data than this are skipped.
    fold : bool
        Fold each canonical image about qy = 0 first (:func:`~.fold.fold_qy`).
    """
    scales = LADDER_CANDIDATES if candidates is None else np.asarray(candidates, dtype=float).ravel()
    images, masks = resample_scales(frame, geometry=geometry, window_scales=scales, beam_stop_px=beam_stop_px)
    if fold:
        images, masks = fold_qy(images, masks)
    kept = masks.mean(axis=(1, 2)) >= min_valid_fraction
    if not kept.any():
        raise ValueError(f"no candidate window scale leaves {min_valid_fraction:.0%} of the canonical grid with data")
    images, masks = images[kept], masks[kept]
    return LadderPrediction(scales[kept], masks.mean(axis=(1, 2)), classifier.predict(images, masks))


def scale_by_confidence(frame: np.ndarray, *, geometry: DetectorGeometry, classifier, **options) -> ScaleChoice:
    """The candidate window scale whose canonical image the classifier finds least out-of-distribution.

    ``options`` go to :func:`predict_ladder` (candidates, beam_stop_px, min_valid_fraction).
    """
    ladder = predict_ladder(frame, geometry=geometry, classifier=classifier, **options)
    return ScaleChoice(float(ladder.scales[ladder.confident_row()]), "confidence")


def scale_by_ensemble(frame: np.ndarray, *, geometry: DetectorGeometry, classifier, **options) -> ScaleChoice:
    """The candidate window scale where the class of the scale-averaged probabilities is most probable.

    ``options`` go to :func:`predict_ladder` (candidates, beam_stop_px, min_valid_fraction).
    """
    ladder = predict_ladder(frame, geometry=geometry, classifier=classifier, **options)
    return ScaleChoice(float(ladder.scales[ladder.ensemble_row()]), "ensemble")


def choose_window_scale(
    frame: np.ndarray,
    *,
    geometry: DetectorGeometry | None,
    window_scale: float | str = "auto",
    beam_stop_px: BeamStop | None = None,
    classifier=None,
) -> ScaleChoice:
    """The window scale for one frame: the user's number (``"forced"``), ``"auto"`` (:func:`scale_from_peaks`),
    ``"confidence"`` (:func:`scale_by_confidence`) or ``"ensemble"`` (:func:`scale_by_ensemble`); the last
    two need ``classifier``.

    A canonical image (``geometry=None``) holds no q beyond its own window: its scale is 1.
    """
    if isinstance(window_scale, str):
        if window_scale not in SCALE_MODES:
            raise ValueError(f"window_scale must be a number > 0 or one of {SCALE_MODES}, got {window_scale!r}")
        if geometry is None:
            return ScaleChoice(1.0, "default")
        if window_scale in MODEL_SCALE_MODES:
            if classifier is None:
                raise ValueError(f"window_scale={window_scale!r} needs the classifier")
            choose = scale_by_confidence if window_scale == "confidence" else scale_by_ensemble
            return choose(frame, geometry=geometry, classifier=classifier, beam_stop_px=beam_stop_px)
        return scale_from_peaks(frame, geometry=geometry, beam_stop_px=beam_stop_px)
    scale = float(window_scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"window_scale must be a number > 0 or one of {SCALE_MODES}, got {window_scale!r}")
    return ScaleChoice(scale, "forced")


@functools.lru_cache(maxsize=8)
def _profile_plan(shape: tuple[int, int], geometry: DetectorGeometry, beam_stop_px: BeamStop | None):
    """Flat pixel indices in the horizon band, their |qy| bin, and the bin centres (nm^-1)."""
    geometry.check_detector_shape(shape)
    rows, columns = shape
    y_px, x_px = np.mgrid[0:rows, 0:columns]
    qy, _ = pixel_q_nm(x_px, y_px, geometry=geometry)
    alpha_f, _ = exit_angles_deg(x_px, y_px, geometry=geometry)
    usable = (alpha_f >= HORIZON_BAND_DEG[0]) & (alpha_f <= HORIZON_BAND_DEG[1])
    if beam_stop_px is not None:
        x_min, x_max, y_min, y_max = (int(v) for v in beam_stop_px)
        usable[max(y_min, 0):y_max + 1, max(x_min, 0):x_max + 1] = False
    pixel_q = 2 * math.pi / geometry.wavelength_nm * min(geometry.pixel_size_mm) / geometry.distance_mm
    q_min = max(4 * pixel_q, REFERENCE_PEAK_NM / SCALE_RANGE[1])
    magnitude = np.abs(qy)
    usable &= magnitude >= q_min
    if not usable.any():
        raise ValueError(
            f"no detector pixel lies in the band alpha_f {HORIZON_BAND_DEG[0]}-{HORIZON_BAND_DEG[1]} deg "
            f"above the horizon with |qy| >= {q_min:.3g} nm^-1; check the geometry"
        )
    edges = _log_edges(q_min, float(magnitude[usable].max()), pixel_q)
    pixels = np.flatnonzero(usable.ravel())
    bins = np.clip(np.searchsorted(edges, magnitude.ravel()[pixels]) - 1, 0, edges.size - 2)
    return pixels, bins, np.sqrt(edges[:-1] * edges[1:])



def _log_edges(q_min: float, q_max: float, min_width: float) -> np.ndarray:
    """Bin edges from ``q_min`` to ``q_max``, :data:`_BINS_PER_DECADE` per decade but never narrower than ``min_width``."""
    ratio = 10.0 ** (1.0 / _BINS_PER_DECADE)
    edges = [q_min]
    while edges[-1] < q_max:
        edges.append(max(edges[-1] * ratio, edges[-1] + min_width))
    return np.asarray(edges if len(edges) > 8 else np.linspace(q_min, max(q_max, q_min + 8 * min_width), 9))
