"""The CLIP embedder on real transformers code, driven by a tiny random CLIP built here.

No CLIP weights can be downloaded on these machines; a 2-layer CLIP with a
byte-level tokenizer exercises the same loading, batching and projection paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("transformers", reason="the clip extra (transformers) is not installed")

from es_visual.core.errors import ModelUnavailableError
from es_visual.models.base import Embedder
from es_visual.models.clip import ClipEmbedder, checkpoint_digest

PROJECTION = 24


def _write_tokenizer_files(folder: Path) -> None:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    merges = ["c a", "ca t</w>", "d o", "do g</w>"]
    tokens = chars + [c + "</w>" for c in chars] + [m.replace(" ", "") for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    try:
        from transformers import CLIPImageProcessorPil as Processor
    except ImportError:  # transformers 4
        from transformers import CLIPImageProcessor as Processor

    root = tmp_path_factory.mktemp("tiny-clip")
    _write_tokenizer_files(root)
    tokenizer = CLIPTokenizer.from_pretrained(root)
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    config = CLIPConfig(
        text_config={
            **small,
            "num_attention_heads": 2,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**small, "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=PROJECTION,
    )
    torch.manual_seed(0)
    model_dir = root / "tiny-clip-model"
    CLIPModel(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    Processor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        model_dir
    )
    return model_dir


@pytest.fixture(scope="module")
def clip(tiny_clip_dir: Path) -> ClipEmbedder:
    return ClipEmbedder(tiny_clip_dir, batch_size=2)


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    import skimage.data

    return [
        Image.fromarray(skimage.data.astronaut()),
        Image.fromarray(skimage.data.chelsea()),
        Image.fromarray(skimage.data.camera()),  # greyscale: converted on the way in
    ]


def test_is_an_embedder(clip: ClipEmbedder, tiny_clip_dir: Path) -> None:
    assert isinstance(clip, Embedder)
    assert clip.supports_text
    assert clip.dims == PROJECTION
    # A local folder: its name and the hash of its config and weights.
    digest = checkpoint_digest(tiny_clip_dir)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert clip.version == f"tiny-clip-model#{digest}"
    assert clip.tag == f"clip@tiny-clip-model#{digest}"


def test_image_vectors(clip: ClipEmbedder, pictures) -> None:
    vectors = clip.embed_images(pictures)  # 3 pictures in batches of 2
    assert vectors.shape == (3, PROJECTION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert clip.embed_images([]).shape == (0, PROJECTION)
    again = clip.embed_images(pictures[:1])
    np.testing.assert_allclose(again[0], vectors[0], atol=1e-5)  # batching changes nothing


def test_text_vectors_share_the_image_space(clip: ClipEmbedder, pictures) -> None:
    texts = ["a photo of a cat", "dog", "x" * 1000]  # the last is cut to 77 tokens
    vectors = clip.embed_texts(texts)
    assert vectors.shape == (3, PROJECTION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    images = clip.embed_images(pictures[:1])
    assert (vectors @ images.T).shape == (3, 1)
    assert clip.embed_texts([]).shape == (0, PROJECTION)


def test_registry_loads_a_local_checkpoint_once(tiny_clip_dir: Path) -> None:
    from es_visual.models.registry import get_embedder

    first = get_embedder(f"clip:{tiny_clip_dir}")
    assert first is get_embedder(f"clip:{tiny_clip_dir}")
    assert first.dims == PROJECTION


def test_version_override(tiny_clip_dir: Path) -> None:
    assert ClipEmbedder(tiny_clip_dir, version="team-clip-v3").tag == "clip@team-clip-v3"


def test_hub_cache_folder_is_named_by_its_hub_id() -> None:
    from es_visual.models.clip import _version_of

    snapshot = "/data/hf/hub/models--openai--clip-vit-base-patch32/snapshots/3d74acf9a2"
    assert _version_of(snapshot, None) == "openai/clip-vit-base-patch32"
    assert _version_of("openai/clip-vit-base-patch32", "main") == (
        "openai/clip-vit-base-patch32@main"
    )


def test_missing_weights_offline_is_one_clear_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as info:
        ClipEmbedder("es-visual-tests/no-such-clip")
    message = str(info.value)
    assert "es-visual-tests/no-such-clip" in message
    assert "Hugging Face cache" in message  # what was tried
    assert "offline" in message
    assert "hf download es-visual-tests/no-such-clip" in message  # how to provide it
    assert "huggingface-cli download" in message
    assert "HF_HOME" in message
    assert "Traceback" not in message


def test_default_checkpoint_offline_names_it(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        ClipEmbedder()
    except ModelUnavailableError as exc:
        assert "openai/clip-vit-base-patch32" in str(exc)
    else:
        pytest.skip("openai/clip-vit-base-patch32 is in this machine's Hugging Face cache")


def test_unreachable_hub_is_not_retried(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.es-visual.invalid")  # never resolves
    with pytest.raises(ModelUnavailableError, match=r"no download: hub\.es-visual\.invalid"):
        ClipEmbedder("es-visual-tests/no-such-clip")


def test_missing_local_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        ClipEmbedder(tmp_path / "nowhere")


def test_folder_without_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="cannot load a CLIP checkpoint"):
        ClipEmbedder(tmp_path)
