"""Int8 convolutions on the CPU: the compact network's strided blocks quantised, calibrated once per bundle.

The blocks after the compact network's stem (3 x 3 convolutions, each with its ReLU) run as
int8 convolutions with the ReLU fused, through PyTorch's ``x86`` quantised engine (which runs
them through oneDNN): weights per output channel (symmetric int8), activations per tensor (uint8
on 0-127, a range whose products cannot saturate the 16-bit sums of AVX2's int8 instructions).
The stem, which reads the model input, and the fully connected layers stay float32.
At 64 images per chunk the blocks ran 2.7x faster than in float32 and ``predict`` 1.2-1.4x
(docs/benchmarks.md, session 32).

The activations' ranges come from a calibration pass over model inputs (:func:`calibrate`,
run by ``gisaxs-cnn calibrate-int8``) and travel in the bundle's manifest (``int8``) with the
sha256 of the weights they were measured for; :func:`int8_network` builds the int8 copy from
them when the bundle is loaded.

PyTorch 2.13 (the version this package pins) marks its quantised tensors deprecated; where a
later PyTorch has none, :func:`available` is False and classifiers run float32.
"""
from __future__ import annotations

import importlib.util
import warnings
from typing import Any, Sequence

import torch
from torch import nn

from .architectures import EmbeddingClassifier
from .inference import copy_sharing_tensors

ENGINE: str = "x86"
"""PyTorch's quantised engine the calibration is made for (``torch.backends.quantized.engine``)."""

ACTIVATION_RANGE: tuple[int, int] = (0, 127)
"""Quantised values of an activation (uint8, half its range: no 16-bit saturation on AVX2)."""

AVX2_ENVIRONMENT: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2", "NUMBA_CPU_NAME": "haswell"}
"""Environment under which a new process runs as on an AVX2 CPU (no AVX-512, no VNNI): PyTorch,
oneDNN, FBGEMM, MKL and numba each limited by its own variable; for checks and benchmarks."""

_DEPRECATION = "torch.quantize_per_tensor, torch.quantize_per_channel and other quantized tensor creation functions"
"""The start of PyTorch 2.13's warning, once per process, that quantised tensors are deprecated."""


def available() -> bool:
    """Whether this process runs int8 convolutions on :data:`ENGINE` (x86 CPUs; not ARM, where torch uses qnnpack)."""
    return (importlib.util.find_spec("torch.ao.nn.intrinsic.quantized") is not None
            and torch.backends.quantized.engine == ENGINE)


def quantised_blocks(backbone: nn.Module) -> list[int]:
    """Indices of the ``Sequential(Conv2d, ReLU)`` blocks that follow the stem of an inference copy's backbone.

    The compact network has three (1, 2, 3); AlexNet, VGG-16 and ResNet-50 none.
    """
    if not isinstance(backbone, nn.Sequential):
        return []
    indices = []
    for index in range(1, len(backbone)):
        block = backbone[index]
        if not (isinstance(block, nn.Sequential) and len(block) == 2 and isinstance(block[0], nn.Conv2d)
                and isinstance(block[1], nn.ReLU)):
            break
        indices.append(index)
    return indices


def calibrate(network: EmbeddingClassifier, model_inputs: torch.Tensor, *, batch_size: int = 64) -> dict[str, Any]:
    """The activations' quantisation of ``network`` (an inference copy, float32) measured on ``model_inputs`` (N, 3, H, W).

    A histogram of each quantised tensor (the stem's output, then each block's) chooses the
    range that loses least (PyTorch's ``HistogramObserver``). Returns the manifest's ``int8``
    record less ``weights_sha256``: ``engine``, ``blocks`` and ``activations``, one
    ``[scale, zero_point]`` per tensor.
    """
    blocks = quantised_blocks(network.backbone)
    if not blocks:
        raise ValueError(f"{type(network).__name__} has no (Conv2d, ReLU) blocks after its stem; "
                         "int8 serves the compact architecture")
    if model_inputs.ndim != 4 or model_inputs.shape[0] == 0:
        raise ValueError(f"model_inputs must be a non-empty batch (N, C, H, W), got shape {tuple(model_inputs.shape)}")
    from torch.ao.quantization.observer import HistogramObserver

    low, high = ACTIVATION_RANGE
    observers = [HistogramObserver(dtype=torch.quint8, quant_min=low, quant_max=high) for _ in range(len(blocks) + 1)]
    backbone = network.backbone
    with torch.no_grad():
        for start in range(0, model_inputs.shape[0], batch_size):
            activations = backbone[:blocks[0]](model_inputs[start:start + batch_size])
            observers[0](activations)
            for observer, index in zip(observers[1:], blocks):
                activations = backbone[index](activations)
                observer(activations)
    activations = [[float(scale), int(zero_point)] for scale, zero_point in
                   (observer.calculate_qparams() for observer in observers)]
    return {"engine": ENGINE, "blocks": blocks, "activations": activations}


