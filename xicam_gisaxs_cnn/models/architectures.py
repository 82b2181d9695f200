"""CNN architectures for the 3-channel 125 x 125 canonical input (see :mod:`xicam_gisaxs_cnn.preprocess`).

Every model reads ``features -> pool -> embedding -> fc``: ``embed(x)`` returns the
penultimate-layer activations (the paper's "last fully connected layer", used for
PCA and out-of-distribution scores) and ``forward(x)`` the class logits.
AlexNet, VGG-16 and ResNet-50 follow the torchvision definitions with the input
channels and classes adapted; no pretrained weights are downloaded.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..canonical import QY_RANGE_NM, QZ_RANGE_NM, IMAGE_SIZE
from ..classes import NUM_CLASSES
from ..preprocess import INPUT_CHANNELS as IN_CHANNELS


class EmbeddingClassifier(nn.Module):
    """Base: subclasses build ``self.backbone`` (input -> embedding vector) and ``self.fc``."""

    backbone: nn.Module
    fc: nn.Linear

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations, shape (N, embedding_size)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))


class AlexNet(EmbeddingClassifier):
    """The paper's AlexNet (torchvision layout) for 125 x 125 input."""

    def __init__(self, in_channels: int = IN_CHANNELS, num_classes: int = NUM_CLASSES, dropout: float = 0.5) -> None:
        super().__init__()
        features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.backbone = nn.Sequential(
            features, nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten(),
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(4096, num_classes)


VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16(EmbeddingClassifier):
    """VGG-16 with batch normalisation (torchvision ``vgg16_bn`` layout)."""

    def __init__(self, in_channels: int = IN_CHANNELS, num_classes: int = NUM_CLASSES, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in VGG16_LAYERS:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                channels = item
        self.backbone = nn.Sequential(
            nn.Sequential(*layers), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
        )
        self.fc = nn.Linear(4096, num_classes)


class Bottleneck(nn.Module):
    """ResNet bottleneck block: 1x1 -> 3x3 (stride) -> 1x1 with 4x expansion."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
        )
        self.shortcut = (
            nn.Identity() if stride == 1 and in_channels == out_channels
            else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.residual(x) + self.shortcut(x))


class ResNet50(EmbeddingClassifier):
    """ResNet-50 (torchvision layout: blocks 3-4-6-3, widths 64-512)."""

    def __init__(self, in_channels: int = IN_CHANNELS, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        channels = 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for index in range(blocks):
                stages.append(Bottleneck(channels, width, stride if index == 0 else 1))
                channels = width * Bottleneck.expansion
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(channels, num_classes)


class QCoordinates(nn.Module):
    """Append two constant channels holding each pixel's qy and qz (nm^-1) on the canonical grid.

    Bragg rods are identified by *where* they sit in q, so the compact network is
    given the coordinates explicitly (CoordConv) instead of inferring them from padding.
    """

    def __init__(self, size: int = IMAGE_SIZE) -> None:
        super().__init__()
        qz = torch.linspace(*QZ_RANGE_NM, size)
        qy = torch.linspace(*QY_RANGE_NM, size)
        grid_qz, grid_qy = torch.meshgrid(qz, qy, indexing="ij")
        self.register_buffer("coordinates", torch.stack([grid_qy, grid_qz - 1.0])[None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.coordinates.expand(x.shape[0], -1, -1, -1).to(x.dtype)], dim=1)


def _conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
    )


class CompactCNN(EmbeddingClassifier):
    """Our default: q-coordinate channels, a 4x4 patch stem, three strided conv blocks, one hidden layer.

    125 px -> 31 (stem) -> 16 -> 8 -> 4; at stem width 24 about 0.43 M parameters (1.7 MB) and 9 M
    multiply-adds per image, over 20x fewer than AlexNet (the shipped ``default``, width 28: 0.47 M, 11 M).
    """

    def __init__(self, in_channels: int = IN_CHANNELS, num_classes: int = NUM_CLASSES, width: int = 24,
                 embedding_size: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        widths = (width, 2 * width, 4 * width, 128)
        stem = nn.Sequential(
            nn.Conv2d(in_channels + 2, widths[0], kernel_size=4, stride=4, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
        )
        blocks = [_conv_block(previous, current, 2) for previous, current in zip(widths, widths[1:])]
        self.backbone = nn.Sequential(
            QCoordinates(), stem, *blocks, nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(), nn.Dropout(p=dropout),
            nn.Linear(widths[-1] * 16, embedding_size), nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(embedding_size, num_classes)


ARCHITECTURES: dict[str, Callable[..., EmbeddingClassifier]] = {
    "compact": CompactCNN,
    "alexnet": AlexNet,
    "vgg16": VGG16,
    "resnet50": ResNet50,
}


def build_model(architecture: str, **kwargs) -> EmbeddingClassifier:
    """A freshly initialised model by name: ``compact``, ``alexnet``, ``vgg16`` or ``resnet50``."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**kwargs)
