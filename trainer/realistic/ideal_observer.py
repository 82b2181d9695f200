"""The ideal observer: how well any classifier could label the realistic frames.

For a superlattice frame of :func:`.frames.realistic_frame`, every random draw but the
class is kept (geometry, instrument, grain size, disorder and orientation: the
:class:`.frames.FilmDraw`) and the frame's expected intensity is computed for each of
the seven classes. Given the class, the photons are Poisson over the live pixels with
a fixed expected total, so their likelihood is multinomial, and

    argmax_c  sum_i n_i log(lambda_ci / sum_j lambda_cj)        (i, j: live pixels)

is the Bayes-optimal decision of an observer that knows all those draws (the classes
equally likely and drawn independently of them). Knowing more can only help, so its
accuracy bounds from above what any classifier reading the frame alone can reach on
the same frames, a CNN among them. Where it falls short of a goal, the photons, not
the model, forbid the goal.

Not told the lattice constant (``lattice_known=False``), the observer computes the
intensities at every lattice constant of the evaluation and averages each class's
likelihood over them, equally weighted, as the evaluation draws them. Not told the
film's other draws (``film_samples=K``: grain size in cells, disorder, particle size,
compression, mosaic spread), it averages over ``K`` film draws made afresh from the
simulator's prior instead of the frame's own. Such a rule ignores what the geometry
says of the lattice (an experimenter sets the detector for it) and approximates the
prior by a few draws, so its accuracy bounds from below what an observer told that
much less could reach, as the told observer's bounds it from above: the two measure
what not knowing those conditions costs when the rest is known.

Reading the model's input (``reads="canonical"``), the observer sees the frame as the
frame path hands it to a network: binned onto the canonical grid at one window scale
(:func:`canonical_scale`, where the frame's lattice looks like the middle of the training
lattices) and folded about qy = 0 (:func:`canonical_view`). Photons outside that window,
and the detail finer than its cells, are lost to it as to the network; where it still
labels the frames right, the input holds what the label needs. Given a ``classifier``,
every swept draw is also labelled by it through the frame path (in memory,
``--window-scale ensemble``), so the model and the observer meet the same photons.

:func:`ideal_observer_evaluation` draws the frames of
:func:`.evaluate.realistic_evaluation` (same seeds, same order: frame ``i`` from
``seed + i``) and labels each at its own counts, then counts each again at the totals
of :data:`SWEPT_TOTALS`. :func:`paired_table` sets a model's records beside it.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.special  # noqa: E402

from xicam_gisaxs_cnn.classes import CLASS_NAMES, NUM_CLASSES, class_index  # noqa: E402
from xicam_gisaxs_cnn.canonical import IMAGE_SIZE  # noqa: E402
from xicam_gisaxs_cnn.frames import DetectorGeometry  # noqa: E402
from xicam_gisaxs_cnn.frames.classify import classify_frames  # noqa: E402
from xicam_gisaxs_cnn.frames.fold import FOLD_QY  # noqa: E402
from xicam_gisaxs_cnn.frames.resample import BeamStop, ResamplingPlan, resampling_plan  # noqa: E402
from xicam_gisaxs_cnn.frames.scale import quantise_scale  # noqa: E402

from ..evaluation.metrics import bin_members, percent  # noqa: E402
from ..simulation import SimulationConfig  # noqa: E402
from .evaluate import (  # noqa: E402
    COUNT_BINS, LATERAL_CELL_BINS, LATTICE_CONSTANTS_NM, accuracy_table, recall_per_class, superlattice_jobs,
)
from .frames import (  # noqa: E402
    PILATUS_1M, DetectorLayout, FilmDraw, Instrument, RealisticFrame, count_photons,
    expected_intensity, film_record, sample_geometry, sample_instrument, superlattice_film,
)

OBSERVER_READS: tuple[str, ...] = ("frame", "canonical")
"""What the observer reads: every live pixel of the detector, or the model's input (:func:`canonical_view`)."""

SWEPT_TOTALS: tuple[float, ...] = tuple(10.0 ** (exponent / 2) for exponent in range(4, 15))
"""Expected photons per frame at which every frame is counted again: 1e2 to 1e7 in half decades."""


