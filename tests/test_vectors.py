"""core/vectors.py: the one L2 normalizer (embedders, both stores, duplicates, people)."""

from __future__ import annotations

import numpy as np

from es_visual.core.vectors import l2_normalize


def test_one_vector_and_rows_come_out_unit_length_in_float32() -> None:
    one = l2_normalize([3.0, 4.0])
    assert one.dtype == np.float32 and one.shape == (2,)
    assert np.allclose(one, [0.6, 0.8])
    rows = l2_normalize(np.array([[3.0, 4.0], [0.0, 2.0], [1e-3, 0.0]], dtype=np.float64))
    assert rows.dtype == np.float32 and rows.shape == (3, 2)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0)
    assert np.allclose(rows[1], [0.0, 1.0])


def test_a_zero_vector_stays_zero() -> None:
    assert not np.any(l2_normalize([0.0, 0.0, 0.0]))
    rows = l2_normalize(np.zeros((2, 4)))
    assert np.all(np.isfinite(rows)) and not np.any(rows)


def test_the_input_is_not_changed() -> None:
    x = np.array([[3.0, 4.0]], dtype=np.float32)
    l2_normalize(x)
    assert x.tolist() == [[3.0, 4.0]]
