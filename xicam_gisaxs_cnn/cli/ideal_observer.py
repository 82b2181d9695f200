"""``gisaxs-cnn ideal-observer``: the best accuracy any classifier can reach on the realistic frames."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

IDEAL_OBSERVER_FILES: tuple[str, str, str] = ("ideal_observer.json", "ideal_observer.md", "ideal_observer_vs_total_counts.png")
"""What the command writes into ``--output``: every frame's record, the tables, the plot."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ideal-observer", help="the best accuracy any classifier can reach on the realistic frames (photon limit)",
        description=(
            "Draw the realistic superlattice frames of 'gisaxs-cnn evaluate --realistic N' (same seed, same frames), "
            "compute each frame's expected intensity for all seven classes with every other draw kept, and label "
            "the frame by the largest Poisson likelihood: the Bayes-optimal observer that knows everything but the "
            "class, an upper bound for any classifier (--lattice-unknown and --film-unknown tell it less). Then "
            "count every frame again at 1e2-1e7 photons (--reads canonical: reading only the model's input; "
            "--model: the model labels the same photons). With "
            "--compare, a report's metrics.json (made with the same --seed and N) is set beside it frame for frame."
        ),
    )
    parser.add_argument("--output", required=True, help="folder for " + ", ".join(IDEAL_OBSERVER_FILES))
    parser.add_argument("--per-class", type=int, default=2,
                        help="frames per class and lattice constant, as evaluate's --realistic N (default: 2, that "
                             "is 70 frames; about 10 s each on a Pilatus 1M)")
    parser.add_argument("--seed", type=int, default=90210, help="frame i uses seed + i (default: 90210, evaluate's)")
    parser.add_argument("--draws", type=int, default=3, help="photon draws per frame at each swept total (default: 3)")
    parser.add_argument("--totals", type=float, nargs="+", default=None, metavar="PHOTONS",
                        help="expected photons per frame at which every frame is counted again (default: 1e2 to 1e7 "
                             "in half decades)")
    parser.add_argument("--detector", default="pilatus-1m", metavar="NAME",
                        help="detector of the frames: pilatus-1m (default), pilatus-2m or small (a test detector)")
    parser.add_argument("--lattice-constants", type=float, nargs="+", default=None, metavar="NM",
                        help="nearest-neighbour distances of the frames, nm (default: evaluate's 10 20 50 100 150)")
    parser.add_argument("--lattice-unknown", action="store_true",
                        help="do not tell the observer the lattice constant: average its likelihoods over the "
                             "--lattice-constants, equally likely (five times the work with the default five)")
    parser.add_argument("--film-unknown", type=int, default=0, metavar="K",
                        help="do not tell the observer the film's draws (grain size, disorder, particle size, ...): "
                             "average its likelihoods over K film draws made afresh (K times the work; default: 0, told)")
    parser.add_argument("--reads", default="frame", metavar="WHAT",
                        help="what the observer reads: 'frame', every live pixel (default), or 'canonical', only the model's "
                             "input, the frame binned onto the canonical grid at the scale where its lattice looks "
                             "like the middle of the training lattices, folded about qy = 0")
    parser.add_argument("--model", metavar="NAME_OR_PATH",
                        help="also label every swept photon draw with this model through the frame path (in memory, "
                             "--window-scale ensemble), so the model and the observer meet the same photons")
    parser.add_argument("--compare", metavar="METRICS_JSON",
                        help="an evaluation report's metrics.json with realistic frames of the same seed and N")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xicam_gisaxs_cnn.models import load_model
    from xicam_gisaxs_cnn_trainer.realistic.evaluate import DETECTORS, LATTICE_CONSTANTS_NM
    from xicam_gisaxs_cnn_trainer.realistic.ideal_observer import (
        SWEPT_TOTALS, ideal_observer_evaluation, markdown_ideal, observer_name, paired_table, plot_ideal,
    )

    if args.detector not in DETECTORS:
        raise ValueError(f"--detector must be one of {', '.join(DETECTORS)}, got {args.detector!r}")
    name, model = _compared_report(args.compare) if args.compare else ("model", None)
    if model is not None and (model["seed"], model["per_class"], model["detector"]) != (
            args.seed, args.per_class, DETECTORS[args.detector].name):
        raise ValueError(f"--compare holds frames of seed {model['seed']}, {model['per_class']} per class on "
                         f"{model['detector']}; give the same --seed, --per-class and --detector")
    classifier = load_model(args.model) if args.model else None
    lattice_constants = tuple(args.lattice_constants or LATTICE_CONSTANTS_NM)
    if model is not None and _lattice_constants_of(model) != lattice_constants:
        raise ValueError(f"--compare holds frames of lattice constants {_lattice_constants_of(model)} nm; "
                         "give the same --lattice-constants")
    ideal = ideal_observer_evaluation(per_class=args.per_class, seed=args.seed, layout=DETECTORS[args.detector],
                                      lattice_constants_nm=lattice_constants,
                                      totals=tuple(args.totals or SWEPT_TOTALS), draws=args.draws,
                                      lattice_known=not args.lattice_unknown, film_samples=args.film_unknown,
                                      reads=args.reads, classifier=classifier, progress=print)
    paired = paired_table(ideal, model["frames"]) if model is not None else None
    if paired is not None:
        ideal["paired"] = {"metrics": str(args.compare), "table": paired}
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    data, markdown, plot = (output / file for file in IDEAL_OBSERVER_FILES)
    data.write_text(json.dumps(ideal, indent=1) + "\n")
    markdown.write_text(markdown_ideal(ideal, paired, model_name=name))
    plot_ideal(ideal, plot, model_counts=model["accuracy_vs_total_counts"] if model is not None else None, model_name=name)
    print(f"{observer_name(ideal)}: {ideal['accuracy']:.1f}% of {len(ideal['frames'])} frames right"
          + (f" (the model: {paired['every frame']['model']:.1f}%)" if paired else "") + f"; written to {output}")
    return 0


def _lattice_constants_of(realistic: dict) -> tuple[float, ...]:
    """The lattice constants (nm) of an evaluation's superlattice frames, in the order it drew them."""
    from xicam_gisaxs_cnn.classes import CLASS_NAMES

    return tuple(dict.fromkeys(r["nn_distance_nm"] for r in realistic["frames"] if r["kind"] in CLASS_NAMES))


def _compared_report(path: str) -> tuple[str, dict]:
    """The model's name and the realistic-frame metrics of an evaluation report's metrics.json."""
    metrics = json.loads(Path(path).read_text())
    if "realistic" not in metrics:
        raise ValueError(f"{path} holds no realistic frames (made without evaluate --realistic N)")
    return metrics.get("model", "model"), metrics["realistic"]