@dataclasses.dataclass(frozen=True)
class ClassIntensities:
    """A realistic superlattice frame and its expected intensity had its film been of each class.

    Attributes
    ----------
    frame : RealisticFrame
        The frame, identical to :func:`.frames.realistic_frame` with the same arguments.
    intensities : numpy.ndarray
        (classes, rows, columns): expected intensity of the frame for each class of
        :data:`~xicam_gisaxs_cnn.classes.CLASS_NAMES`, film mean 1 above the horizon.
    draw : FilmDraw
        The film's class-independent draws.
    """

    frame: RealisticFrame
    intensities: np.ndarray
    draw: FilmDraw


def _film_intensity(label: int, draw: FilmDraw, *, layout: DetectorLayout, geometry: DetectorGeometry,
                    instrument: Instrument, config: SimulationConfig) -> tuple[np.ndarray, BeamStop, dict]:
    """Expected intensity of the film ``draw`` as class ``label``, the beam stop, and the simulator's parameters."""
    params = draw.parameters(label, config)
    film = superlattice_film(params, layout=layout, geometry=geometry, config=config)
    return *expected_intensity(film, layout=layout, geometry=geometry, instrument=instrument), params


def class_intensities(kind: str, *, nn_distance_nm: float, seed: int, layout: DetectorLayout = PILATUS_1M,
                      config: SimulationConfig | None = None) -> ClassIntensities:
    """The frame ``realistic_frame(kind, nn_distance_nm=..., seed=..., layout=...)`` and its seven class intensities.

    The random draws follow :func:`.frames.realistic_frame` one by one (a test holds them
    equal); ``kind`` must be a superlattice class.
    """
    if kind not in CLASS_NAMES:
        raise ValueError(f"kind must be a superlattice class {CLASS_NAMES}, got {kind!r}")
    rng = np.random.default_rng(seed)
    geometry = sample_geometry(rng, layout=layout, nn_distance_nm=nn_distance_nm)
    instrument = sample_instrument(rng)
    config = config or SimulationConfig()
    draw = FilmDraw.sample(rng, geometry=geometry, nn_distance_nm=nn_distance_nm)
    made = [_film_intensity(label, draw, layout=layout, geometry=geometry, instrument=instrument, config=config)
            for label in range(NUM_CLASSES)]
    intensities = np.stack([intensity for intensity, _, _ in made])
    _, beam_stop, params = made[class_index(kind)]
    counts = count_photons(intensities[class_index(kind)], layout=layout, total_counts=instrument.total_counts,
                           bad_pixel_fraction=instrument.bad_pixel_fraction, rng=rng)
    frame = RealisticFrame(counts, geometry, beam_stop, kind, float(nn_distance_nm), instrument, film_record(params))
    return ClassIntensities(frame, intensities, draw)


def candidate_draws(draw: FilmDraw, *, lattice_constants_nm: tuple[float, ...] = (), film_samples: int = 0,
                    rng: np.random.Generator | None = None) -> list[FilmDraw]:
    """The film draws an observer not told some of ``draw`` averages its likelihoods over.

    ``lattice_constants_nm`` (nm): the lattice constant is not told, each of these is a
    candidate. ``film_samples``: the film's other draws are not told; that many are made
    afresh with ``rng`` (the resolution, the instrument's, is kept). Both: every pairing.
    Neither: ``[draw]``.
    """
    if film_samples < 0 or (film_samples and rng is None):
        raise ValueError(f"film_samples must be >= 0, with a generator when > 0; got {film_samples}")
    films = [dataclasses.replace(draw, generator_seed=int(rng.integers(2**62))) for _ in range(film_samples)] or [draw]
    if not lattice_constants_nm:
        return films
    return [dataclasses.replace(film, fixed={**film.fixed, "nn_distance_nm": float(d)})
            for d in lattice_constants_nm for film in films]


