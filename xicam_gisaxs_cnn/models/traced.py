"""An inference network's embedding and logits as one TorchScript trace: the same numbers, less Python per call.

``Classifier.predict`` runs the trace. A trace calls the network's operations from C++, with
none of the Python of its modules (``nn.Module.__call__``, each layer's ``forward``). At batch
1 that Python costs nearly as much as the compact network's arithmetic: the int8 default ran in
242-288 against 432-473 us (medians, 4 alternating rounds) and ``predict`` 1.17x faster, with
the same outputs to the bit (docs/benchmarks.md, session 34).

``torch.jit.trace`` is deprecated in PyTorch 2.x in favour of ``torch.export``. Export cannot
yet take the int8 convolutions' packed weights (PyTorch 2.13), which TorchScript was made for.
Where a later PyTorch has no ``torch.jit.trace``, :func:`traced` returns the module itself, untraced.
"""
from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch import nn

from ..preprocess import PREPROCESSING
from .architectures import EmbeddingClassifier

EmbeddingAndLogits = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""Model input (N, C, H, W) -> (embeddings (N, D), class logits (N, 7))."""


class _EmbeddingAndLogits(nn.Module):
    """``network``'s penultimate-layer activations and its logits from them, in one call."""

    def __init__(self, network: EmbeddingClassifier) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.network.embed(x)
        return embedding, self.network.fc(embedding)


def traced(network: EmbeddingClassifier) -> EmbeddingAndLogits:
    """``network`` (an inference copy) as one function of model input: a trace sharing its tensors.

    The trace is taken on one blank image of the model-input contract; the networks have no
    branch on their input's values or batch size, so it holds for any batch. A network in
    training mode (a model ``predict`` runs as it is, on a GPU) is returned untraced.
    """
    module = _EmbeddingAndLogits(network)
    trace = getattr(torch.jit, "trace", None)
    if trace is None or network.training:  # a trace would fix dropout and batch norms in training mode
        return module
    device = next(network.parameters()).device
    example = torch.zeros((1, *PREPROCESSING["input_shape"]), device=device)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace(_method)?` is deprecated",
                                category=DeprecationWarning)
        return trace(module, example, check_trace=False)
