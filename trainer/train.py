"""Train a classifier and write a weight bundle the plugin loads with no other step.

Single process::

    gisaxs-cnn train --arch compact --data simulate --epochs 10 --name my-model

Many GPUs (one process per GPU, DistributedDataParallel)::

    torchrun --nproc_per_node 4 -m xicam_gisaxs_cnn_trainer.train --device cuda --amp ...

Layout after torchvision's references: ``get_args_parser`` -> ``main`` ->
``train_one_epoch`` / ``evaluate``; a checkpoint is one dict, resumed with ``--resume``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from xicam_gisaxs_cnn.cli.bundle_output import add_output_arguments, output_directory
from xicam_gisaxs_cnn.frames.fold import fold_qy
from xicam_gisaxs_cnn.models import ARCHITECTURES, build_model, load_bundle, resolve_bundle, save_bundle
from xicam_gisaxs_cnn.models.bundle import Bundle, MaxSoftmaxOod, NearestNeighbourOod
from xicam_gisaxs_cnn.preprocess import model_input_torch

from .calibration import fit_max_softmax_ood, fit_nearest_neighbour_ood, fit_temperature
from .datasets.echo import EchoedBatches
from .degradation import Degradation, MixtureRanges
from .json_records import read_json_object
from .realistic.outliers import OUTLIER_LABEL, outlier_exposure_loss
from .realistic.randomise import RandomisationRanges, Randomiser
from .simulation import SimulationConfig
from .sources import batches, make_sources
from .widen import widen_compact


def get_args_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``gisaxs-cnn train`` (also ``python -m xicam_gisaxs_cnn_trainer.train``)."""
    parser = parser or argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="compact", choices=sorted(ARCHITECTURES), help="architecture (default: compact)")
    parser.add_argument("--data", default="simulate",
                        help="simulate | simulate-scaled | shards:DIR | hipgisaxs:DIR (default: simulate)")
    parser.add_argument("--mapping", help="JSON file: glob pattern -> class name, for hipgisaxs:DIR")
    parser.add_argument("--sim-config", help="JSON file of SimulationConfig fields, for --data simulate")
    parser.add_argument("--degradation", default="mixture", help="clean | smear:S | gaussian:A | poisson:C | rescale:N | mixture (default)")
    parser.add_argument("--mixture", metavar="RANGES_JSON",
                        help="JSON file of MixtureRanges fields (probabilities and ranges), for --degradation mixture "
                             "(default: the built-in ranges)")
    parser.add_argument("--randomise", action="store_true",
                        help="domain randomisation: detector masks, background, Yoneda/specular, counts, small shifts")
    parser.add_argument("--randomise-ranges", metavar="RANGES_JSON",
                        help="JSON file of RandomisationRanges fields (probabilities and ranges, e.g. log10_counts), "
                             "for --randomise (default: the built-in ranges)")
    parser.add_argument("--fold", action="store_true",
                        help="with --randomise: fold every pattern about qy = 0 after its degradation, as the frame path "
                             "folds detector frames before the model sees them (xicam_gisaxs_cnn.frames.fold)")
    parser.add_argument("--outliers", type=float, default=0.0, metavar="FRACTION",
                        help="outlier exposure: add FRACTION x batch size films of no class (disordered, monolayer, "
                             "empty) to every training batch, their probabilities pushed to uniform; "
                             "--data simulate-scaled only (default: 0, none)")
    parser.add_argument("--outlier-weight", type=float, default=0.5,
                        help="weight of the outlier term in the loss (default: 0.5, as Hendrycks et al.)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--time-budget", type=float, metavar="MINUTES",
                        help="train for at most about this long: after each epoch (with --echo, each cycle of N epochs), "
                             "--epochs is cut to those that fit and the one-cycle schedule is refitted to them "
                             "(the bundle is written after)")
    parser.add_argument("--batches-per-epoch", type=int, default=100, help="for --data simulate")
    parser.add_argument("--echo", type=int, default=1, metavar="N",
                        help="data echoing: train N epochs on each epoch of simulated (or read) batches, mirrored, "
                             "randomised and degraded afresh each time (default: 1, every epoch new data)")
    parser.add_argument("--validation-batches", type=int, default=10, help="for --data simulate")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (AdamW, one-cycle)")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision: float16 on CUDA, bfloat16 on a CPU that runs it natively (AVX-512; ignored with a warning on others)")
    parser.add_argument("--channels-last", action="store_true",
                        help="weights and inputs in channels-last memory order: with --amp, VGG-16 and ResNet-50 "
                             "train about 2x faster on an AVX-512 CPU")
    parser.add_argument("--workers", type=int, default=0,
                        help="DataLoader worker processes; with 0, --data simulate runs on --device (the GPU)")
    parser.add_argument("--seed", type=int, default=0)
    add_output_arguments(parser)
    parser.add_argument("--checkpoint-dir", help="where per-epoch checkpoints go (default: BUNDLE.checkpoints beside the bundle)")
    parser.add_argument("--resume", help="checkpoint file to resume from (same --epochs: it continues one schedule)")
    parser.add_argument("--init", help="start from the weights of this bundle (name or path) with a fresh schedule: fine-tuning")
    parser.add_argument("--widen", type=int, metavar="WIDTH",
                        help="with --init of a compact bundle: first give it stem width WIDTH (blocks 2x, 4x; "
                             "the shipped default has 28, frames 32) by copying channels, outputs unchanged (Net2Net), then train")
    parser.add_argument("--no-mirror", action="store_true",
                        help="do not mirror half the training patterns about qy = 0 (on by default: mirroring keeps the class)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def init_distributed(device: str) -> tuple[int, int]:
    """Join the ``torchrun`` process group when launched by it; ``(rank, world_size)``."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1
    backend = "nccl" if device.startswith("cuda") else "gloo"
    torch.distributed.init_process_group(backend)
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    return torch.distributed.get_rank(), world_size


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU runs oneDNN's bfloat16 kernels (AVX-512 or newer); on an AVX2 CPU bfloat16 is emulated."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def mixed_precision(device: torch.device, requested: bool, *, native_bfloat16: bool) -> bool:
    """Whether ``--amp`` is honoured: always on CUDA; on the CPU only with native bfloat16.

    On a CPU without it, bfloat16 autocast trains the compact network 15x slower than float32
    (37 against 571 img/s on an AVX2 EPYC, benchmarks/results/training_formats_avx2.json), so the
    trainer warns and trains in float32.
    """
    if requested and device.type == "cpu" and not native_bfloat16:
        print("warning: --amp ignored: this CPU has no native bfloat16 (AVX-512), where bfloat16 trains several "
              "times slower than float32; training in float32", file=sys.stderr)
        return False
    return requested


def autocast(device: torch.device, enabled: bool):
    """The trainer's mixed precision (``--amp``): float16 on CUDA, bfloat16 on the CPU; a no-op unless ``enabled``."""
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


def mirrored(images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror a random half of a batch (N, 1, 125, 125) about qy = 0.

    The mirror image of a film about the scattering plane is a film of the same
    class turned to the opposite in-plane angle, so the label holds; the canonical
    qy axis is symmetric about its centre column.
    """
    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)[:, None, None, None]
    return torch.where(flip, images.flip(-1), images), torch.where(flip, masks.flip(-1), masks)


def folded(images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch (N, 1, 125, 125) folded about qy = 0 by :func:`xicam_gisaxs_cnn.frames.fold.fold_qy`, on its device."""
    image, mask = fold_qy(images[:, 0].cpu().numpy(), masks[:, 0].cpu().numpy())
    return (torch.from_numpy(image)[:, None].to(images.device, images.dtype),
            torch.from_numpy(mask)[:, None].to(masks.device))


def prepared_inputs(batch, degradation, randomiser, generator, *, mirror: bool = False, fold: bool = False) -> torch.Tensor:
    """Model input of a batch: mirroring (training), domain randomisation (if any), the degradation, folding
    about qy = 0 (if asked), normalisation."""
    images, masks = batch.images, batch.masks
    if mirror:
        images, masks = mirrored(images, masks, generator)
    if randomiser is not None:
        params = batch.params
        images, masks = randomiser(images, masks, generator, window_scale=params.get("window_scale"),
                                   energy_kev=params.get("energy_kev"), alpha_i_deg=params.get("alpha_i_deg"))
    images = degradation(images, generator)
    if fold:
        images, masks = folded(images, masks)
    return model_input_torch(images, masks)


def train_one_epoch(model, loader, optimizer, scheduler, degradation, *, device, epoch, amp, scaler, generator,
                    randomiser=None, mirror=True, fold=False, quiet=True, outlier_weight=0.5,
                    memory_format: torch.memory_format = torch.contiguous_format) -> dict:
    """One pass over ``loader``: mirror, randomise, degrade, fold, normalise, loss, step; returns loss and accuracy.

    The loss is the cross-entropy, plus ``outlier_weight`` x the outlier-exposure term on
    rows labelled ``OUTLIER_LABEL`` (films of no class); accuracy counts labelled rows only.
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for batch in tqdm(loader, desc=f"epoch {epoch}", disable=quiet, leave=False):
        batch = batch.to(device)
        inputs = prepared_inputs(batch, degradation, randomiser, generator, mirror=mirror, fold=fold).contiguous(memory_format=memory_format)
        with autocast(device, amp):
            logits = model(inputs)
            loss = outlier_exposure_loss(logits.float(), batch.labels, weight=outlier_weight)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        labelled = batch.labels != OUTLIER_LABEL
        total_loss += loss.item() * int(labelled.sum())
        correct += int((logits.argmax(1) == batch.labels)[labelled].sum())
        seen += int(labelled.sum())
    return {"train_loss": total_loss / max(seen, 1), "train_accuracy": correct / max(seen, 1)}


@torch.no_grad()
def evaluate(model, loader, degradation, *, device, generator, randomiser=None, fold: bool = False) -> dict:
    """Logits, embeddings and labels over a loader (model in eval mode), plus accuracy."""
    model.eval()
    logits, embeddings, labels = [], [], []
    for batch in loader:
        batch = batch.to(device)
        inputs = prepared_inputs(batch, degradation, randomiser, generator, fold=fold)
        embedding = model.embed(inputs)
        embeddings.append(embedding.float().cpu())
        logits.append(model.fc(embedding).float().cpu())
        labels.append(batch.labels.cpu())
    result = {"logits": torch.cat(logits), "embeddings": torch.cat(embeddings), "labels": torch.cat(labels)}
    result["accuracy"] = float((result["logits"].argmax(1) == result["labels"]).float().mean())
    return result


def fit_calibration(model, sources, degradation, *, device, seed: int, generator, randomiser, fold: bool,
                    outliers: float, workers: int) -> tuple[dict, float, MaxSoftmaxOod | NearestNeighbourOod]:
    """A trained model's validation result, temperature and OOD score, as its bundle records them.

    The temperature is fitted on the validation batches under ``degradation``; the OOD score is the
    tempered maximum softmax for a model trained with outlier exposure (``outliers`` > 0), else the
    nearest-neighbour distance to clean training embeddings.
    """
    validation = evaluate(model, batches(sources.validation), degradation, device=device,
                          generator=torch.Generator().manual_seed(seed + 7), randomiser=randomiser, fold=fold)
    temperature = fit_temperature(validation["logits"], validation["labels"])
    if outliers:  # trained to give films of no class uniform probabilities: score those
        return validation, temperature, fit_max_softmax_ood(validation["logits"], temperature)
    reference = evaluate(model, batches(sources.train, workers=workers), Degradation("clean"), device=device,
                         generator=generator, randomiser=randomiser, fold=fold)
    return validation, temperature, fit_nearest_neighbour_ood(reference["embeddings"], validation["embeddings"], seed=seed)


def recorded_arguments(args) -> dict:
    """The command-line arguments that can be written to JSON (no callables)."""
    return {key: value for key, value in vars(args).items() if isinstance(value, (str, int, float, bool, list, type(None)))}


def initial_model(args) -> tuple[torch.nn.Module, dict, dict | None]:
    """A fresh ``--arch`` model, or the weights of the ``--init`` bundle (whose architecture must be ``--arch``), widened by ``--widen``.

    Also returns the model's architecture keyword arguments and the provenance of the
    ``--init`` bundle (name, sha256, its training record), or None.
    """
    if args.widen is not None and not args.init:
        raise ValueError("--widen grows a trained model: give the bundle to start from with --init")
    if not args.init:
        return build_model(args.arch), {}, None
    bundle = load_bundle(resolve_bundle(args.init))
    manifest = bundle.manifest
    if manifest["architecture"] != args.arch:
        raise ValueError(f"--init {args.init} holds a {manifest['architecture']} model, but --arch is {args.arch}")
    model, kwargs = bundle.model, dict(manifest.get("architecture_kwargs", {}))
    if args.widen is not None:
        model = widen_compact(model, args.widen, generator=torch.Generator().manual_seed(args.seed))
        kwargs["width"] = args.widen
    return model.train(), kwargs, bundle_provenance(bundle)


def bundle_provenance(bundle: Bundle) -> dict:
    """Name, sha256 and training record of a bundle a model was made from (``training.init``, ``training.average``)."""
    manifest = bundle.manifest
    return {"name": manifest["name"], "sha256": manifest["sha256"], "training": manifest.get("training")}


def stream_record(sources, degradation: Degradation, randomiser: Randomiser | None, *, fold: bool) -> dict:
    """What a manifest's ``training`` records of the stream a model was trained (or calibrated) on."""
    return {"data": sources.description, "degradation": degradation.spec,
            **({"mixture": degradation.mixture.to_dict()} if degradation.kind == "mixture" else {}),
            "randomise": randomiser is not None,
            **({"randomisation": randomiser.ranges.to_dict()} if randomiser is not None else {}),
            "fold": fold}


def epochs_within_budget(planned: int, done: int, seconds: float, budget_s: float) -> int:
    """How many epochs in all fit ``budget_s`` seconds at the pace of the ``done`` epochs that took ``seconds``.

    The calibration pass after training (about one epoch of data) counts as one more epoch.
    Never fewer than ``done`` (or one), never more than ``planned``.
    """
    pace = seconds / max(done, 1)
    return int(min(planned, max(done, 1, math.floor(budget_s / pace) - 1)))


def echoed_epochs_within_budget(planned: int, done: int, seconds: float, budget_s: float, *, echoes: int) -> int:
    """:func:`epochs_within_budget` after whole cycles of ``echoes`` epochs (a fresh epoch is slower than its
    echoes, so the pace is known only then) or once the budget is spent; ``planned`` in between.

    With echoes, the epochs that fit are rounded down to whole cycles (never below ``done``), so the
    run does not end on a lone fresh epoch, which costs several echoed ones.
    """
    if done % echoes and seconds < budget_s:
        return planned
    fitting = epochs_within_budget(planned, done, seconds, budget_s)
    if fitting < planned:
        fitting = max(done, fitting - fitting % echoes)
    return fitting


def refitted_schedule(optimizer, scheduler, *, max_lr: float, total_steps: int):
    """A one-cycle schedule over ``total_steps`` that continues from the steps ``scheduler`` has taken."""
    total_steps = max(total_steps, scheduler.last_epoch + 1)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=0.15,
                                               last_epoch=scheduler.last_epoch - 1)


def simulation_config(path: str | None, *, simulating_on: torch.device, batch_size: int) -> SimulationConfig:
    """The ``--sim-config`` JSON's settings, else the defaults; on a GPU, whole batches in one simulator chunk.

    The default chunk (32 patterns) keeps CPU memory low but leaves a GPU mostly idle: with it
    one lent H200 trained at 590 patterns/s, an H100 with chunks of 256 at 1,600/s. The chunk
    changes no pattern.
    """
    if path:
        return SimulationConfig.from_dict(read_json_object(path, option="--sim-config"))
    config = SimulationConfig()
    if simulating_on.type == "cuda" and batch_size > config.chunk_size:
        return dataclasses.replace(config, chunk_size=batch_size)
    return config


def training_degradation(spec: str, mixture_path: str | None) -> Degradation:
    """The degradation ``spec``; for ``mixture``, with the ranges of the JSON file at ``mixture_path`` if given."""
    degradation = Degradation.parse(spec)
    if mixture_path is None:
        return degradation
    if degradation.kind != "mixture":
        raise ValueError(f"--mixture sets the ranges of --degradation mixture, not of {spec!r}")
    ranges = MixtureRanges.from_dict(read_json_object(mixture_path, option="--mixture"))
    return dataclasses.replace(degradation, mixture=ranges)


def training_randomiser(randomise: bool, ranges_path: str | None) -> Randomiser | None:
    """The domain randomisation of ``--randomise``, with the ranges of the JSON file at ``ranges_path`` if given."""
    if not randomise:
        if ranges_path is not None:
            raise ValueError("--randomise-ranges sets the ranges of --randomise; give --randomise too")
        return None
    if ranges_path is None:
        return Randomiser()
    return Randomiser(RandomisationRanges.from_dict(read_json_object(ranges_path, option="--randomise-ranges")))


def main(args) -> Path:
    """Train as ``args`` say; return the bundle directory (on rank 0)."""
    torch.manual_seed(args.seed)
    rank, world_size = init_distributed(args.device)
    device = torch.device(args.device if world_size == 1 or not args.device.startswith("cuda") else f"cuda:{os.environ['LOCAL_RANK']}")
    degradation = training_degradation(args.degradation, args.mixture)
    if args.fold and not args.randomise:
        raise ValueError("--fold folds randomised patterns as the frame path folds detector frames; it needs --randomise "
                         "(canonical images are never folded)")
    randomiser = training_randomiser(args.randomise, args.randomise_ranges)
    config = simulation_config(args.sim_config, simulating_on=device if args.workers == 0 else torch.device("cpu"),
                               batch_size=args.batch_size)
    sources = make_sources(
        args.data, batch_size=args.batch_size, batches_per_epoch=args.batches_per_epoch,
        validation_batches=args.validation_batches, seed=args.seed, config=config, mapping=args.mapping,
        device=str(device) if args.workers == 0 else "cpu", rank=rank, world_size=world_size, outliers=args.outliers,
    )
    output = output_directory(args)
    checkpoints = Path(args.checkpoint_dir) if args.checkpoint_dir else output.with_name(output.name + ".checkpoints")
    model, architecture_kwargs, initial = initial_model(args)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    training_model = torch.nn.parallel.DistributedDataParallel(model) if world_size > 1 else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(sources.train) / world_size)
    steps = args.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=max(steps, 1), pct_start=0.15)
    amp = mixed_precision(device, args.amp, native_bfloat16=cpu_has_native_bfloat16())
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    start_epoch, log = 0, []
    if args.resume:
        checkpoint = torch.load(args.resume, map_location=device, weights_only=False)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["lr_scheduler"])
        if scheduler.total_steps != max(steps, 1):
            raise ValueError(f"--resume continues a schedule of {checkpoint['args'].get('epochs')} epochs with the same data; "
                             f"got --epochs {args.epochs}. To train further with a new schedule, use --init BUNDLE")
        start_epoch, log = checkpoint["epoch"] + 1, checkpoint.get("log", [])
    if args.time_budget is not None and (args.resume or args.time_budget <= 0):
        raise ValueError("--time-budget must be a positive number of minutes, and cannot continue a --resume "
                         "(the resumed schedule is fixed)")
    epochs = args.epochs
    generator = torch.Generator().manual_seed(args.seed + rank)
    training_batches = EchoedBatches(sources.train, echoes=args.echo, seed=args.seed + rank,
                                     loader=lambda dataset: batches(dataset, workers=args.workers))
    started = time.perf_counter()
    epoch = start_epoch
    while epoch < epochs:
        metrics = train_one_epoch(training_model, training_batches.epoch(epoch), optimizer, scheduler,
                                  degradation, device=device, epoch=epoch, amp=amp, scaler=scaler,
                                  generator=generator, randomiser=randomiser, mirror=not args.no_mirror, fold=args.fold,
                                  quiet=args.quiet or rank != 0, outlier_weight=args.outlier_weight,
                                  memory_format=memory_format)
        validation = evaluate(model, batches(sources.validation), degradation, device=device,
                              generator=torch.Generator().manual_seed(args.seed + 7), randomiser=randomiser, fold=args.fold)
        metrics.update(epoch=epoch, validation_accuracy=validation["accuracy"], seconds=round(time.perf_counter() - started, 1))
        log.append(metrics)
        if rank == 0:
            print(json.dumps(metrics), flush=True)
            checkpoints.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "lr_scheduler": scheduler.state_dict(), "epoch": epoch, "args": recorded_arguments(args), "log": log},
                       checkpoints / "checkpoint.pt")
        epoch += 1
        if args.time_budget is not None:
            fitting = echoed_epochs_within_budget(epochs, epoch, time.perf_counter() - started, args.time_budget * 60,
                                                  echoes=args.echo)
            if world_size > 1:  # every rank keeps rank 0's count
                fitting = torch.tensor(fitting, device=device)
                torch.distributed.broadcast(fitting, 0)
                fitting = int(fitting)
            if fitting < epochs:
                epochs = fitting
                scheduler = refitted_schedule(optimizer, scheduler, max_lr=args.lr, total_steps=epochs * steps_per_epoch)
    if rank != 0:
        torch.distributed.destroy_process_group()
        return output
    validation, temperature, ood = fit_calibration(model, sources, degradation, device=device, seed=args.seed,
                                                   generator=generator, randomiser=randomiser, fold=args.fold,
                                                   outliers=args.outliers, workers=args.workers)
    save_bundle(
        model.cpu(), output, name=args.name or output.name, architecture=args.arch, architecture_kwargs=architecture_kwargs,
        temperature=temperature, ood=ood,
        training={**stream_record(sources, degradation, randomiser, fold=args.fold), "echoes": args.echo, "amp": amp,
                  **({"outlier_exposure": {"fraction": args.outliers, "weight": args.outlier_weight}} if args.outliers else {}),
                  "args": recorded_arguments(args), "log": log,
                  "world_size": world_size, "epochs_trained": epochs, "seconds": round(time.perf_counter() - started, 1), "init": initial},
        metrics={"validation_accuracy": validation["accuracy"], "temperature": temperature},
    )
    if world_size > 1:
        torch.distributed.destroy_process_group()
    return output


if __name__ == "__main__":
    print(main(get_args_parser().parse_args()))
    sys.exit(0)