def candidate_intensities(made: ClassIntensities, draws: list[FilmDraw], *, layout: DetectorLayout = PILATUS_1M,
                          config: SimulationConfig | None = None) -> np.ndarray:
    """(classes, len(draws), rows, columns): ``made``'s class intensities with its film drawn as each of ``draws``.

    The frame's geometry and instrument are kept; a draw equal to the frame's own reuses its intensities.
    """
    frame, config = made.frame, config or SimulationConfig()
    return np.stack([np.stack([
        made.intensities[label] if draw == made.draw else
        _film_intensity(label, draw, layout=layout, geometry=frame.geometry, instrument=frame.instrument, config=config)[0]
        for draw in draws]) for label in range(NUM_CLASSES)])


def log_likelihoods(counts: np.ndarray, intensities: np.ndarray) -> np.ndarray:
    """Multinomial log-likelihood (up to a common constant) of ``counts`` under each class's intensity.

    ``counts`` (rows, columns) as the detector writes them: pixels < 0 (gaps, bad pixels)
    are not live and left out. ``intensities`` (classes, rows, columns), > 0 on live pixels.
    """
    counts = np.asarray(counts)
    if intensities.ndim != 3 or intensities.shape[1:] != counts.shape:
        raise ValueError(f"intensities must be (classes, {counts.shape[0]}, {counts.shape[1]}), got {intensities.shape}")
    live = counts >= 0
    hit = counts > 0
    photons = counts[hit].astype(np.float64)
    live_sums = intensities[:, live].sum(axis=1)
    if np.any(intensities[:, hit] <= 0) or np.any(live_sums <= 0):
        raise ValueError("every class's intensity must be > 0 where photons were counted")
    return np.log(intensities[:, hit]) @ photons - photons.sum() * np.log(live_sums)


def marginal_log_likelihoods(counts: np.ndarray, candidate_intensities: np.ndarray) -> np.ndarray:
    """Each class's log-likelihood of ``counts`` averaged over equally likely candidates (up to a common constant).

    ``candidate_intensities`` (classes, candidates, rows, columns), as :func:`log_likelihoods`'s
    intensities for each candidate (a lattice constant).
    """
    if candidate_intensities.ndim != 4:
        raise ValueError(f"candidate_intensities must be (classes, candidates, rows, columns), got {candidate_intensities.shape}")
    classes, candidates = candidate_intensities.shape[:2]
    each = log_likelihoods(counts, candidate_intensities.reshape(classes * candidates, *candidate_intensities.shape[2:]))
    return scipy.special.logsumexp(each.reshape(classes, candidates), axis=1) - math.log(candidates)


def canonical_scale(nn_distance_nm: float, config: SimulationConfig | None = None) -> float:
    """Window scale at which a lattice of ``nn_distance_nm`` (nm) looks like the middle of the training lattices.

    The geometric mean of the config's nearest-neighbour range (12-35 nm: 20.5 nm) at
    scale 1, so the scale is ``nn_distance_nm / 20.5``, rounded by
    :func:`~xicam_gisaxs_cnn.frames.scale.quantise_scale`.
    """
    low, high = (config or SimulationConfig()).nn_distance_nm_range
    return quantise_scale(nn_distance_nm / math.sqrt(low * high))


