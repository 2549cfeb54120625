"""Fixtures shared by every test area: real sample images and the real offline model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Shared test helpers (ir_oracle) import as top-level modules from this folder.
sys.path.insert(0, str(Path(__file__).parent))

# Live engines (scripts/engine.sh): session fixtures opensearch_url, live_engine_url, ...
pytest_plugins = ["live_engines"]

# Property tests check answers, not speed: hypothesis's per-example deadline (200 ms)
# fails a correct example when CI shares its cores with four engines.
settings.register_profile("es-visual", deadline=None)
settings.load_profile("es-visual")


@pytest.fixture(scope="session")
def skimage_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="session")
def mobilenet():
    """The real MobileNetV2 with ImageNet weights from its package, loaded once."""
    from es_visual.models.registry import get_embedder

    return get_embedder("mobilenet-v2")


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny random CLIP checkpoints (same 24 dims, different weights and names:
    tags ``clip@tiny-clip-a#<hash>`` / ``clip@tiny-clip-b#<hash>``, the hash of each
    one's config and weights), for changing models in tests.
    No CLIP weights can be downloaded here; these load through the real code."""
    pytest.importorskip("transformers", reason="the clip extra (transformers) is not installed")
    import json

    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    try:
        from transformers import CLIPImageProcessorPil as Processor
    except ImportError:  # transformers 4
        from transformers import CLIPImageProcessor as Processor

    root = tmp_path_factory.mktemp("tiny-clips")
    chars = list(bytes_to_unicode().values())
    tokens = [*chars, *(c + "</w>" for c in chars), "<|startoftext|>", "<|endoftext|>"]
    (root / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (root / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer.from_pretrained(root)
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
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
        projection_dim=24,
    )
    out = []
    for seed, name in ((0, "tiny-clip-a"), (1, "tiny-clip-b")):
        torch.manual_seed(seed)
        folder = root / name
        CLIPModel(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        Processor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ).save_pretrained(folder)
        out.append(folder)
    return out[0], out[1]
