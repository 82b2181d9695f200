"""The numbers of Liu et al., MRS Communications 2019, for side-by-side reports (percent)."""

TABLE_II: dict[str, tuple[float, float]] = {
    # degradation spec: (training accuracy, prediction accuracy) of the paper's dedicated AlexNet
    "clean": (98.57, 98.12),
    "smear:0.5": (98.52, 98.12),
    "smear:1": (98.18, 97.48),
    "gaussian:0.1": (98.90, 98.09),
    "gaussian:0.2": (98.82, 97.30),
    "gaussian:0.5": (98.85, 94.20),
    "gaussian:1": (96.54, 88.27),
    "poisson:100000": (98.84, 98.01),
}
TABLE_III: dict[str, tuple[float, float]] = {
    "clean": (98.57, 98.12),
    "rescale:100": (98.57, 98.08),
    "rescale:75": (98.56, 98.08),
    "rescale:50": (98.40, 97.95),
    "rescale:25": (98.46, 97.71),
}
CROSS_NOISE: dict[str, float] = {
    # model trained clean, tested degraded
    "smear:1": 84.53,
    "gaussian:1": 62.37,
    "rescale:100": 97.37,
    "rescale:50": 94.63,
}
PCA_TWO_COMPONENT_EVR: float = 0.65
REAL_FRAMES_ACCURACY: float = 52.0
