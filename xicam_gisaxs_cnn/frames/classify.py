"""Detector frames -> canonical images -> labels: the one path files, live runs and replays share.

A frame that cannot be classified (wrong shape, NaN, too little valid data,
no geometry) yields a :class:`FrameResult` whose ``error`` names the problem;
it never stops the frames after it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from ..canonical import IMAGE_SIZE, horizon_mask
from ..classes import CLASS_NAMES
from .fold import FOLD_QY, fold_qy
from .geometry import DetectorGeometry
from .resample import BeamStop, resample
from .scale import MODEL_SCALE_MODES, choose_window_scale, predict_ladder

MIN_VALID_FRACTION: float = 0.05
"""Fewest canonical cells (fraction of 125 x 125) that must hold data for a frame to be classified."""


@dataclasses.dataclass(frozen=True)
class FrameResult:
    """The outcome for one frame: a label with probabilities, or an error naming the problem.

    Attributes
    ----------
    source : str
        Where the frame came from (file, ``file[index]``, run uid and seq_num).
    label : str
        Predicted class name; "" for an error.
    probabilities : numpy.ndarray
        Class probabilities (7,) in :data:`~xicam_gisaxs_cnn.classes.CLASS_NAMES` order (``"ensemble"``:
        averaged over the scales and tempered by the model's ensemble temperature); NaN for an error.
    ood_score : float
        Out-of-distribution score (higher = less like the training data); NaN for an error.
    ood_flag : bool
        ``ood_score`` above the model's threshold.
    valid_fraction : float
        Fraction of canonical cells holding data.
    window_scale : float
        Zoom of the canonical q window used (chosen per frame with ``"auto"``, ``"confidence"``
        or ``"ensemble"``; NaN when the frame failed before a scale was chosen).
    folded : bool
        The canonical image was folded about qy = 0 (:func:`~.fold.fold_qy`) before classification.
    error : str
        "" for a result, else the problem.
    model : str
        Name of the model bundle that gave the label; "" for an error.
    """

    source: str
    label: str = ""
    probabilities: np.ndarray = dataclasses.field(default_factory=lambda: np.full(7, np.nan))
    ood_score: float = float("nan")
    ood_flag: bool = False
    valid_fraction: float = 0.0
    window_scale: float = 1.0
    folded: bool = False
    error: str = ""
    model: str = ""

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as None)."""
        return {
            "source": self.source,
            "label": self.label or None,
            "probabilities": None if self.error else [round(float(p), 6) for p in self.probabilities],
            "ood_score": None if not np.isfinite(self.ood_score) else round(float(self.ood_score), 6),
            "ood_flag": bool(self.ood_flag),
            "valid_fraction": round(float(self.valid_fraction), 4),
            "window_scale": float(self.window_scale) if np.isfinite(self.window_scale) else None,
            "folded": bool(self.folded),
            "error": self.error or None,
            "model": self.model or None,
        }


def checked_frame(frame: Any) -> np.ndarray:
    """The frame as an array, or a ValueError if it is not a 2-D image of real numbers with a finite pixel."""
    array = np.asarray(frame)
    if array.ndim != 2:
        raise ValueError(f"frame must be a 2-D image, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"frame must hold real numbers, got dtype {array.dtype}")
    if not np.isfinite(array).any():
        raise ValueError(f"frame holds no finite value (all {array.size} pixels NaN or Inf)")
    return array


def canonical_frame(
    frame: Any,
    *,
    geometry: DetectorGeometry | None,
    window_scale: float = 1.0,
    beam_stop_px: BeamStop | None = None,
    fold: bool = FOLD_QY,
) -> tuple[np.ndarray, np.ndarray]:
    """One detector frame -> canonical ``(image, mask)`` (125, 125), or a ValueError naming the problem.

    With ``geometry=None`` the frame must already be a canonical 125 x 125 image
    (simulations, canonical test streams): non-finite and negative pixels and the rows
    below the training geometry's horizon (:func:`~xicam_gisaxs_cnn.canonical.horizon_mask`)
    are masked. A detector frame is folded about qy = 0 (:func:`~.fold.fold_qy`) unless
    ``fold`` is False; a canonical image is taken as it is.
    """
    array = checked_frame(frame)
    if geometry is None:
        if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(
                f"frame of shape {array.shape} needs a detector geometry (only canonical "
                f"{IMAGE_SIZE}x{IMAGE_SIZE} images can go without one)"
            )
        with np.errstate(invalid="ignore"):
            mask = np.isfinite(array) & (array >= 0) & horizon_mask()
        image = np.where(mask, array, 0).astype(np.float32)
    else:
        image, mask = resample(array, geometry=geometry, window_scale=window_scale, beam_stop_px=beam_stop_px)
        if fold:
            image, mask = fold_qy(image, mask)
    fraction = float(mask.mean())
    if fraction < MIN_VALID_FRACTION:
        raise ValueError(
            f"only {fraction:.1%} of the canonical grid holds data after masking "
            f"(need {MIN_VALID_FRACTION:.0%}); check the geometry and the mask"
        )
    return image, mask


def classify_frames(
    frames: Sequence[Any],
    *,
    classifier,
    geometry: DetectorGeometry | None,
    sources: Sequence[str],
    window_scale: float | str = 1.0,
    beam_stop_px: BeamStop | None = None,
    fold: bool = FOLD_QY,
) -> list[FrameResult]:
    """Classify frames taken at one geometry; one :class:`FrameResult` per frame, in order.

    Parameters
    ----------
    frames : sequence of array_like
        Detector frames (rows, columns), or canonical images when ``geometry`` is None.
    classifier : xicam_gisaxs_cnn.models.Classifier
        Keyword-only; its ``predict`` runs once on the batch of good frames.
    geometry : DetectorGeometry or None
        Keyword-only detector geometry.
    sources : sequence of str
        A name per frame, carried into the results.
    window_scale : float, "auto", "confidence" or "ensemble"
        Zoom of the canonical q window (see :func:`~.resample.canonical_axes_nm`), or
        ``"auto"`` to choose it per frame from its in-plane Bragg rods. The model-based
        modes classify the frame at every scale of the ladder
        (:func:`~.scale.predict_ladder`): ``"confidence"`` keeps the scale the
        classifier finds least out of distribution; ``"ensemble"`` averages the class
        probabilities and the OOD scores over the scales, sharpens the probabilities by the
        classifier's ``ensemble_temperature`` (:func:`~.scale.tempered`) and records the scale
        where that class is most probable.
    beam_stop_px : tuple of int, optional
        Beam-stop rectangle ``(x_min, x_max, y_min, y_max)``, px.
    fold : bool
        Fold detector frames about qy = 0 before classification (:func:`~.fold.fold_qy`;
        canonical images, ``geometry=None``, are never folded). Recorded in each result.
    """
    folded = fold and geometry is not None
    if len(frames) != len(sources):
        raise ValueError(f"got {len(frames)} frames but {len(sources)} sources")
    results: list[FrameResult | None] = [None] * len(frames)
    images, masks, good, scales = [], [], [], []
    for index, (frame, source) in enumerate(zip(frames, sources)):
        scale = float("nan")
        if geometry is not None and window_scale in MODEL_SCALE_MODES:
            results[index] = _classify_across_scales(frame, source, classifier=classifier, geometry=geometry,
                                                     mode=window_scale, beam_stop_px=beam_stop_px, fold=fold)
            continue
        try:
            scale = choose_window_scale(frame, geometry=geometry, window_scale=window_scale,
                                        beam_stop_px=beam_stop_px, classifier=classifier).window_scale
            image, mask = canonical_frame(frame, geometry=geometry, window_scale=scale, beam_stop_px=beam_stop_px,
                                          fold=fold)
        except ValueError as error:
            results[index] = FrameResult(source, window_scale=scale, error=str(error))
            continue
        scales.append(scale)
        images.append(image)
        masks.append(mask)
        good.append(index)
    if good:
        prediction = classifier.predict(np.stack(images), np.stack(masks))
        for row, index in enumerate(good):
            results[index] = FrameResult(
                source=sources[index],
                label=prediction.labels[row],
                probabilities=prediction.probabilities[row],
                ood_score=float(prediction.ood_scores[row]),
                ood_flag=bool(prediction.ood_flags[row]),
                valid_fraction=float(masks[row].mean()),
                window_scale=scales[row],
                folded=folded,
                model=classifier.name,
            )
    return results


def _classify_across_scales(frame, source: str, *, classifier, geometry: DetectorGeometry, mode: str,
                            beam_stop_px: BeamStop | None, fold: bool) -> FrameResult:
    """One frame classified at every ladder scale, summarised by ``mode`` ("confidence" or "ensemble")."""
    try:
        ladder = predict_ladder(checked_frame(frame), geometry=geometry, classifier=classifier, beam_stop_px=beam_stop_px,
                                min_valid_fraction=MIN_VALID_FRACTION, fold=fold)
    except ValueError as error:
        return FrameResult(source, window_scale=float("nan"), error=str(error))
    prediction = ladder.prediction
    if mode == "confidence":
        row = ladder.confident_row()
        probabilities = prediction.probabilities[row]
        ood_score, ood_flag = float(prediction.ood_scores[row]), bool(prediction.ood_flags[row])
    else:
        row = ladder.ensemble_row()
        probabilities = ladder.ensemble_probabilities(classifier.ensemble_temperature)
        ood_score = ladder.ensemble_ood_score()
        ood_flag = bool(ood_score > classifier.ood_threshold)
    return FrameResult(
        source=source,
        label=CLASS_NAMES[int(np.argmax(probabilities))],
        probabilities=probabilities,
        ood_score=ood_score,
        ood_flag=ood_flag,
        valid_fraction=float(ladder.valid_fractions[row]),
        window_scale=float(ladder.scales[row]),
        folded=fold,
        model=classifier.name,
    )