def check_record(record: Any, weights_sha256: str) -> None:
    """Raise ValueError naming what is wrong with a manifest's ``int8`` record for weights of ``weights_sha256``."""
    if not isinstance(record, dict):
        raise ValueError(f"int8 must be an object, got {record!r}")
    if record.get("weights_sha256") != weights_sha256:
        raise ValueError(f"int8 was calibrated for weights of sha256 {record.get('weights_sha256')!r}, "
                         f"not these ({weights_sha256}); run gisaxs-cnn calibrate-int8 again")
    if record.get("engine") != ENGINE:
        raise ValueError(f"int8 engine must be {ENGINE!r}, got {record.get('engine')!r}")
    blocks, activations = record.get("blocks"), record.get("activations")
    if not (isinstance(blocks, list) and blocks and all(isinstance(index, int) for index in blocks)):
        raise ValueError(f"int8 blocks must be a list of backbone indices, got {blocks!r}")
    if not (isinstance(activations, list) and len(activations) == len(blocks) + 1):
        raise ValueError(f"int8 activations must hold {len(blocks) + 1} [scale, zero_point] pairs, got {activations!r}")
    low, high = ACTIVATION_RANGE
    for pair in activations:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (int, float)) and pair[0] > 0
                and isinstance(pair[1], int) and low <= pair[1] <= high):
            raise ValueError(f"int8 activation {pair!r} is not [scale > 0, zero_point in {low}-{high}]")


def _int8_conv_relu(conv: nn.Conv2d, scale: float, zero_point: int) -> nn.Module:
    """``conv`` followed by ReLU as one int8 convolution whose output has ``scale`` and ``zero_point``."""
    from torch.ao.nn.intrinsic.quantized import ConvReLU2d
    from torch.ao.quantization.observer import default_per_channel_weight_observer

    weight = conv.weight.detach().float().contiguous()
    observer = default_per_channel_weight_observer()
    observer(weight)
    weight_scales, weight_zero_points = observer.calculate_qparams()
    layer = ConvReLU2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups, padding_mode=conv.padding_mode)
    quantised = torch.quantize_per_channel(weight, weight_scales.double(), weight_zero_points, 0, torch.qint8)
    layer.set_weight_bias(quantised, None if conv.bias is None else conv.bias.detach().float())
    layer.scale, layer.zero_point = float(scale), int(zero_point)
    return layer


class Int8Blocks(nn.Module):
    """Float32 in, the blocks run in int8, float32 out."""

    def __init__(self, blocks: Sequence[nn.Sequential], activations: Sequence[Sequence[float]]) -> None:
        super().__init__()
        (self.input_scale, self.input_zero_point), outputs = activations[0], activations[1:]
        with warnings.catch_warnings():  # said once per process, here rather than to the user at the first predict
            warnings.filterwarnings("ignore", message=_DEPRECATION, category=UserWarning)
            self.layers = nn.Sequential(*(_int8_conv_relu(block[0], scale, zero_point)
                                          for block, (scale, zero_point) in zip(blocks, outputs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        quantised = torch.quantize_per_tensor(x, self.input_scale, int(self.input_zero_point), torch.quint8)
        return self.layers(quantised).dequantize()


def int8_network(network: EmbeddingClassifier, record: dict[str, Any]) -> EmbeddingClassifier:
    """A copy of ``network`` (an inference copy) whose recorded blocks run in int8; it shares every other tensor."""
    blocks = record["blocks"]
    if quantised_blocks(network.backbone)[:len(blocks)] != blocks:
        raise ValueError(f"int8 blocks {blocks} are not (Conv2d, ReLU) blocks of this {type(network).__name__}")
    quantised = copy_sharing_tensors(network)
    layers = list(network.backbone)
    int8_blocks = Int8Blocks([layers[index] for index in blocks], record["activations"])
    quantised.backbone = nn.Sequential(*layers[:blocks[0]], int8_blocks, *layers[blocks[-1] + 1:])
    return quantised