def canonical_view(counts: np.ndarray, intensities: np.ndarray, *, plan: ResamplingPlan,
                   fold: bool = FOLD_QY) -> tuple[np.ndarray, np.ndarray]:
    """Photons and intensities as the frame path hands them to a network: summed over canonical cells.

    Parameters
    ----------
    counts : numpy.ndarray
        (rows, columns) detector counts; pixels < 0 (gaps, bad pixels) are not live.
    intensities : numpy.ndarray
        (..., rows, columns) expected intensities (classes, or classes and candidates).
    plan : ResamplingPlan
        The frame path's resampling at the frame's geometry, beam stop and window scale
        (:func:`~xicam_gisaxs_cnn.frames.resample.resampling_plan`; one per frame serves every draw).
    fold : bool
        Add each cell to its mirror about qy = 0, as the frame path folds.

    Returns
    -------
    counts, intensities : numpy.ndarray
        Sums over the live pixels of each cell the frame path keeps (its mask; cells no pixel
        centre falls in, filled from the nearest pixel there, repeat a pixel and are left out):
        counts (125, 125), -1 where no cell is kept, and intensities (..., 125, 125); folded,
        (125, 63) and (..., 125, 63), the last column qy = 0.
    """
    counts = np.asarray(counts)
    _, kept = plan.apply(counts)
    kept = (kept.ravel() & (plan.cell_pixels > 0)).reshape(IMAGE_SIZE, IMAGE_SIZE)
    live = (counts >= 0).ravel()
    flat = np.where(live, counts.ravel(), 0).astype(np.float64)
    layers = np.where(live, intensities.reshape(-1, live.size), 0.0)
    binned_counts = np.where(kept, (plan.frame_binning @ flat).reshape(IMAGE_SIZE, IMAGE_SIZE), 0.0)
    binned = np.where(kept, (plan.frame_binning @ layers.T).T.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), 0.0)
    if fold:
        centre = IMAGE_SIZE // 2
        binned_counts, binned, kept = (
            np.concatenate([a[..., :centre] + a[..., :centre:-1], a[..., centre:centre + 1]], axis=-1)
            for a in (binned_counts, binned, kept.astype(int)))
    return np.where(kept > 0, binned_counts, -1), binned.reshape(*intensities.shape[:-2], *binned.shape[-2:])


def ideal_label(counts: np.ndarray, intensities: np.ndarray) -> int:
    """Class index of the ideal observer's decision: the largest likelihood.

    ``intensities`` (classes, rows, columns): :func:`log_likelihoods`; (classes, candidates,
    rows, columns): :func:`marginal_log_likelihoods`.
    """
    likelihoods = marginal_log_likelihoods if np.ndim(intensities) == 4 else log_likelihoods
    return int(np.argmax(likelihoods(counts, intensities)))


