"""Evaluation metrics, as the paper defines them where it defines them."""
from __future__ import annotations

import numpy as np

from xicam_gisaxs_cnn.classes import NUM_CLASSES


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of correct predictions."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape or predicted.size == 0:
        raise ValueError(f"predicted {predicted.shape} and labels {labels.shape} must be equal, non-empty shapes")
    return float(np.mean(predicted == labels))


def percent(fraction: float) -> float:
    """A fraction as a percentage rounded to 0.01, the precision every report prints."""
    return round(100.0 * float(fraction), 2)


def bin_members(values: np.ndarray, edges) -> list[np.ndarray]:
    """Boolean masks of ``values`` in each bin ``[edges[i], edges[i+1])``, the last bin closed; values outside in none."""
    values = np.asarray(values)
    return [(values >= low) & ((values < high) | ((high == edges[-1]) & (values <= high)))
            for low, high in zip(edges[:-1], edges[1:])]


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """The paper's M_ij: fraction of samples of true label j classified as i (each column sums to 1)."""
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (np.asarray(predicted), np.asarray(labels)), 1.0)
    totals = counts.sum(axis=0, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def recall_per_class(predicted: np.ndarray, labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Diagonal of the confusion matrix: fraction of each true class recognised."""
    return np.diag(confusion_matrix(predicted, labels, num_classes))


def explained_variance_ratio(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCA of embeddings: ``(projections (N, D), cumulative EVR (D,))`` with EVR_k = sum_{i<=k} s_i^2 / sum s_i^2."""
    centred = np.asarray(embeddings, dtype=np.float64) - np.mean(embeddings, axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    energy = singular**2
    return centred @ components.T, np.cumsum(energy) / energy.sum()


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Reliability diagram and expected calibration error (Guo et al. 2017), equal-width confidence bins."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    mean_confidence = np.bincount(which, confidence, bins) / np.maximum(counts, 1)
    mean_accuracy = np.bincount(which, correct.astype(float), bins) / np.maximum(counts, 1)
    ece = float(np.sum(counts / counts.sum() * np.abs(mean_accuracy - mean_confidence)))
    return {"ece": ece, "bin_edges": edges.tolist(), "counts": counts.tolist(),
            "confidence": mean_confidence.tolist(), "accuracy": mean_accuracy.tolist()}


def threshold_at_false_alarm(in_scores: np.ndarray, false_alarm: float = 0.05) -> float:
    """The score above which ``false_alarm`` of the in-distribution ``in_scores`` lie (their 1 - false_alarm quantile)."""
    return float(np.quantile(np.asarray(in_scores), 1.0 - false_alarm))


def detection_rate_at_false_alarm(in_scores: np.ndarray, out_scores: np.ndarray, false_alarm: float = 0.05) -> dict:
    """Fraction of out-of-distribution scores above the threshold that flags ``false_alarm`` of in-distribution ones."""
    in_scores, out_scores = np.asarray(in_scores), np.asarray(out_scores)
    threshold = threshold_at_false_alarm(in_scores, false_alarm)
    return {"threshold": threshold, "false_alarm": float(np.mean(in_scores > threshold)),
            "detection": float(np.mean(out_scores > threshold))}
