"""The classifier users call: canonical images in, labels, probabilities, OOD scores out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..canonical import IMAGE_SIZE
from ..classes import CLASS_NAMES
from ..preprocess import MASK_CHANNEL, model_input_torch
from .architectures import EmbeddingClassifier
from .bundle import SCORES_PROBABILITIES, Bundle, check_ensemble_temperature
from .inference import inference_network, weights_state
from .int8 import available as int8_available, int8_network
from .test_time import NO_SMEAR_PX, SmearView, check_smear_views, views
from .traced import EmbeddingAndLogits, traced

CPU_CHUNK_SIZE: int = 64
"""Images preprocessed and classified together on the CPU. A chunk's arrays (about 12 MB)
stay in the cache: 64 ran faster than 16, 32 or 128 at batch 256 (docs/benchmarks.md)."""

ACCELERATOR_CHUNK_SIZE: int = 256
"""Images preprocessed and classified together on a GPU."""

PRECISIONS: tuple[str, ...] = ("float32", "int8")
"""What ``Classifier.precision`` may be: int8 runs the compact network's blocks as int8 convolutions (:mod:`.int8`)."""


def check_precision(precision: Any) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else ValueError naming them."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


@dataclass(frozen=True)
class Prediction:
    """Results for N images (N = 1 for a single image).

    Attributes
    ----------
    labels : list of str
        Predicted class names.
    class_indices : (N,) int array
    probabilities : (N, 7) float array
        Calibrated (temperature-scaled) class probabilities, rows sum to 1.
    ood_scores : (N,) float array
        Out-of-distribution score, higher = less like any training class; NaN if
        the bundle carries no OOD statistics.
    ood_flags : (N,) bool array
        ``ood_scores`` above the bundle's threshold (5% false alarms in distribution).
    embeddings : (N, D) float array
        Penultimate-layer activations (their mean over the test-time views, if several).
    """

    labels: list[str]
    class_indices: np.ndarray
    probabilities: np.ndarray
    ood_scores: np.ndarray
    ood_flags: np.ndarray
    embeddings: np.ndarray

    def _single(self, values: Any) -> Any:
        if len(self.labels) != 1:
            raise ValueError(f"this prediction holds {len(self.labels)} images; index the arrays instead")
        return values[0]

    @property
    def label(self) -> str:
        """The label of a single-image prediction."""
        return self._single(self.labels)

    @property
    def probability(self) -> np.ndarray:
        """Class probabilities (7,) of a single-image prediction."""
        return self._single(self.probabilities)

    @property
    def ood_score(self) -> float:
        """OOD score of a single-image prediction."""
        return float(self._single(self.ood_scores))


def _native_copy(array: np.ndarray) -> np.ndarray:
    """A copy of ``array`` in the machine's byte order (torch takes no other)."""
    return np.array(array, dtype=array.dtype.newbyteorder("="))


def _tensor_of(values: Any, name: str) -> torch.Tensor:
    """``values`` as a tensor: the array's own memory where torch can share it (writeable, native byte
    order, no negative stride), else a copy; an array repeated along N (zero stride) stays unrepeated.
    Classification only reads it."""
    if isinstance(values, torch.Tensor):
        return values
    array = np.asarray(values)
    if array.dtype.kind not in "biufc":
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    if array.ndim == 3 and array.strides[0] == 0:  # e.g. np.broadcast_to(mask, shape)
        return torch.from_numpy(_native_copy(array[:1])).expand(array.shape)
    if array.flags.writeable and array.dtype.isnative and min(array.strides, default=0) >= 0:
        return torch.from_numpy(array)
    return torch.from_numpy(_native_copy(array))


