"""Widen a trained compact network without changing what it computes (Net2WiderNet).

Chen, Goodfellow and Shlens, "Net2Net: accelerating learning via knowledge transfer"
(ICLR 2016): a layer gets more channels by copying existing ones (convolution
filters and batch-norm statistics alike); the next layer's weights from each copied
channel are split among its copies, so every output is the same. The split here is
uneven (random positive shares that sum to one), which keeps the function and lets
the copies drift apart under training, without the noise of the paper's recipe.

Used by ``gisaxs-cnn train --init BUNDLE --widen WIDTH`` to give a trained model more
capacity and train on from there instead of from nothing.
"""
from __future__ import annotations

import torch
from torch import nn

from xicam_gisaxs_cnn.models.architectures import CompactCNN


def widen_compact(model: CompactCNN, width: int, *, generator: torch.Generator | None = None) -> CompactCNN:
    """A copy of ``model`` with stem width ``width`` (blocks ``2 width``, ``4 width``) and the same outputs.

    The last block (128 channels), the embedding and the classifier keep their sizes.
    Raises ValueError for a model that is not a :class:`CompactCNN` or a width not above its own.
    """
    if not isinstance(model, CompactCNN):
        raise ValueError(f"--widen grows the compact architecture only, not {type(model).__name__}")
    stages = _conv_stages(model)
    stem = stages[0][0]
    if width <= stem.out_channels:
        raise ValueError(f"--widen {width} must exceed the model's width {stem.out_channels}; widening only adds channels")
    coordinate_channels = model.backbone[0].coordinates.shape[1]  # the constant q channels the stem also reads
    wide = CompactCNN(in_channels=stem.in_channels - coordinate_channels, num_classes=model.fc.out_features, width=width,
                      embedding_size=model.fc.in_features, dropout=_dropout(model))
    generator = generator or torch.Generator().manual_seed(0)
    incoming = torch.arange(stem.in_channels)  # the stem's inputs are not widened
    shares = torch.ones(stem.in_channels)
    for (conv, batch_norm), (wide_conv, wide_batch_norm) in zip(stages, _conv_stages(wide)):
        outgoing = _channel_map(conv.out_channels, wide_conv.out_channels, generator)
        with torch.no_grad():
            wide_conv.weight.copy_(conv.weight[outgoing][:, incoming] * shares[None, :, None, None])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(wide_batch_norm, name).copy_(getattr(batch_norm, name)[outgoing])
            wide_batch_norm.num_batches_tracked.copy_(batch_norm.num_batches_tracked)
        incoming, shares = outgoing, _uneven_shares(outgoing, generator)
    with torch.no_grad():
        for old_layer, wide_layer in zip(_dense_layers(model), _dense_layers(wide)):
            wide_layer.weight.copy_(old_layer.weight)
            wide_layer.bias.copy_(old_layer.bias)
    return wide.train(model.training)


def _conv_stages(model: CompactCNN) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """(convolution, batch norm) of the stem and of each block, input to output."""
    return [(module[0], module[1]) for module in model.backbone
            if isinstance(module, nn.Sequential) and isinstance(module[0], nn.Conv2d)]


def _dense_layers(model: CompactCNN) -> list[nn.Linear]:
    return [module for module in model.backbone if isinstance(module, nn.Linear)] + [model.fc]


def _dropout(model: CompactCNN) -> float:
    return next(module.p for module in model.backbone if isinstance(module, nn.Dropout))


def _channel_map(old: int, new: int, generator: torch.Generator) -> torch.Tensor:
    """Source channel of each of ``new`` channels: all ``old`` ones, then random copies."""
    if new == old:
        return torch.arange(old)
    return torch.cat([torch.arange(old), torch.randint(old, (new - old,), generator=generator)])


def _uneven_shares(mapping: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random positive weights, one per new channel, summing to one over the copies of each source channel."""
    draws = 0.5 + torch.rand(mapping.numel(), generator=generator)
    totals = torch.zeros(int(mapping.max()) + 1).index_add_(0, mapping, draws)
    return draws / totals[mapping]
