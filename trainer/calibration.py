"""After training: temperature scaling of the logits and the embedding statistics for OOD scores."""
from __future__ import annotations

import torch

from xicam_gisaxs_cnn.classes import NUM_CLASSES
from xicam_gisaxs_cnn.models import OodStatistics

OOD_FALSE_ALARM_RATE: float = 0.05
"""Fraction of in-distribution validation frames flagged out-of-distribution by the threshold."""


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature T minimising the validation negative log-likelihood of softmax(logits / T) (Guo et al. 2017)."""
    log_temperature = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_temperature.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_temperature.detach().exp().clamp(0.05, 20.0))


def fit_ood_statistics(
    train_embeddings: torch.Tensor,
    train_labels: torch.Tensor,
    validation_embeddings: torch.Tensor,
    *,
    shrinkage: float = 1e-3,
) -> OodStatistics:
    """Class means and shared precision of the training embeddings (Lee et al. 2018).

    The threshold is the (1 - 5%) quantile of the validation scores, so 5% of
    in-distribution frames are false alarms.
    """
    embeddings = train_embeddings.double()
    means = torch.stack([
        embeddings[train_labels == index].mean(dim=0) if bool((train_labels == index).any())
        else embeddings.mean(dim=0)
        for index in range(NUM_CLASSES)
    ])
    centred = embeddings - means[train_labels]
    covariance = centred.T @ centred / max(1, embeddings.shape[0] - 1)
    covariance += shrinkage * covariance.diagonal().mean().clamp_min(1e-12) * torch.eye(covariance.shape[0], dtype=covariance.dtype)
    statistics = OodStatistics(means.float(), torch.linalg.inv(covariance).float(), threshold=0.0)
    scores = statistics.score(validation_embeddings.float())
    statistics.threshold = float(torch.quantile(scores, 1.0 - OOD_FALSE_ALARM_RATE))
    return statistics
