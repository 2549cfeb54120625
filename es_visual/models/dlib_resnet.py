"""dlib's face-recognition ResNet, run by torch: the same 128-d vectors, several times faster.

The ``dlib-bin`` wheel is built without BLAS, so dlib runs its networks on its own
matrix code: ~0.1 s of CPU per face for the descriptor (measured on this project's
2-core machine), most of a picture's face time. This module reads the very weights
of ``dlib_face_recognition_resnet_model_v1.dat`` (from ``face-recognition-models``)
and runs the same network in torch; vectors agree with dlib's to float rounding
(cosine > 0.9999, a test holds it), so an index's faces, thresholds and persons
stay valid: it is the same model, ``dlib-resnet@v1``.

The file is dlib's own serialization of its network. The parser below reads only
what the network needs, layer by layer in the order dlib writes them (input side
first): 29 ``con_4`` (conv weights + bias), 29 ``affine_`` (per-channel scale and
shift: batch norm folded at training time), one ``fc_2`` (128 outputs, no bias).
The architecture is dlib's ``anet_type`` (examples/dnn_face_recognition_ex.cpp):

    input 150x150 RGB, (pixel - mean) / 256
    con 32 7x7/2, affine, relu, max_pool 3x3/2
    level4: 3 x res(32)          level3: res_down(64), 3 x res(64)
    level2: res_down(128), 2 x res(128)   level1: res_down(256), 2 x res(256)
    level0: res_down(256)        global average pool, fc 128 (no bias)

    res(N)      = relu(x + affine(con3x3(relu(affine(con3x3(x))))))
    res_down(N) = relu(avg_pool2x2/2(x) (+) affine(con3x3(relu(affine(con3x3/2(x))))))

dlib's convolutions pad by half the kernel only at stride 1 (none at stride 2), and
its ``add_prev`` adds tensors of different shapes by zero-filling the smaller one at
the end of each axis (channels, rows, columns): ``(+)`` above.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MEAN_RGB = (122.782, 117.001, 104.298)  # dlib's input_rgb_image averages
CHIP_SIZE = 150
CHIP_PADDING = 0.25  # what dlib's compute_face_descriptor uses for its chips


class _Reader:
    """dlib's serialization primitives (dlib/serialize.h, dlib/cuda/tensor.h)."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def integer(self) -> int:
        head = self.data[self.pos]
        size, negative = head & 0x0F, bool(head & 0x80)
        raw = self.data[self.pos + 1 : self.pos + 1 + size]
        self.pos += 1 + size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def string(self) -> str:
        n = self.integer()
        text = self.data[self.pos : self.pos + n].decode("ascii")
        self.pos += n
        return text

    def double(self) -> None:
        self.integer()  # mantissa
        self.integer()  # exponent

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise ValueError(f"unexpected dlib tensor version {version}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        if self.integer() != 1:
            raise ValueError("unexpected dlib alias_tensor version")
        return tuple(self.integer() for _ in range(4))


def read_weights(path: str | Path) -> dict[str, Any]:
    """Conv (weight, bias, stride), affine (scale, shift) and fc weights, in network order."""
    data = Path(path).read_bytes()
    marks = []
    for token in (b"con_4", b"affine_", b"fc_2"):
        prefix = bytes([1, len(token)]) + token
        start = 0
        while (found := data.find(prefix, start)) != -1:
            marks.append((found, token.decode()))
            start = found + 1
    marks.sort()
    convs: list[tuple[np.ndarray, np.ndarray, int]] = []
    affines: list[tuple[np.ndarray, np.ndarray]] = []
    fc = None
    for offset, kind in marks:
        r = _Reader(data, offset)
        if r.string() != kind:
            raise ValueError(f"bad {kind} record at {offset}")
        if kind == "con_4":
            params = r.tensor().ravel()
            filters, rows, cols, stride_y, stride_x = (r.integer() for _ in range(5))
            r.integer(), r.integer()  # padding: dlib's default for the stride, rebuilt below
            inputs = (params.size - filters) // (filters * rows * cols)
            weight = params[: filters * inputs * rows * cols].reshape(filters, inputs, rows, cols)
            bias = params[filters * inputs * rows * cols :]
            if stride_y != stride_x or bias.size != filters:
                raise ValueError("unexpected dlib convolution layout")
            convs.append((weight, bias, stride_y))
        elif kind == "affine_":
            params = r.tensor().ravel()
            half = params.size // 2
            affines.append((params[:half], params[half:]))
        else:
            outputs, inputs = r.integer(), r.integer()
            params = r.tensor().ravel()
            fc = params[: inputs * outputs].reshape(inputs, outputs)
    if len(convs) != 29 or len(affines) != 29 or fc is None:
        raise ValueError(
            f"not dlib's face ResNet: {len(convs)} convolutions, {len(affines)} affine layers"
        )
    return {"convs": convs, "affines": affines, "fc": fc}


# Residual blocks after the stem: (channels, downsample) in network order.
BLOCKS = (
    [(32, False)] * 3
    + [(64, True)] + [(64, False)] * 3
    + [(128, True)] + [(128, False)] * 2
    + [(256, True)] + [(256, False)] * 2
    + [(256, True)]
)  # fmt: skip


def build_network(weights: dict[str, Any]) -> Any:
    """The torch module for these weights (eval mode, no gradients)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv(i: int) -> nn.Conv2d:
        w, b, stride = weights["convs"][i]
        k = w.shape[-1]
        layer = nn.Conv2d(
            w.shape[1], w.shape[0], k, stride=stride, padding=k // 2 if stride == 1 else 0
        )
        scale, shift = weights["affines"][i]
        # The affine after each conv folds into it: scale * (Wx + b) + shift.
        layer.weight.data = torch.from_numpy(w * scale[:, None, None, None])
        assert layer.bias is not None  # Conv2d's default bias=True
        layer.bias.data = torch.from_numpy(b * scale + shift)
        return layer

    def add(a: Any, b: Any) -> Any:
        """dlib's add_prev: zero-fill the smaller tensor at the end of each axis."""
        if a.shape == b.shape:
            return a + b
        c, h, w = (max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True))

        def pad(t: Any) -> Any:
            return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

        return pad(a) + pad(b)

    class FaceResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv(0)
            self.convs = nn.ModuleList(conv(i) for i in range(1, 29))
            fc = nn.Linear(weights["fc"].shape[0], weights["fc"].shape[1], bias=False)
            fc.weight.data = torch.from_numpy(np.ascontiguousarray(weights["fc"].T))
            self.fc = fc
            self.blocks = BLOCKS

        def forward(self, x: Any) -> Any:
            x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
            for i, (_, down) in enumerate(self.blocks):
                first, second = self.convs[2 * i], self.convs[2 * i + 1]
                y = second(F.relu(first(x)))
                x = F.relu(add(y, F.avg_pool2d(x, 2, 2) if down else x))
            return self.fc(x.mean(dim=(2, 3)))

    net = FaceResNet().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def freeze(net: Any) -> Any:
    """The network traced and frozen for inference (oneDNN fuses each conv with its
    relu: 1.5x faster per face, measured; outputs equal to 2e-7). The input size is
    fixed (150x150), so the trace holds for any batch size."""
    import warnings

    import torch

    example = torch.zeros(1, 3, CHIP_SIZE, CHIP_SIZE)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the tracer's notes on shape checks: fixed shapes
        return torch.jit.freeze(torch.jit.trace(net, example))


class TorchFaceEncoder:
    """``encode(chips) -> (n, 128)`` float32 raw descriptors (dlib's, not normalized), from
    150x150 RGB uint8 face chips as ``dlib.get_face_chip`` cuts them. Thread-safe: the
    frozen network keeps no state between calls."""

    def __init__(self, path: str | Path) -> None:
        self.net = freeze(build_network(read_weights(path)))

    def encode(self, chips: list[np.ndarray]) -> np.ndarray:
        import torch

        if not chips:
            return np.zeros((0, 128), dtype=np.float32)
        batch = np.stack(chips).astype(np.float32)
        batch -= np.asarray(MEAN_RGB, dtype=np.float32)
        batch /= 256.0
        x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        with torch.inference_mode():
            return self.net(x).numpy().astype(np.float32)


@lru_cache(maxsize=2)
def get_torch_encoder(path: str) -> TorchFaceEncoder:
    return TorchFaceEncoder(path)


def _check_float_size() -> None:
    assert struct.calcsize("<f") == 4


_check_float_size()