def _as_batch(values: Any, name: str, dtype: torch.dtype) -> torch.Tensor:
    """``values`` as a (N, 1, H, W) tensor of ``dtype``."""
    tensor = _tensor_of(values, name)
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tensor.ndim == 4 and tensor.shape[1] == 1:
        tensor = tensor[:, 0]
    if tensor.ndim != 3 or tuple(tensor.shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(
            f"{name} must be one canonical {IMAGE_SIZE}x{IMAGE_SIZE} image or a batch (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
            f"got shape {tuple(tensor.shape)}; resample detector frames with xicam_gisaxs_cnn.frames first"
        )
    if tensor.dtype.is_complex:
        raise ValueError(f"{name} must be real, got {tensor.dtype}")
    return tensor.to(dtype)[:, None]


def _mean(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The element-wise mean of equally shaped tensors; the tensor itself when there is one."""
    return tensors[0] if len(tensors) == 1 else torch.stack(tensors).mean(dim=0)


class Classifier:
    """A loaded weight bundle, ready to classify canonical images.

    Use :func:`xicam_gisaxs_cnn.models.load_model` to make one. ``model`` is the trained
    network (for gradients and further training); ``predict`` runs ``network``, its
    inference copy with batch norms and constant channels folded in
    (:mod:`xicam_gisaxs_cnn.models.inference`), made again whenever ``model``'s weights
    have changed. ``test_time_smear_px`` (from the manifest; settable) names the smeared views
    whose class probabilities ``predict`` averages (:mod:`xicam_gisaxs_cnn.models.test_time`).
    ``precision`` (settable) is ``"int8"`` on the CPU for a bundle that carries an int8
    calibration (:mod:`xicam_gisaxs_cnn.models.int8`), else ``"float32"``.
    """

    def __init__(self, bundle: Bundle, device: str | torch.device = "cpu") -> None:
        self.bundle = bundle
        self.device = torch.device(device)
        self.model = bundle.model.to(self.device).eval()
        self.temperature = float(bundle.manifest.get("temperature", 1.0))
        self.test_time_smear_px = bundle.manifest.get("test_time_smear_px", NO_SMEAR_PX)
        self.ensemble_temperature = bundle.manifest.get("ensemble_temperature", 1.0)
        self._bundle_state = weights_state(self.model)
        self._network, self._forward, self._network_key = None, None, None
        self._precision = "int8" if self.int8_problem() is None else "float32"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled and copied without the inference copy and its trace (made again when first needed; a trace
        cannot be pickled); a copy of an unchanged model keeps ``precision`` int8, its tensors' new addresses aside."""
        state = {**self.__dict__, "_network": None, "_forward": None, "_network_key": None}
        state["_bundle_state"] = weights_state(self.model) == self._bundle_state
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bundle_state = weights_state(self.model) if state["_bundle_state"] else ()

    @property
    def test_time_smear_px(self) -> tuple[SmearView, ...]:
        """The views ``predict`` averages over: Gaussian widths, px, or (qy_px, qz_px); (0.0,) = each image alone."""
        return self._test_time_smear_px

    @test_time_smear_px.setter
    def test_time_smear_px(self, smear_views: Any) -> None:
        self._test_time_smear_px = check_smear_views(smear_views)

    @property
    def ensemble_temperature(self) -> float:
        """T of detector frames' ``"ensemble"`` probabilities, p^(1/T) renormalised (:func:`~xicam_gisaxs_cnn.frames.scale.tempered`)."""
        return self._ensemble_temperature

    @ensemble_temperature.setter
    def ensemble_temperature(self, temperature: Any) -> None:
        self._ensemble_temperature = check_ensemble_temperature(temperature)

    def int8_problem(self) -> str | None:
        """Why this classifier cannot run in int8 (None when it can)."""
        if "int8" not in self.bundle.manifest:
            return f"bundle {self.name!r} carries no int8 calibration (gisaxs-cnn calibrate-int8 makes one)"
        if self.device.type != "cpu":
            return f"int8 runs on the CPU only, not on {self.device}"
        if not int8_available():
            return (f"this PyTorch runs no int8 convolutions on its quantised engine {torch.backends.quantized.engine!r} "
                    "(the calibration's is 'x86')")
        return None

    @property
    def precision(self) -> str:
        """``"int8"`` or ``"float32"``: how ``predict`` runs the network's convolutions.

        int8 applies while ``model`` holds the bundle's weights; once they change (further
        training), ``predict`` runs, and this reads, float32: the calibration was made for the bundle's.
        """
        return "int8" if self._precision == "int8" and weights_state(self.model) == self._bundle_state else "float32"

    @precision.setter
    def precision(self, precision: str) -> None:
        problem = self.int8_problem() if check_precision(precision) == "int8" else None
        if problem:
            raise ValueError(f"precision int8: {problem}")
        self._precision = precision

    @property
    def network(self) -> EmbeddingClassifier:
        """The inference copy of ``model`` (``model`` itself when nothing folds), up to date with its weights;
        with ``precision`` int8, its blocks quantised."""
        return self._inference()[0]

    def _inference(self) -> tuple[EmbeddingClassifier, EmbeddingAndLogits]:
        """``network`` and its trace (:mod:`.traced`), both made again when ``model``'s weights or
        ``precision`` change."""
        state = weights_state(self.model)
        key = (state, self._precision == "int8" and state == self._bundle_state)
        if self._network is None or key != self._network_key:
            network = inference_network(self.model)
            network = int8_network(network, self.manifest["int8"]) if key[1] else network
            self._network, self._forward, self._network_key = network, traced(network), key
        return self._network, self._forward

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def sha256(self) -> str:
        return self.bundle.sha256

    @property
    def manifest(self) -> dict[str, Any]:
        return self.bundle.manifest

    @property
    def ood_threshold(self) -> float:
        """OOD scores above this are flagged (5% false alarms in distribution); NaN without OOD statistics."""
        return float("nan") if self.bundle.ood is None else float(self.bundle.ood.threshold)

    def _batches(self, images: Any, masks: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch = _as_batch(images, "images", torch.float32)
        mask_batch = None if masks is None else _as_batch(masks, "masks", torch.bool)
        if mask_batch is not None and mask_batch.shape != batch.shape:
            raise ValueError(f"masks shape {tuple(mask_batch.shape)} does not match images {tuple(batch.shape)}")
        return batch, mask_batch

    def _inputs(self, images: Any, masks: Any) -> torch.Tensor:
        batch, mask_batch = self._batches(images, masks)
        return model_input_torch(batch, mask_batch).to(self.device)

    @torch.inference_mode()
    def predict(self, images: Any, masks: Any = None, *, batch_size: int | None = None) -> Prediction:
        """Classify one canonical image (125, 125) or a batch (N, 125, 125) of intensities.

        ``masks`` (same shape, True = valid data) marks gaps, beam stop and horizon.
        NaN pixels count as masked. Images are preprocessed and classified ``batch_size``
        at a time on the classifier's device (default: :data:`CPU_CHUNK_SIZE` on the
        CPU, :data:`ACCELERATOR_CHUNK_SIZE` elsewhere). With several
        ``test_time_smear_px`` views, the calibrated probabilities are their mean, and each
        view costs one pass of the network.
        """
        if batch_size is None:
            batch_size = CPU_CHUNK_SIZE if self.device.type == "cpu" else ACCELERATOR_CHUNK_SIZE
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        batch, mask_batch = self._batches(images, masks)
        if batch.shape[0] == 0:
            raise ValueError("images hold no image (a batch of 0)")
        forward, smear_views = self._inference()[1], self.test_time_smear_px
        probabilities, embeddings = [], []
        for start in range(0, batch.shape[0], batch_size):
            chunk_masks = None if mask_batch is None else mask_batch[start:start + batch_size].to(self.device)
            chunk = batch[start:start + batch_size].to(self.device)
            view_embeddings, view_probabilities = [], []
            for view in views(chunk, chunk_masks, smear_views):
                embedding, logits = forward(model_input_torch(view, chunk_masks))
                view_embeddings.append(embedding)
                view_probabilities.append(torch.softmax(logits.float() / self.temperature, dim=1))
            embeddings.append(_mean(view_embeddings).float())
            probabilities.append(_mean(view_probabilities))
        probabilities, embedding = torch.cat(probabilities), torch.cat(embeddings)
        indices = probabilities.argmax(dim=1)
        if self.bundle.ood is not None:
            scored = probabilities if isinstance(self.bundle.ood, SCORES_PROBABILITIES) else embedding
            scores = self.bundle.ood.score(scored.cpu())
            flags = scores > self.ood_threshold
        else:
            scores = torch.full((probabilities.shape[0],), float("nan"))
            flags = torch.zeros(probabilities.shape[0], dtype=torch.bool)
        return Prediction(
            labels=[CLASS_NAMES[i] for i in indices.tolist()],
            class_indices=indices.cpu().numpy(),
            probabilities=probabilities.cpu().numpy(),
            ood_scores=scores.numpy(),
            ood_flags=flags.numpy(),
            embeddings=embedding.cpu().numpy(),
        )

    def saliency(self, image: Any, mask: Any = None) -> np.ndarray:
        """Which pixels drove the decision: |d logit(predicted) / d intensity channels|, scaled to [0, 1], (125, 125)."""
        inputs = self._inputs(image, mask)
        if inputs.shape[0] != 1:
            raise ValueError(f"saliency takes one image, got {inputs.shape[0]}")
        inputs = inputs.clone().requires_grad_(True)
        logits = self.model(inputs)
        logits[0, logits[0].argmax()].backward()
        gradient = inputs.grad[0, :MASK_CHANNEL].abs().sum(dim=0) * inputs[0, MASK_CHANNEL].detach()
        peak = gradient.max()
        return (gradient / peak if peak > 0 else gradient).detach().cpu().numpy()
