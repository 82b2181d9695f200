"""After training: temperature scaling of the logits and the embedding statistics for OOD scores."""
from __future__ import annotations

import torch

from xicam_gisaxs_cnn.models import MaxSoftmaxOod, NearestNeighbourOod

from .evaluation.metrics import threshold_at_false_alarm

OOD_FALSE_ALARM_RATE: float = 0.05
"""Fraction of in-distribution validation frames flagged out-of-distribution by the threshold."""

NEAREST_NEIGHBOUR_K: int = 2
"""The OOD score is the cosine distance to the k-th nearest training embedding. Measured on the
shipped default (2026-11-25): with 700 references, detection at 5% false alarms of disordered,
empty, noise and ring patterns was 27/44/41/50% at k = 2, 27/36/33/47% at k = 6, 10/17/13/23% at
k = 21, against 0/0/0/4% for the Mahalanobis distance to the class means."""

MAX_OOD_REFERENCES: int = 2000
"""Clean training embeddings kept in a bundle for the OOD score (2000 x 128 float32: 1 MB)."""


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature T minimising the validation negative log-likelihood of softmax(logits / T) (Guo et al. 2017).

    Where every validation sample is classified right, that likelihood only grows as T falls
    to 0: it holds no information on calibration, and T is left at 1 (the logits as trained).
    """
    if bool((logits.argmax(1) == labels).all()):
        return 1.0
    log_temperature = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_temperature.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_temperature.detach().exp().clamp(0.05, 20.0))


def fit_nearest_neighbour_ood(
    reference_embeddings: torch.Tensor,
    validation_embeddings: torch.Tensor,
    *,
    k: int = NEAREST_NEIGHBOUR_K,
    max_references: int = MAX_OOD_REFERENCES,
    seed: int = 0,
) -> NearestNeighbourOod:
    """Deep nearest-neighbour OOD score from clean training embeddings (Sun et al. 2022).

    At most ``max_references`` of ``reference_embeddings`` (N, D), drawn at random with
    ``seed``, are kept, unit-normalised; the threshold is the (1 - 5%) quantile of the
    validation scores, so 5% of in-distribution frames are false alarms.
    """
    if not 1 <= k <= min(max_references, reference_embeddings.shape[0]):
        raise ValueError(f"k must be in 1..{min(max_references, reference_embeddings.shape[0])}, got {k}")
    chosen = torch.randperm(reference_embeddings.shape[0], generator=torch.Generator().manual_seed(seed))[:max_references]
    references = torch.nn.functional.normalize(reference_embeddings[chosen].float(), dim=1)
    ood = NearestNeighbourOod(references, int(k), threshold=0.0)
    ood.threshold = threshold_at_false_alarm(ood.score(validation_embeddings).numpy(), OOD_FALSE_ALARM_RATE)
    return ood


def fit_max_softmax_ood(validation_logits: torch.Tensor, temperature: float) -> MaxSoftmaxOod:
    """Maximum-softmax OOD score whose threshold flags 5% of the validation patterns.

    For models trained with outlier exposure: their probabilities, at the calibrated
    ``temperature``, are near uniform on films of no class.
    """
    probabilities = torch.softmax(validation_logits.float() / temperature, dim=1)
    ood = MaxSoftmaxOod(threshold=0.0)
    ood.threshold = threshold_at_false_alarm(ood.score(probabilities).numpy(), OOD_FALSE_ALARM_RATE)
    return ood
