"""Average a model's weights with a fine-tune of it (WiSE-FT), then calibrate the average as training does.

A fine-tune on one degradation (say ``rescale:25``) gains there and loses elsewhere; the weights
``(1 - w) * base + w * fine_tune`` of a model and its own fine-tune often keep most of both
(Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022)::

    gisaxs-cnn average --model default --with ded25 --weight 0.3 --name default-averaged

The average is calibrated (temperature, OOD score) on the base model's own training stream,
read from its manifest: the same data, degradation, randomisation (with its ranges) and seed,
so the validation batches are those the base was calibrated on. What is fitted to particular
weights and made by another command (int8 calibration, a frame-fitted OOD threshold, the
ensemble temperature) is not carried over: run ``gisaxs-cnn calibrate-int8`` /
``fit-ood-threshold`` on the new bundle.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from xicam_gisaxs_cnn.cli.bundle_output import add_output_arguments, output_directory
from xicam_gisaxs_cnn.models import load_bundle, resolve_bundle, save_bundle
from xicam_gisaxs_cnn.models.bundle import Bundle
from xicam_gisaxs_cnn.models.test_time import NO_SMEAR_PX

from .degradation import Degradation, MixtureRanges
from .evaluation.report import training_simulation_config
from .realistic.randomise import RandomisationRanges, Randomiser
from .sources import make_sources
from .train import bundle_provenance, fit_calibration, recorded_arguments, stream_record

#: The base model's recorded training arguments that define the stream the average is calibrated on.
STREAM_ARGUMENTS: tuple[str, ...] = ("data", "batch_size", "batches_per_epoch", "validation_batches", "seed")
#: The same for options that older trainers did not record, with the value they then had.
OPTIONAL_STREAM_ARGUMENTS: dict[str, object] = {"mapping": None, "randomise": False, "fold": False, "outliers": 0.0}


def get_args_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``gisaxs-cnn average``."""
    parser = parser or argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the base bundle (name or directory)")
    parser.add_argument("--with", dest="fine_tune", required=True,
                        help="a fine-tune of the base (same architecture and width), name or directory")
    parser.add_argument("--weight", type=float, required=True,
                        help="w in (1 - w) * base + w * fine-tune, between 0 and 1")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader worker processes for the calibration stream")
    add_output_arguments(parser)
    return parser


def averaged_weights(base: torch.nn.Module, fine_tune: torch.nn.Module, weight: float) -> dict[str, torch.Tensor]:
    """``(1 - weight) * base + weight * fine_tune`` of every floating-point tensor (batch-norm
    statistics included); integer buffers (batch counts) are the base's.

    ValueError when the two do not have the same tensors of the same shapes (not one model's
    fine-tune) or ``weight`` is outside [0, 1].
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"--weight must be between 0 and 1, got {weight}")
    base_state, tuned_state = base.state_dict(), fine_tune.state_dict()
    if base_state.keys() != tuned_state.keys():
        differing = sorted(base_state.keys() ^ tuned_state.keys())
        raise ValueError(f"the two models have different layers ({', '.join(differing[:4])}): "
                         "average a model only with a fine-tune of it")
    for key, tensor in base_state.items():
        if tensor.shape != tuned_state[key].shape:
            raise ValueError(f"layer {key} is {tuple(tensor.shape)} in the base but {tuple(tuned_state[key].shape)} in "
                             "the fine-tune: average a model only with a fine-tune of it at the same width")
    return {key: (1.0 - weight) * tensor + weight * tuned_state[key] if tensor.is_floating_point() else tensor.clone()
            for key, tensor in base_state.items()}


def training_stream(bundle: Bundle) -> tuple[dict, Degradation, Randomiser | None]:
    """The base bundle's recorded stream arguments, training degradation and domain randomisation (None
    without); ValueError when it records no training stream."""
    training = bundle.manifest.get("training") or {}
    recorded = training.get("args") or {}
    missing = [name for name in STREAM_ARGUMENTS if name not in recorded]
    if missing or "degradation" not in training:
        raise ValueError(f"bundle {bundle.name!r} records no training stream ({', '.join(missing) or 'degradation'} "
                         "missing from its manifest): it was not written by gisaxs-cnn train")
    degradation = Degradation.parse(training["degradation"])
    if degradation.kind == "mixture" and training.get("mixture"):
        degradation = dataclasses.replace(degradation, mixture=MixtureRanges.from_dict(training["mixture"]))
    stream = {**{name: recorded[name] for name in STREAM_ARGUMENTS},
              **{name: recorded.get(name, value) for name, value in OPTIONAL_STREAM_ARGUMENTS.items()}}
    ranges = training.get("randomisation")
    randomiser = (Randomiser(RandomisationRanges.from_dict(ranges)) if ranges else Randomiser()) if stream["randomise"] else None
    return stream, degradation, randomiser


def main(args) -> Path:
    """Average, calibrate and write the bundle as ``args`` say; return its directory."""
    started = time.perf_counter()
    output = output_directory(args)
    base, fine_tune = load_bundle(resolve_bundle(args.model)), load_bundle(resolve_bundle(args.fine_tune))
    for bundle in (base, fine_tune):
        if bundle.path.resolve() == output.resolve():
            raise ValueError(f"--output {output} is the bundle {bundle.name!r} being read; write the average elsewhere")
    for field in ("architecture", "architecture_kwargs"):
        if base.manifest.get(field) != fine_tune.manifest.get(field):
            raise ValueError(f"the base's {field} is {base.manifest.get(field)} but the fine-tune's is "
                             f"{fine_tune.manifest.get(field)}: average a model only with a fine-tune of it")
    model = base.model
    model.load_state_dict(averaged_weights(base.model, fine_tune.model, args.weight))
    stream, degradation, randomiser = training_stream(base)
    vars(args).update(stream)  # recorded with the bundle: the report's training-set column reads this stream
    torch.manual_seed(stream["seed"])  # as train seeds itself
    sources = make_sources(stream["data"], batch_size=stream["batch_size"], batches_per_epoch=stream["batches_per_epoch"],
                           validation_batches=stream["validation_batches"], seed=stream["seed"],
                           config=training_simulation_config(base.manifest), mapping=stream["mapping"],
                           outliers=stream["outliers"])
    validation, temperature, ood = fit_calibration(
        model.eval(), sources, degradation, device=torch.device("cpu"), seed=stream["seed"],
        generator=torch.Generator().manual_seed(stream["seed"]), randomiser=randomiser,
        fold=stream["fold"], outliers=stream["outliers"], workers=args.workers)
    return save_bundle(
        model, output, name=args.name or output.name, architecture=base.manifest["architecture"],
        architecture_kwargs=base.manifest.get("architecture_kwargs"), temperature=temperature, ood=ood,
        training={**stream_record(sources, degradation, randomiser, fold=stream["fold"]),
                  "average": {"weight": args.weight, "base": bundle_provenance(base),
                              "fine_tune": bundle_provenance(fine_tune)},
                  "args": recorded_arguments(args), "seconds": round(time.perf_counter() - started, 1)},
        metrics={"validation_accuracy": validation["accuracy"], "temperature": temperature},
        test_time_smear_px=base.manifest.get("test_time_smear_px", NO_SMEAR_PX),
    )