def ideal_observer_evaluation(
    *,
    per_class: int,
    seed: int,
    layout: DetectorLayout = PILATUS_1M,
    lattice_constants_nm: tuple[float, ...] = LATTICE_CONSTANTS_NM,
    totals: tuple[float, ...] = SWEPT_TOTALS,
    draws: int = 3,
    lattice_known: bool = True,
    film_samples: int = 0,
    reads: str = "frame",
    classifier=None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """The ideal observer on the superlattice frames of ``realistic_evaluation(per_class=..., seed=...)``.

    Parameters
    ----------
    per_class : int
        Frames of every class at every lattice constant (keyword-only, as all).
    seed : int
        Frame ``i`` uses seed ``seed + i``, as in :func:`.evaluate.realistic_evaluation`.
    layout : DetectorLayout
        Detector.
    lattice_constants_nm : tuple of float
        Nearest-neighbour distances, nm.
    totals : tuple of float
        Expected photons per frame at which every frame is counted again.
    draws : int
        Photon draws per frame at each of ``totals``.
    lattice_known : bool
        Whether the observer is told each frame's lattice constant; if not, its likelihoods
        are averaged over ``lattice_constants_nm`` (as many times the work as there are).
    film_samples : int
        0: the observer is told the film's draws; else it averages its likelihoods over
        this many film draws made afresh (as many times the work; both: the product).
    reads : str
        ``"frame"``: the observer reads every live pixel; ``"canonical"``: only the model's
        input, :func:`canonical_view` at :func:`canonical_scale` (of :data:`OBSERVER_READS`).
    classifier : xicam_gisaxs_cnn.models.Classifier, optional
        Also labels every swept draw through the frame path (in memory, ``"ensemble"``).
    progress : callable, optional
        Called with a line after each frame.

    Returns
    -------
    dict
        ``frames`` (one record each: kind, lattice constant, grain width and height,
        ``total_counts`` (its positive pixels' sum, as the evaluation records it), the
        observer's ``label``, ``right_at_totals``: right draws at each total; not told all,
        also ``label_told``, the label of the observer told all on the same photons; reading
        the canonical view, its ``window_scale``; with a classifier, ``model_right_at_totals``),
        ``accuracy`` (%), ``recall`` and ``recall_vs_lattice_nm`` (fractions),
        ``accuracy_vs_total_counts``, ``accuracy_vs_lattice_nm``, ``accuracy_vs_lateral_cells``
        (as the evaluation's tables), ``accuracy_at_totals`` (total -> %) and
        ``hcp_recall_at_totals`` (with a classifier also ``model_accuracy_at_totals``,
        ``model_hcp_recall_at_totals`` and ``model``), and the arguments (and, not told all,
        ``accuracy_told``).
    """
    if per_class < 1 or draws < 1 or not totals or min(totals) <= 0:
        raise ValueError(f"per_class and draws must be >= 1 and totals > 0, got {per_class}, {draws}, {totals}")
    if not lattice_constants_nm or min(lattice_constants_nm) <= 0 or len(set(lattice_constants_nm)) < len(lattice_constants_nm):
        raise ValueError(f"lattice constants must be distinct and > 0 nm, got {lattice_constants_nm}")
    if film_samples < 0:
        raise ValueError(f"film_samples must be >= 0, got {film_samples}")
    if reads not in OBSERVER_READS:
        raise ValueError(f"reads must be one of {OBSERVER_READS}, got {reads!r}")
    told = lattice_known and not film_samples
    records = []
    for index, (kind, d) in enumerate(superlattice_jobs(lattice_constants_nm, per_class)):
        made = class_intensities(kind, nn_distance_nm=d, seed=seed + index, layout=layout)
        frame, truth = made.frame, class_index(kind)
        observed = made.intensities if told else candidate_intensities(made, candidate_draws(
            made.draw, lattice_constants_nm=() if lattice_known else lattice_constants_nm, film_samples=film_samples,
            rng=np.random.default_rng([seed, index, 1])), layout=layout)
        plan = None if reads == "frame" else resampling_plan(
            frame.counts.shape, geometry=frame.geometry, window_scale=canonical_scale(d), beam_stop_px=frame.beam_stop_px)
        label = functools.partial(_observer_label, plan=plan)
        rng = np.random.default_rng([seed, index])
        right, model_right = np.zeros(len(totals), dtype=int), np.zeros(len(totals), dtype=int)
        for position, total in enumerate(totals):
            for _ in range(draws):
                counts = count_photons(made.intensities[truth], layout=layout, total_counts=total,
                                       bad_pixel_fraction=frame.instrument.bad_pixel_fraction, rng=rng)
                right[position] += label(counts, observed) == truth
                if classifier is not None:
                    model_right[position] += _model_label(counts, frame, classifier) == kind
        records.append({
            "kind": kind, "nn_distance_nm": d,
            "repetitions_lateral": frame.film_parameters["repetitions_lateral"],
            "repetitions_vertical": frame.film_parameters["repetitions_vertical"],
            "total_counts": float(frame.counts[frame.counts > 0].sum()),
            "label": CLASS_NAMES[label(frame.counts, observed)],
            "right_at_totals": right.tolist(),
        })
        if not told:
            records[-1]["label_told"] = CLASS_NAMES[label(frame.counts, made.intensities)]
        if plan is not None:
            records[-1]["window_scale"] = plan.window_scale
        if classifier is not None:
            records[-1]["model_right_at_totals"] = model_right.tolist()
        if progress:
            progress(f"{index + 1}: {kind} {d:g} nm, {records[-1]['total_counts']:.0f} photons -> {records[-1]['label']}")
    metrics = summarise_ideal(records, totals=totals, draws=draws)
    metrics.update(detector=layout.name, per_class=per_class, seed=seed, draws=draws, totals=list(totals),
                   lattice_known=lattice_known, film_samples=film_samples, reads=reads)
    if classifier is not None:
        metrics["model"] = classifier.name
    if not told:
        metrics["accuracy_told"] = percent(np.mean([r["kind"] == r["label_told"] for r in records]))
    return metrics


def _observer_label(counts: np.ndarray, intensities: np.ndarray, *, plan: ResamplingPlan | None) -> int:
    """:func:`ideal_label` of detector ``counts``, or of their :func:`canonical_view` through ``plan``."""
    if plan is not None:
        counts, intensities = canonical_view(counts, intensities, plan=plan)
    return ideal_label(counts, intensities)


def _model_label(counts: np.ndarray, frame: RealisticFrame, classifier) -> str | None:
    """``classifier``'s label of ``counts`` taken at ``frame``'s geometry, through the frame path (``"ensemble"``)."""
    return classify_frames([counts], classifier=classifier, geometry=frame.geometry, sources=["frame"],
                           window_scale="ensemble", beam_stop_px=frame.beam_stop_px)[0].label


def summarise_ideal(records: list[dict], *, totals: tuple[float, ...], draws: int) -> dict:
    """Accuracy tables of ideal-observer records (see :func:`ideal_observer_evaluation`)."""
    truth = np.array([class_index(r["kind"]) for r in records])
    correct = np.array([r["kind"] == r["label"] for r in records])
    distances = np.array([r["nn_distance_nm"] for r in records])
    hcp = truth == class_index("HCP0001")

    def at_totals(key: str, chosen: np.ndarray | slice = slice(None)) -> dict[str, float]:
        right = np.array([r[key] for r in records])[chosen]  # (frames, totals)
        return {f"{total:.3g}": percent(right[:, i].sum() / (draws * len(right))) for i, total in enumerate(totals)}

    tables = {
        "frames": records,
        "accuracy": percent(np.mean(correct)),
        "recall": recall_per_class(correct, truth),
        "recall_vs_lattice_nm": {f"{d:g}": recall_per_class(correct[distances == d], truth[distances == d])
                                 for d in np.unique(distances)},
        "accuracy_vs_total_counts": accuracy_table(correct, np.array([r["total_counts"] for r in records]), COUNT_BINS),
        "accuracy_vs_lattice_nm": accuracy_table(correct, distances, None),
        "accuracy_vs_lateral_cells": accuracy_table(
            correct, np.array([r["repetitions_lateral"] for r in records], dtype=float), LATERAL_CELL_BINS),
        "accuracy_at_totals": at_totals("right_at_totals"),
        "hcp_recall_at_totals": at_totals("right_at_totals", hcp) if hcp.any() else {},
    }
    if all("model_right_at_totals" in r for r in records):
        tables["model_accuracy_at_totals"] = at_totals("model_right_at_totals")
        tables["model_hcp_recall_at_totals"] = at_totals("model_right_at_totals", hcp) if hcp.any() else {}
    return tables


def paired_table(ideal: dict, model_records: list[dict]) -> dict:
    """The ideal observer and a model on the same frames, per bin of total counts and overall (%).

    ``model_records`` are the superlattice records of :func:`.evaluate.realistic_evaluation`
    with the same seed, frames per class and lattice constants; they must match frame for frame
    (kind, lattice constant and photons counted), else ValueError.
    """
    lattice = [r for r in model_records if r["kind"] in CLASS_NAMES]
    ideal_records = ideal["frames"]
    if len(lattice) != len(ideal_records) or any(
            (a["kind"], a["nn_distance_nm"]) != (b["kind"], b["nn_distance_nm"])
            or not math.isclose(a["total_counts"], b["total_counts"]) for a, b in zip(lattice, ideal_records)):
        raise ValueError("the model's records are not of the ideal observer's frames (same seed, per class and lattice constants?)")
    counts = np.array([r["total_counts"] for r in lattice])
    model = np.array([r["label"] == r["kind"] for r in lattice])
    best = np.array([r["label"] == r["kind"] for r in ideal_records])
    rows = {"every frame": (model, best)}
    for low, high, chosen in zip(COUNT_BINS[:-1], COUNT_BINS[1:], bin_members(counts, COUNT_BINS)):
        if chosen.any():
            rows[f"{low:g}-{high:g}"] = (model[chosen], best[chosen])
    return {name: {"frames": int(m.size), "model": percent(np.mean(m)), "ideal_observer": percent(np.mean(b)),
                   "ideal_right_model_wrong": int(np.sum(b & ~m)), "model_right_ideal_wrong": int(np.sum(m & ~b))}
            for name, (m, b) in rows.items()}


def observer_name(ideal: dict) -> str:
    """Which observer made ``ideal``: told every draw but the class, or not the lattice constant or film either."""
    hidden = ([] if ideal.get("lattice_known", True) else ["the lattice constant"]) + (
        [f"the film (averaged over {ideal['film_samples']} film draws)"] if ideal.get("film_samples") else [])
    reading = " reading the model's input" if ideal.get("reads") == "canonical" else ""
    return "ideal observer" + reading + (" not told " + " nor ".join(hidden) if hidden else "")


def markdown_ideal(ideal: dict, paired: dict | None = None, *, model_name: str = "model") -> str:
    """The ideal observer's tables as markdown: beside the model (``paired``), and against total counts."""
    told = "" if "accuracy_told" not in ideal else f" (the same photons, told all but the class: {ideal['accuracy_told']:.1f} %)"
    lines = [f"{observer_name(ideal).capitalize()} on {len(ideal['frames'])} realistic superlattice frames "
             f"({ideal['detector']}, {ideal['per_class']} per class and lattice constant, seed {ideal['seed']}): "
             f"**{ideal['accuracy']:.1f} %** right{told}, HCP0001 recall {100 * ideal['recall']['HCP0001']:.1f} %.", ""]
    if paired:
        lines += [f"| total counts | frames | `{model_name}` (%) | {observer_name(ideal)} (%) | ideal right, model wrong | "
                  "model right, ideal wrong |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {name} | {row['frames']} | {row['model']:.1f} | {row['ideal_observer']:.1f} | "
                  f"{row['ideal_right_model_wrong']} | {row['model_right_ideal_wrong']} |" for name, row in paired.items()]
        lines.append("")
    model = ideal.get("model_accuracy_at_totals")
    lines += [f"Every frame counted again {ideal['draws']} times at each total"
              + (f" (and `{ideal['model']}` on the same photons, through the frame path)" if model else "") + ":", "",
              "| expected photons per frame | accuracy (%) | HCP0001 recall (%) |"
              + (f" `{ideal['model']}` (%) | `{ideal['model']}` HCP0001 (%) |" if model else ""),
              "|---|---|---|" + ("---|---|" if model else "")]
    lines += [f"| {total} | {accuracy:.1f} | {ideal['hcp_recall_at_totals'].get(total, float('nan')):.1f} |"
              + (f" {model[total]:.1f} | {ideal['model_hcp_recall_at_totals'].get(total, float('nan')):.1f} |"
                 if model else "")
              for total, accuracy in ideal["accuracy_at_totals"].items()]
    lines += ["", "| lattice constant (nm) | accuracy (%) | HCP0001 recall (%) |", "|---|---|---|"]
    lines += [f"| {d} | {ideal['accuracy_vs_lattice_nm'][d]['accuracy']:.1f} | "
              f"{100 * recall.get('HCP0001', float('nan')):.1f} |" for d, recall in ideal["recall_vs_lattice_nm"].items()]
    return "\n".join(lines) + "\n"


def plot_ideal(ideal: dict, path: str | Path, *, model_counts: dict | None = None, model_name: str = "model") -> Path:
    """Accuracy against photons per frame: the ideal observer (swept totals) and, if given, a model's count bins."""
    figure, axes = plt.subplots(figsize=(5.5, 3.8))
    totals = [float(t) for t in ideal["accuracy_at_totals"]]
    axes.plot(totals, list(ideal["accuracy_at_totals"].values()), "o-", label=observer_name(ideal))
    if "model_accuracy_at_totals" in ideal:
        axes.plot(totals, list(ideal["model_accuracy_at_totals"].values()), "^-",
                  label=f"{ideal['model']}, the same photons")
    if model_counts:
        axes.plot([row["centre"] for row in model_counts.values()], [row["accuracy"] for row in model_counts.values()],
                  "s--", label=model_name)
    axes.axhline(95, color="grey", lw=0.8, ls=":", label="goal 95 %")
    axes.set(xscale="log", xlabel="photons per frame", ylabel="accuracy (%)", ylim=(0, 101),
             title="Realistic frames: the ideal observer" + ("'s upper bound" if "accuracy_told" not in ideal
                                                              else ", told less"))
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
