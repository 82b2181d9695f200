"""An inference copy of a trained network: the same outputs (to float32 rounding), less work per image.

Three exact rewrites, made once when a bundle is loaded:

- every ``Conv2d`` followed by a ``BatchNorm2d`` becomes one ``Conv2d`` with a bias
  (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`, the batch norm's running statistics);
- the compact network's two constant q-coordinate channels enter only its first
  convolution, which is linear, so their share is a fixed bias map computed once
  (:class:`CoordinateBiasedConv`) and the channels are never built per image;
- an ``AdaptiveAvgPool2d`` whose input, for the model-input contract
  (:data:`~xicam_gisaxs_cnn.preprocess.PREPROCESSING` ``input_shape``), already has its
  output size averages nothing and is dropped (the compact network's 4 x 4 pool).

On the CPU, the copy's convolution weights are also laid out channels-last, oneDNN's own
layout: the same numbers, AlexNet's ``predict`` 1.19x faster at batch 64. Convolutions that
read the model input (at most :data:`~xicam_gisaxs_cnn.preprocess.INPUT_CHANNELS` channels,
which preprocessing writes channel by channel) keep the standard layout: channels-last made
the compact network's 4 x 4 patch stem 2-3x slower at batch 64 and 256 (docs/benchmarks.md).

The trained module stays as it is for gradients (saliency) and further training; the
copy shares every tensor the rewrites leave alone (fully connected layers; on a GPU, also
convolutions without batch norm), so it costs little memory, and :func:`weights_state`
tells when the trained module's weights have changed and the copy must be made again.
"""
from __future__ import annotations

import copy
import itertools

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..preprocess import INPUT_CHANNELS, PREPROCESSING
from .architectures import EmbeddingClassifier, QCoordinates


class CoordinateBiasedConv(nn.Module):
    """``conv(cat[x, coordinates])`` computed as ``conv_x(x) + bias_map``, the coordinates' part precomputed."""

    def __init__(self, conv: nn.Conv2d, coordinates: torch.Tensor) -> None:
        super().__init__()
        if conv.groups != 1 or conv.padding_mode != "zeros":
            raise ValueError("only an ungrouped, zero-padded convolution can absorb constant input channels")
        constant_channels = coordinates.shape[1]
        weight = conv.weight.detach()
        self.conv = nn.Conv2d(conv.in_channels - constant_channels, conv.out_channels, conv.kernel_size,
                              stride=conv.stride, padding=conv.padding, dilation=conv.dilation, bias=False)
        self.conv.weight = nn.Parameter(weight[:, :-constant_channels].clone(), requires_grad=False)
        bias_map = nn.functional.conv2d(coordinates, weight[:, -constant_channels:], conv.bias, stride=conv.stride,
                                        padding=conv.padding, dilation=conv.dilation)
        self.register_buffer("bias_map", bias_map.detach(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).add_(self.bias_map)


def _fold_batch_norms(module: nn.Module) -> nn.Module:
    """``module`` with every Conv2d -> BatchNorm2d pair of a Sequential fused into one Conv2d (in place)."""
    if isinstance(module, nn.Sequential):
        folded: list[nn.Module] = []
        for layer in (_fold_batch_norms(child) for child in module):
            if isinstance(layer, nn.BatchNorm2d) and folded and isinstance(folded[-1], nn.Conv2d):
                folded[-1] = fuse_conv_bn_eval(folded[-1], layer)
            else:
                folded.append(layer)
        return nn.Sequential(*folded)
    for name, child in module.named_children():
        setattr(module, name, _fold_batch_norms(child))
    return module


def _fold_q_coordinates(backbone: nn.Sequential) -> nn.Sequential:
    """Replace ``QCoordinates -> Sequential(Conv2d, ...)`` at the head of ``backbone`` by a biased convolution."""
    coordinates_layer, stem, *rest = backbone
    if not (isinstance(stem, nn.Sequential) and isinstance(stem[0], nn.Conv2d)):
        raise ValueError(f"q coordinates must feed a Sequential that starts with a Conv2d, got {type(stem).__name__}")
    stem_layers = list(stem)
    stem_layers[0] = CoordinateBiasedConv(stem_layers[0], coordinates_layer.coordinates)
    return nn.Sequential(nn.Sequential(*stem_layers), *rest)


def _keeps_size(pool: nn.AdaptiveAvgPool2d, size: tuple[int, int]) -> bool:
    """Whether ``pool`` maps an input of ``size`` (H, W) to the same size (None in its output size keeps that side)."""
    wanted = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size, pool.output_size)
    return all(side is None or side == given for side, given in zip(wanted, size))


