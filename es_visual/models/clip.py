"""CLIP through ``transformers``: images and texts in one space, for search by words.

Any CLIP checkpoint loads, by hub id (``openai/clip-vit-base-patch32``, the
default) or by local folder. No CLIP weights ship in a package, so on a
machine that has never downloaded them this raises one
``ModelUnavailableError`` that says what was tried and how to provide them.

A local folder is identified by its content, not its name: its version is
``<folder name>#<hash of config.json and the weights>``, so two different
checkpoints both called ``tinyclip`` never share an index, and a search that
finds other weights under the index's folder name is refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from es_visual.core.errors import ModelUnavailableError
from es_visual.core.vectors import l2_normalize

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = "openai/clip-vit-base-patch32"
_TRUTHY = {"1", "true", "yes", "on"}
# A folder inside the hub cache: .../models--openai--clip-vit-base-patch32/snapshots/<commit>
_CACHE_SNAPSHOT = re.compile(r"models--(?P<org>[^/\\]+?)--(?P<name>[^/\\]+)[/\\]snapshots[/\\]")


class ClipEmbedder:
    """Image and text vectors from a CLIP checkpoint, L2-normalized, ``projection_dim`` wide."""

    name = "clip"
    supports_text = True

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] = DEFAULT_CHECKPOINT,
        *,
        revision: str | None = None,
        version: str | None = None,
        batch_size: int = 32,
        device: str | None = "auto",
        local_files_only: bool | None = None,
    ) -> None:
        from es_visual.models.runtime import configure_threads, pick_device

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        checkpoint = str(checkpoint)
        if revision is None and not _is_local(checkpoint) and "@" in checkpoint:
            checkpoint, revision = checkpoint.split("@", 1)  # "org/name@rev", as tags write it
        self.checkpoint = checkpoint
        self.revision = revision
        self.batch_size = batch_size
        self.threads = configure_threads()
        self.device = pick_device(device)
        self.model, self.tokenizer, self.image_processor = _load(
            checkpoint, revision, local_files_only
        )
        self.model.to(self.device)
        self.dims = int(self.model.config.projection_dim)
        self.version = version or _version_of(checkpoint, revision)
        self.max_text_tokens = int(self.model.config.text_config.max_position_embeddings)
        self._lock = threading.Lock()

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dims) float32 unit rows."""
        out = [np.zeros((0, self.dims), np.float32)]
        for start in range(0, len(images), self.batch_size):
            chunk = [
                im if im.mode == "RGB" else im.convert("RGB")
                for im in images[start : start + self.batch_size]
            ]
            pixels = self.image_processor(images=chunk, return_tensors="pt")["pixel_values"]
            out.append(self._run(self.model.get_image_features, pixel_values=pixels))
        return l2_normalize(np.concatenate(out))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dims) float32 unit rows, in the same space as ``embed_images``."""
        out = [np.zeros((0, self.dims), np.float32)]
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,  # CLIP's text tower has a fixed context (77 tokens)
                max_length=self.max_text_tokens,
                return_tensors="pt",
            )
            out.append(
                self._run(
                    self.model.get_text_features,
                    input_ids=tokens["input_ids"],
                    attention_mask=tokens.get("attention_mask"),
                )
            )
        return l2_normalize(np.concatenate(out))

    def _run(self, method: Any, **inputs: torch.Tensor | None) -> np.ndarray:
        import torch

        moved = {k: v.to(self.device) for k, v in inputs.items() if v is not None}
        with self._lock, torch.inference_mode():
            return _features(method(**moved)).float().cpu().numpy()


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _features(output: Any) -> torch.Tensor:
    """The projected embeddings, whatever this transformers version returns.

    transformers 4.x returns the tensor; 5.x a ``BaseModelOutputWithPooling``
    whose ``pooler_output`` holds the projection.
    """
    import torch

    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    if isinstance(output, tuple | list) and len(output) > 1:
        return output[1]
    raise TypeError(f"unexpected CLIP feature output: {type(output).__name__}")


def _load(checkpoint: str, revision: str | None, local_only: bool | None) -> tuple[Any, Any, Any]:
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailableError(
            "the CLIP model needs transformers: pip install 'es-visual[clip]'"
        ) from exc

    if _is_local(checkpoint):
        folder = Path(checkpoint).expanduser()
        if not folder.is_dir():
            raise ModelUnavailableError(
                f"CLIP checkpoint folder {folder} does not exist; give a folder made by "
                f"`hf download <hub id> --local-dir {folder}` or by save_pretrained"
            )
        try:
            return _from_pretrained(str(folder), None, local_only=True)
        except Exception as exc:
            raise ModelUnavailableError(
                f"cannot load a CLIP checkpoint from {folder}: {_short(exc)} (it needs "
                "config.json, the weights, and the tokenizer files)"
            ) from exc

    offline = _env_offline() if local_only is None else local_only
    tried = []
    try:
        return _from_pretrained(checkpoint, revision, local_only=True)
    except OSError:
        tried.append(f"the Hugging Face cache {_hub_cache()} (not there)")
    except Exception as exc:
        tried.append(f"the Hugging Face cache {_hub_cache()} ({_short(exc)})")
    unreachable = None if offline else _hub_unreachable()
    if offline:
        tried.append("no download: offline (HF_HUB_OFFLINE / local_files_only)")
    elif unreachable:
        # Skips huggingface_hub's retries: half a minute of warnings for a known answer.
        tried.append(f"no download: {unreachable}")
    else:
        try:
            return _from_pretrained(checkpoint, revision, local_only=False)
        except Exception as exc:
            tried.append(f"downloading from the hub ({_short(exc)})")
    raise ModelUnavailableError(
        f"CLIP checkpoint {checkpoint!r} is not available here. Tried: {'; '.join(tried)}. "
        "To provide it, on a machine with internet run "
        f"`hf download {checkpoint}` (older huggingface_hub: `huggingface-cli download "
        f"{checkpoint}`) and copy the cache here (or point HF_HOME at it); or download it "
        f"into a folder with `hf download {checkpoint} --local-dir ./clip-model` and use "
        "the model `clip:./clip-model`."
    )


def _from_pretrained(
    source: str, revision: str | None, *, local_only: bool
) -> tuple[Any, Any, Any]:
    from transformers import AutoTokenizer, CLIPModel
    from transformers.utils import logging as hf_logging

    kwargs: dict[str, Any] = {"local_files_only": local_only}
    if revision:
        kwargs["revision"] = revision
    # transformers draws a progress bar per load on stderr; the CLI has its own output.
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = CLIPModel.from_pretrained(source, **kwargs).eval()
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        return model, tokenizer, _image_processor(source, model.config, kwargs)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _image_processor(source: str, config: Any, kwargs: dict[str, Any]) -> Any:
    processor = _processor_class()
    try:
        return processor.from_pretrained(source, **kwargs)
    except (OSError, ValueError):
        # No preprocessor_config.json: CLIP's standard recipe at the model's resolution.
        size = int(config.vision_config.image_size)
        log.info("%s has no image preprocessing config; using CLIP's defaults", source)
        return processor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def _processor_class() -> type[Any]:
    # transformers 5 made CLIPImageProcessor torchvision-based; the PIL one runs anywhere.
    try:
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil
    except ImportError:
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor


def _version_of(checkpoint: str, revision: str | None) -> str:
    if _is_local(checkpoint):
        resolved = str(Path(checkpoint).expanduser().resolve())
        snapshot = _CACHE_SNAPSHOT.search(resolved)
        if snapshot:  # the hub's own cache: named like the hub id that fills it
            return f"{snapshot['org']}/{snapshot['name']}"
        return f"{Path(resolved).name}{CONTENT_MARK}{checkpoint_digest(Path(resolved))}"
    return f"{checkpoint}@{revision}" if revision else checkpoint


# Separates a local checkpoint's folder name from its content hash in a version.
CONTENT_MARK = "#"
# The files whose bytes decide a checkpoint's vectors: its configuration and its weights
# (whole or sharded, safetensors or PyTorch pickles).
_WEIGHT_FILES = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin*", "*.pt")


def checkpoint_digest(folder: Path) -> str:
    """The first 16 hex digits of a SHA-256 over a local checkpoint's ``config.json`` and
    weights files (names and bytes, in name order): equal only for the same model. The
    weights are read once per process (embedders are cached)."""
    files = {folder / "config.json"}
    files.update(f for pattern in _WEIGHT_FILES for f in folder.glob(pattern))
    digest = hashlib.sha256()
    for path in sorted(f for f in files if f.is_file()):
        digest.update(path.name.encode("utf-8") + b"\0")
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _is_local(checkpoint: str) -> bool:
    """A folder path rather than a hub id (hub ids are ``name`` or ``org/name``)."""
    if checkpoint.startswith(("/", "./", "../", "~", "\\")) or re.match(
        r"^[A-Za-z]:[\\/]", checkpoint
    ):
        return True
    return checkpoint.count("/") > 1 or Path(checkpoint).expanduser().is_dir()


def _env_offline() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in _TRUTHY
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_unreachable() -> str | None:
    """Why the hub cannot be reached (its name does not resolve), or None if it may be."""
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or endpoint
    try:
        socket.getaddrinfo(host, 443)
    except OSError as exc:
        return f"{host} cannot be reached from this machine ({exc})"
    return None


def _hub_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return "~/.cache/huggingface/hub"


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
