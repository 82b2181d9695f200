"""``gisaxs-cnn classify FILE...``: label detector frames in EDF, TIFF, CBF or NeXus/HDF5 files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..canonical import IMAGE_SIZE
from ..frames.fold import FOLD_QY
from ..frames.scale import DETECTOR_FRAME_WINDOW_SCALE, default_window_scale, parse_window_scale
from ..models.classifier import PRECISIONS
from ..models.registry import DETECTOR_FRAME_MODEL_NAME
from ..models.test_time import SmearView, parse_smear_view

CHUNK = 32
"""Frames of a multi-frame file classified per model call."""


def add_geometry_arguments(parser: argparse.ArgumentParser) -> None:
    """Detector-geometry, masking and test-time options shared by classify, live and classify-run.

    ``--window-scale`` defaults to None: the command chooses by the kind of frame
    (:func:`~xicam_gisaxs_cnn.frames.scale.default_window_scale`).
    """
    group = parser.add_argument_group("detector geometry (override file headers, sidecars and run metadata)")
    group.add_argument("--energy-kev", type=float, help="photon energy, keV")
    group.add_argument("--wavelength-nm", type=float, help="X-ray wavelength, nm (instead of --energy-kev)")
    group.add_argument("--distance-mm", type=float, help="sample to beam-centre distance, mm")
    group.add_argument("--pixel-size-mm", type=float, nargs="+", metavar="MM", help="pixel pitch x [y], mm")
    group.add_argument("--beam-centre-px", type=float, nargs=2, metavar=("X", "Y"), help="direct-beam position, px")
    group.add_argument("--incidence-deg", type=float, help="incidence angle alpha_i, degrees")
    group.add_argument("--tilt-deg", type=float, help="detector tilt about its horizontal axis, degrees")
    group.add_argument("--roll-deg", type=float, help="detector roll about the beam, degrees")
    group.add_argument("--geometry", metavar="JSON", help="geometry as a JSON object or a JSON file path")
    group.add_argument("--beam-stop-px", type=int, nargs=4, metavar=("XMIN", "XMAX", "YMIN", "YMAX"),
                       help="beam-stop rectangle to mask, px, bounds included")
    default = f"default: {DETECTOR_FRAME_WINDOW_SCALE} for detector frames, 1 for canonical images"
    group.add_argument("--window-scale", type=window_scale_argument, default=None,
                       metavar="S|auto|confidence|ensemble",
                       help=f"shrink the q window to qy in [-1,1]/S, qz in [0,2]/S nm^-1 ({default}); "
                            "'auto' chooses S per frame from its first in-plane Bragg peak; 'confidence' and "
                            "'ensemble' classify the frame at 25 S from 0.25 to 16 (those it fills 5%% of) and keep the S the model finds "
                            "least out of distribution, or average the probabilities over all of them")
    group.add_argument("--test-time-smear", type=smear_view_argument, nargs="+", default=None, metavar="PX|QYxQZ",
                       help="classify each canonical image as the mean over these Gaussian-smeared views: a width in px "
                            "(0 = the image itself) or px along qy and qz (1x0: along qy only) (default: the model's own, "
                            "e.g. 0 1x0 for the shipped frames model; '--test-time-smear 0' halves the network's work, "
                            "and the OOD threshold was fitted with the model's own views)")
    group.add_argument("--precision", choices=PRECISIONS, default=None,
                       help="how the network's convolutions run: int8 (on the CPU, for a model calibrated with "
                            "'gisaxs-cnn calibrate-int8', as both shipped models are) or float32 (default: the model's own)")
    group.add_argument("--no-fold", dest="fold", action="store_false",
                       help="do not fold detector frames about qy = 0 (by default each canonical image is averaged "
                            "with its mirror image: powder films are even in qy; this halves the counting noise "
                            "and fills module gaps seen on one side only)")


def window_scale_argument(text: str) -> float | str:
    """``--window-scale``: one of :data:`~xicam_gisaxs_cnn.frames.scale.SCALE_MODES` or a number > 0."""
    try:
        return parse_window_scale(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def smear_view_argument(text: str) -> SmearView:
    """``--test-time-smear``: a view, PX or QYxQZ (:func:`~xicam_gisaxs_cnn.models.test_time.parse_smear_view`)."""
    try:
        return parse_smear_view(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def geometry_values(args: argparse.Namespace) -> dict[str, Any]:
    """Geometry keys the user gave (``--geometry`` first, single options over it)."""
    values: dict[str, Any] = {}
    if args.geometry:
        text = args.geometry
        if not text.lstrip().startswith("{"):
            path = Path(text)
            if not path.is_file():
                raise FileNotFoundError(f"--geometry: no such JSON file {text}")
            text = path.read_text()
        try:
            values.update(json.loads(text))
        except json.JSONDecodeError as error:
            raise ValueError(f"--geometry is not valid JSON: {error}") from None
    pixel = args.pixel_size_mm
    if pixel is not None and len(pixel) not in (1, 2):
        raise ValueError(f"--pixel-size-mm takes 1 or 2 values, got {len(pixel)}")
    options = {
        "energy_kev": args.energy_kev, "wavelength_nm": args.wavelength_nm, "distance_mm": args.distance_mm,
        "pixel_size_mm": None if pixel is None else (pixel[0], pixel[-1]), "beam_centre_px": args.beam_centre_px,
        "incidence_angle_deg": args.incidence_deg, "tilt_deg": args.tilt_deg, "roll_deg": args.roll_deg,
    }
    if options["wavelength_nm"] is not None:
        values.pop("energy_kev", None)
    if options["energy_kev"] is not None:
        values.pop("wavelength_nm", None)
    values.update({key: value for key, value in options.items() if value is not None})
    return values


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify", help="classify detector frames in files",
        description="Label every frame of EDF, TIFF, CBF and NeXus/HDF5 files. Geometry comes from the file "
                    "header, a FILE.json sidecar and the options below (later ones win). A file that fails "
                    "gets an error line and the others go on.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="detector files")
    parser.add_argument("--model", metavar="NAME|PATH",
                        help=f"model bundle name or directory (default: the shipped {DETECTOR_FRAME_MODEL_NAME!r} "
                             "model for detector frames, the shipped 'default' for canonical 125 x 125 images)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per frame instead of a table")
    add_geometry_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..frames import FrameResult
    from ..models import ModelsByFrameKind, load_model

    if args.model:
        classifier = load_model(args.model, test_time_smear_px=args.test_time_smear, precision=args.precision)
    else:
        classifier = ModelsByFrameKind(args.test_time_smear, precision=args.precision)
    overrides = geometry_values(args)
    beam_stop = tuple(args.beam_stop_px) if args.beam_stop_px else None
    failed = 0
    if not args.json:
        print(f"{'source':<40} {'label':<8} {'p':>6} {'ood':>8} {'flag':<4} {'valid':>6} {'scale':>6}  error")
    for path in args.files:
        try:
            results = classify_file(path, classifier=classifier, overrides=overrides,
                                    window_scale=args.window_scale, beam_stop_px=beam_stop, fold=args.fold)
        except (ValueError, OSError) as error:
            scale = args.window_scale if isinstance(args.window_scale, float) else float("nan")
            results = [FrameResult(str(path), window_scale=scale, error=str(error))]
        for result in results:
            failed += bool(result.error)
            _print(result, args.json)
    return 1 if failed else 0


def classify_file(path, *, classifier, overrides, window_scale, beam_stop_px, fold: bool = FOLD_QY):
    """Results for every frame of one file (geometry resolved once per file).

    ``classifier`` is a Classifier, or a :class:`~xicam_gisaxs_cnn.models.ModelsByFrameKind`
    that picks one by the file's kind; ``window_scale`` None means
    :func:`~xicam_gisaxs_cnn.frames.scale.default_window_scale` of the file's kind;
    ``fold`` folds detector frames about qy = 0.
    """
    from ..frames import classify_frames, geometry_from_mapping, read_frames
    from ..models import ModelsByFrameKind

    results, chunk, geometry = [], [], None
    for index, frame in enumerate(read_frames(path, geometry_values=overrides)):
        if index == 0:
            canonical = frame.data.shape == (IMAGE_SIZE, IMAGE_SIZE) and not frame.geometry_values
            geometry = None if canonical else geometry_from_mapping(frame.geometry_values)
            if window_scale is None:
                window_scale = default_window_scale(geometry is not None)
            if isinstance(classifier, ModelsByFrameKind):
                classifier = classifier(geometry is not None)
        chunk.append(frame)
        if len(chunk) == CHUNK:
            results += _classify_chunk(chunk, classifier, geometry, window_scale, beam_stop_px, fold, classify_frames)
            chunk = []
    if chunk:
        results += _classify_chunk(chunk, classifier, geometry, window_scale, beam_stop_px, fold, classify_frames)
    if not results:
        raise ValueError(f"{path} holds no frames")
    return results


def _classify_chunk(chunk, classifier, geometry, window_scale, beam_stop_px, fold, classify_frames):
    return classify_frames([f.data for f in chunk], classifier=classifier, geometry=geometry,
                           sources=[f.source for f in chunk], window_scale=window_scale, beam_stop_px=beam_stop_px,
                           fold=fold)


def _print(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_record()), flush=True)
        return
    if result.error:
        print(f"{result.source:<40} {'-':<8} {'-':>6} {'-':>8} {'-':<4} {'-':>6} {'-':>6}  {result.error}", flush=True)
        return
    probability = float(result.probabilities.max())
    flag = "OOD" if result.ood_flag else "-"  # out of distribution: the label is not to be trusted
    print(f"{result.source:<40} {result.label:<8} {probability:6.3f} {result.ood_score:8.3g} {flag:<4} "
          f"{result.valid_fraction:6.1%} {result.window_scale:6.3g}", flush=True)