def _identity_pools(network: nn.Module) -> set[nn.AdaptiveAvgPool2d]:
    """The adaptive pools of ``network`` (eval mode) whose input from one model input already has their output size."""
    sizes: dict[nn.AdaptiveAvgPool2d, tuple[int, int]] = {}
    pools = [layer for layer in network.modules() if isinstance(layer, nn.AdaptiveAvgPool2d)]
    hooks = [pool.register_forward_hook(lambda pool, inputs, _: sizes.__setitem__(pool, tuple(inputs[0].shape[-2:])))
             for pool in pools]
    try:
        device = next(itertools.chain(network.parameters(), network.buffers())).device
        with torch.no_grad():
            network(torch.zeros((1, *PREPROCESSING["input_shape"]), device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return {pool for pool in pools if pool in sizes and _keeps_size(pool, sizes[pool])}


def _drop_pools(module: nn.Module, pools: set[nn.AdaptiveAvgPool2d]) -> nn.Module:
    """``module`` with each of ``pools`` replaced by ``nn.Identity`` (in place)."""
    if module in pools:
        return nn.Identity()
    for name, child in module.named_children():
        setattr(module, name, _drop_pools(child, pools))
    return module


def _lay_out_channels_last(module: nn.Module) -> nn.Module:
    """``module`` with each Conv2d weight past the input replaced by a channels-last copy (in place).

    Convolutions of at most INPUT_CHANNELS input channels keep their weights; the old tensors are untouched.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d) and layer.in_channels > INPUT_CHANNELS:
            layer.weight = nn.Parameter(layer.weight.detach().contiguous(memory_format=torch.channels_last),
                                        requires_grad=False)
    return module


def copy_sharing_tensors(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose layers are new objects and whose parameters and buffers are ``module``'s own."""
    shared = {id(tensor): tensor for tensor in itertools.chain(module.parameters(), module.buffers())}
    return copy.deepcopy(module, memo=shared)


def inference_network(model: EmbeddingClassifier) -> EmbeddingClassifier:
    """A rewritten copy of ``model`` in eval mode for inference; ``model`` itself (mode untouched) if nothing changes.

    The copy shares the tensors of every layer the rewrites leave alone with ``model``.
    """
    has_batch_norm = any(isinstance(layer, nn.BatchNorm2d) for layer in model.modules())
    has_coordinates = isinstance(model.backbone, nn.Sequential) and isinstance(model.backbone[0], QCoordinates)
    on_cpu = next(itertools.chain(model.parameters(), model.buffers())).device.type == "cpu"
    has_convolutions = any(isinstance(layer, nn.Conv2d) for layer in model.modules())
    network = copy_sharing_tensors(model).eval()
    network.backbone = _fold_batch_norms(network.backbone)
    if has_coordinates:
        network.backbone = _fold_q_coordinates(network.backbone)
    identity_pools = _identity_pools(network)
    if not (has_batch_norm or has_coordinates or identity_pools or (on_cpu and has_convolutions)):
        return model
    network = _drop_pools(network, identity_pools)
    return _lay_out_channels_last(network) if on_cpu else network


def weights_state(model: nn.Module) -> tuple:
    """Where ``model``'s parameters and buffers live and how often each was changed in place.

    Equal states mean an inference copy made from the first is still the model's:
    an optimiser step or ``load_state_dict`` bumps a tensor's version, ``.to()`` moves it.
    """
    return tuple((tensor.data_ptr(), tensor.device, _version(tensor)) for tensor in _tensors(model) if tensor is not None)


def _tensors(module: nn.Module):
    """Every parameter and buffer slot of ``module`` and its children, walked over their dicts.

    ``Module.parameters()`` and ``buffers()`` give the same tensors (shared ones once) but
    cost 5x more (0.22 against 0.04 ms for the default): this check runs on every ``predict``.
    """
    yield from module._parameters.values()
    yield from module._buffers.values()
    for child in module._modules.values():
        if child is not None:
            yield from _tensors(child)


def _version(tensor: torch.Tensor) -> int:
    """The in-place change counter of ``tensor``; inference tensors keep none (they count as 0)."""
    return 0 if tensor.is_inference() else tensor._version
