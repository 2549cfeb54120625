"""The vectors of one target of one index, in memory: a derived cache of SQLite.

A ``TargetVectors`` holds every vector of its target as rows of one contiguous
float32 matrix (L2-normalized, so a dot product is the cosine), with parallel
arrays ``vids`` (SQLite row ids, ascending), ``doc_rids`` and ``alive``. It
catches up with the store by reading rows with a larger ``vid`` and the
tombstones written since it last looked; nothing is trusted that the store's
``generation`` and uuid do not vouch for, so results are never stale after a
restart, an update or a delete.

Above ``ann_min_vectors`` it also keeps a faiss IVF index with 8-bit scalar
codes (inner product) over the same rows, positions = faiss ids; the codes only
choose candidates, which are re-scored exactly from the float matrix (a quarter
of IVF-Flat's memory and of the bytes read per probed list). IVF rather than
HNSW because adding vectors is cheap (no graph to grow on 2 cores), deletes are
just a mask, and a search restricted to a bitmap of allowed rows
(``IDSelectorBitmap``) stays correct at any selectivity. The index is retrained
when the data has grown ``RETRAIN_GROWTH`` times since training, and rows are
compacted when more than ``COMPACT_FRACTION`` are dead. ``save``/``load`` keep
matrix + IVF on disk under the index's cache folder so a restart does not
re-read every blob.

Not thread-safe by itself: callers hold ``lock`` around ``sync`` and searches.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from es_visual.backends.embedded.store import IndexStore
from es_visual.core.vectors import l2_normalize
from es_visual.private import make_private, private_dir, write_private

if TYPE_CHECKING:
    import faiss  # imported when first needed: it is slow to load

log = logging.getLogger(__name__)

RETRAIN_GROWTH = 4.0
COMPACT_FRACTION = 0.25
CACHE_FORMAT = 2  # 2: IVF-SQ8 (1 was IVF-Flat)


@dataclass(frozen=True)
class VectorConfig:
    """Where the exact/ANN line lies; the defaults suit ~1M x 512 on a laptop."""

    # Exact search when the filtered candidates are at most this many vectors...
    exact_max_vectors: int = 20_000
    # ...or at most this fraction of the target's vectors.
    exact_max_fraction: float = 0.02
    # Below this many vectors no ANN index is built at all (exact is as fast).
    ann_min_vectors: int = 20_000
    # Probed IVF lists, as a fraction of nlist, for an unfiltered search.
    nprobe_fraction: float = 0.06
    min_nprobe: int = 16


_omp = threading.local()


def _faiss_threads(build: bool):  # type: ignore[no-untyped-def]
    """faiss for one query: one OpenMP thread. Waking a team for a single query cost
    3-6x the search itself on 2 shared cores (measured). Builds use every core.
    The setting is per calling thread (an OpenMP ICV), so request threads are unaffected
    by each other."""
    import faiss

    if not hasattr(_omp, "default"):
        _omp.default = faiss.omp_get_max_threads()
        _omp.current = _omp.default
    wanted = _omp.default if build else 1
    if _omp.current != wanted:
        faiss.omp_set_num_threads(wanted)
        _omp.current = wanted
    return faiss


class TargetVectors:
    def __init__(
        self, store: IndexStore, target: str, cache_dir: Path, config: VectorConfig
    ) -> None:
        self.store, self.target, self.cache_dir, self.config = store, target, cache_dir, config
        self.lock = threading.RLock()
        self._reset(0)
        self.generation = -1
        self.loaded = False
        self.saved_generation = -1

    def _reset(self, dims: int) -> None:
        self.dims = dims
        self.n = 0
        self.buf = np.empty((0, dims), np.float32)
        self.vids = np.empty(0, np.int64)
        self.doc_rids = np.empty(0, np.int64)
        self.alive = np.empty(0, bool)
        self.n_dead = 0
        self.n_docs = 0
        self.last_vid = 0
        self.last_seq = 0
        self.ivf: faiss.Index | None = None
        self.ivf_n = 0
        self.trained_n = 0
        self.nlist = 0
        self.max_rid = 0
        # (key, candidates, selection): the candidates array is held so its id stays unique.
        self._selections: list[tuple[tuple[int, int, int], np.ndarray | None, Selection]] = []

    # --- catching up with SQLite -------------------------------------------------------------

    def sync(self) -> None:
        """Bring the matrix (and IVF) up to the store's current generation."""
        generation = self.store.generation()
        if generation == self.generation:
            return
        floor = int(self.store.meta("tomb_floor") or 0)
        if not self.loaded:
            self.loaded = True
            if not self._load_cache(floor):
                self._reset(self.dims)
        elif self.last_seq < floor:
            self._reset(self.dims)  # the tombstones we need were compacted away
        self._append_new()
        self._apply_tombstones()
        self._maintain_ann()
        self.generation = generation

    def _append_new(self) -> None:
        if self.n == 0:
            # A first load takes exactly what is there: growing by 1.5x while loading 1M
            # rows would leave a third of the matrix allocated for nothing.
            coming = (
                self.store.conn()
                .execute(
                    "SELECT count(*) FROM vectors WHERE target = ? AND vid > ?",
                    (self.target, self.last_vid),
                )
                .fetchone()[0]
            )
            first = next(self.store.iter_vectors(self.target, self.last_vid, chunk=1), None)
            if coming and first is not None:
                self.dims = first.matrix.shape[1]
                self.buf = np.empty((coming, self.dims), np.float32)
                self.vids = np.zeros(coming, np.int64)
                self.doc_rids = np.zeros(coming, np.int64)
                self.alive = np.zeros(coming, bool)
        for rows in self.store.iter_vectors(self.target, self.last_vid):
            m = len(rows)
            if self.dims == 0 or self.n == 0:
                self.dims = rows.matrix.shape[1]
                if self.buf.shape[1] != self.dims:
                    self.buf = np.empty((0, self.dims), np.float32)
            self._reserve(self.n + m)
            self.buf[self.n : self.n + m] = l2_normalize(rows.matrix)
            self.vids[self.n : self.n + m] = rows.vid
            self.doc_rids[self.n : self.n + m] = rows.doc_rid
            self.alive[self.n : self.n + m] = True
            self.n += m
            self.last_vid = int(rows.vid[-1])
            self.max_rid = max(self.max_rid, int(rows.doc_rid.max()))
        self.n_docs = int(np.unique(self.doc_rids[: self.n][self.alive[: self.n]]).size)

    def _reserve(self, size: int) -> None:
        if size <= len(self.vids):
            return
        cap = max(size, int(len(self.vids) * 1.5), 1024)
        # A new buffer, not resize-in-place: a view handed out earlier stays valid.
        buf = np.empty((cap, self.dims), np.float32)
        buf[: self.n] = self.buf[: self.n]
        self.buf = buf
        for name, dtype in (("vids", np.int64), ("doc_rids", np.int64), ("alive", bool)):
            arr = np.zeros(cap, dtype)
            arr[: self.n] = getattr(self, name)[: self.n]
            setattr(self, name, arr)

    def _apply_tombstones(self) -> None:
        seq, vids = self.store.tombstones(self.target, self.last_seq)
        self.last_seq = seq
        if not len(vids) or not self.n:
            return
        known = self.vids[: self.n]
        pos = np.searchsorted(known, vids)
        inside = pos < self.n
        pos, vids = pos[inside], vids[inside]
        pos = pos[known[pos] == vids]  # vids never loaded (added and removed meanwhile) drop out
        newly = pos[self.alive[pos]]
        self.alive[newly] = False
        self.n_dead += int(newly.size)
        self.n_docs = int(np.unique(self.doc_rids[: self.n][self.alive[: self.n]]).size)

    # --- the ANN index -----------------------------------------------------------------------

    @property
    def n_alive(self) -> int:
        return self.n - self.n_dead

    def _maintain_ann(self) -> None:
        if self.n_alive < self.config.ann_min_vectors:
            self.ivf, self.ivf_n = None, 0
            if self.n_dead > COMPACT_FRACTION * max(self.n, 1):
                self._compact()
            return
        if self.n_dead > COMPACT_FRACTION * self.n:
            self._compact()
        if self.ivf is None or self.n_alive > RETRAIN_GROWTH * self.trained_n:
            self._build_ivf()
        elif self.ivf_n < self.n:
            _faiss_threads(build=True)
            self.ivf.add(self.buf[self.ivf_n : self.n])
            _faiss_threads(build=False)
            self.ivf_n = self.n

    def _compact(self) -> None:
        keep = np.flatnonzero(self.alive[: self.n])
        self.buf = np.ascontiguousarray(self.buf[keep])
        self.vids = self.vids[keep]
        self.doc_rids = self.doc_rids[keep]
        self.alive = np.ones(len(keep), bool)
        self.n, self.n_dead = len(keep), 0
        self.ivf, self.ivf_n = None, 0

    def _build_ivf(self) -> None:
        faiss = _faiss_threads(build=True)

        n = self.n_alive
        nlist = int(min(4096, max(64, round(math.sqrt(n)))))
        rng = np.random.default_rng(0)
        alive_pos = np.flatnonzero(self.alive[: self.n])
        sample_n = min(len(alive_pos), nlist * 64)
        sample = self.buf[np.sort(rng.choice(alive_pos, sample_n, replace=False))]
        quantizer = faiss.IndexFlatIP(self.dims)
        # 8-bit codes (a quarter of the float matrix, and a quarter of the memory traffic per
        # probed list); ``ann`` re-scores what they find from the float matrix, exactly.
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, self.dims, nlist, faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT, False,
        )  # fmt: skip
        ivf.cp.max_points_per_centroid = 64
        ivf.cp.niter = 12
        ivf.train(sample)
        ivf.add(self.buf[: self.n])
        _faiss_threads(build=False)
        self.ivf, self.ivf_n, self.nlist, self.trained_n = ivf, self.n, nlist, n
        self._quantizer = quantizer  # the IVF does not own it from Python's side
        log.info("built IVF for %s: %d vectors, nlist=%d", self.target, n, nlist)

    # --- searching ---------------------------------------------------------------------------

    def select(self, candidates: np.ndarray | None, excluded: list[int]) -> Selection:
        """The rows a search may return: alive rows of the ``candidates`` documents (sorted
        rids; None = every document) minus ``excluded``. The last few selections are kept,
        keyed by the candidates array itself (the filter cache hands out the same object for
        the same filter), so a repeated filter skips the 1M-row mask and its bitmap."""
        if candidates is None and not excluded:
            mask = self.alive[: self.n] if self.n_dead else None
            return Selection(mask, self.n_alive)
        key = (self.generation, self.n, id(candidates))
        if not excluded:
            for k, arr, sel in self._selections:
                if k == key and arr is candidates:
                    return sel
        docmask = np.zeros(self.max_rid + 1, bool)
        if candidates is None:
            docmask[:] = True
        else:
            docmask[candidates[candidates <= self.max_rid]] = True
        docmask[[r for r in excluded if r <= self.max_rid]] = False
        mask = docmask[self.doc_rids[: self.n]]
        if self.n_dead:
            mask &= self.alive[: self.n]
        sel = Selection(mask, int(np.count_nonzero(mask)))
        if not excluded:
            # The array is held with its key so that its id cannot be reused meanwhile.
            self._selections = [(key, candidates, sel), *self._selections[:7]]
        return sel

    def use_exact(self, n_selected: int) -> bool:
        """THE RULE: exact (brute force over the selected rows) when there is no ANN index or
        the filter leaves few vectors (<= exact_max_vectors, or <= exact_max_fraction of the
        target); ANN with a widened, bitmap-restricted search otherwise."""
        cfg = self.config
        return (
            self.ivf is None
            or n_selected <= cfg.exact_max_vectors
            or n_selected <= cfg.exact_max_fraction * self.n_alive
        )

    def exact(self, q: np.ndarray, sel: Selection) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) of every selected alive row."""
        if sel.mask is None:
            return np.arange(self.n), self.buf[: self.n] @ q
        pos = sel.positions()
        return pos, self.scores_at(q, pos)

    def scores_at(self, q: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Exact inner products of q with the rows at ``pos``, read in place: no gathered
        copy of the rows (memory traffic, not arithmetic, is the cost of a subset)."""
        import faiss

        pos = np.ascontiguousarray(pos, dtype=np.int64)
        out = np.empty(len(pos), np.float32)
        if len(pos):
            q = np.ascontiguousarray(q, dtype=np.float32)
            faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]  # not in the stubs
                faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(self.buf),
                faiss.swig_ptr(pos), self.dims, 1, len(pos),
            )  # fmt: skip
        return out

    def default_nprobe(self, selected_fraction: float) -> int:
        """A sparser selection needs more lists probed to find enough allowed rows near q."""
        base = max(self.config.min_nprobe, self.config.nprobe_fraction * self.nlist)
        widened = base / math.sqrt(max(selected_fraction, 1e-6))
        return int(min(self.nlist, math.ceil(widened)))

    def ann(
        self, q: np.ndarray, sel: Selection, k: int, nprobe: int
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """(positions, scores, exhausted): the ``k`` best selected rows by IVF, best first;
        ``exhausted`` when fewer than ``k`` selected rows exist in the probed lists."""
        assert self.ivf is not None, "use_exact is true without an IVF"
        faiss = _faiss_threads(build=False)

        params = faiss.SearchParametersIVF()
        params.nprobe = int(min(nprobe, self.nlist))
        keep_alive = None
        if sel.mask is not None:
            keep_alive = sel.bitmap()
            params.sel = faiss.IDSelectorBitmap(len(keep_alive), faiss.swig_ptr(keep_alive))
        k = int(min(k, self.n))
        _, ids = self.ivf.search(q.reshape(1, -1), k, params=params)
        del keep_alive  # the selector only borrowed it
        ids = ids[0]
        found = ids[ids >= 0].astype(np.int64)
        # The codes only choose; the scores (and so the order) come from the float rows.
        scores = self.scores_at(q, found)
        order = np.argsort(-scores, kind="stable")
        return found[order], scores[order], bool(len(found) < k)

    # --- disk cache ----------------------------------------------------------------------------

    def _pointer(self) -> Path:
        return self.cache_dir / f"{self.target}.json"

    def save(self) -> None:
        """Persist matrix + IVF (only worth it once an IVF exists); atomic via a pointer file."""
        if self.ivf is None or self.saved_generation == self.generation:
            return
        import faiss

        private_dir(self.cache_dir)
        name = f"{self.target}-{uuid.uuid4().hex[:12]}"
        folder = self.cache_dir / name
        folder.mkdir(mode=0o700)
        np.save(folder / "matrix.npy", self.buf[: self.n])
        np.save(folder / "vids.npy", self.vids[: self.n])
        np.save(folder / "doc_rids.npy", self.doc_rids[: self.n])
        np.save(folder / "alive.npy", self.alive[: self.n])
        faiss.write_index(self.ivf, str(folder / "ivf.faiss"))
        make_private(*folder.iterdir())  # NumPy and faiss write with the umask's mode
        meta = {
            "format": CACHE_FORMAT,
            "folder": name,
            "uuid": self.store.meta("uuid"),
            "dims": self.dims,
            "n": self.n,
            "n_dead": self.n_dead,
            "last_vid": self.last_vid,
            "last_seq": self.last_seq,
            "ivf_n": self.ivf_n,
            "trained_n": self.trained_n,
            "nlist": self.nlist,
        }
        old = self._read_pointer()
        write_private(self._pointer(), json.dumps(meta).encode("utf-8"))
        if old and old.get("folder") != name:
            shutil.rmtree(self.cache_dir / str(old["folder"]), ignore_errors=True)
        self.saved_generation = self.generation

    def _read_pointer(self) -> dict | None:
        try:
            return json.loads(self._pointer().read_text())
        except (OSError, ValueError):
            return None

    def _load_cache(self, floor: int) -> bool:
        meta = self._read_pointer()
        if not meta:
            return False
        try:
            import faiss

            if (
                meta["format"] != CACHE_FORMAT
                or meta["uuid"] != self.store.meta("uuid")
                or meta["last_seq"] < floor
            ):
                return False
            folder = self.cache_dir / meta["folder"]
            n, dims = int(meta["n"]), int(meta["dims"])
            buf = np.load(folder / "matrix.npy")
            arrays = [np.load(folder / f"{a}.npy") for a in ("vids", "doc_rids", "alive")]
            ivf = faiss.read_index(str(folder / "ivf.faiss"))
            if buf.shape != (n, dims) or any(len(a) != n for a in arrays) or ivf.ntotal != n:
                return False
        except Exception as exc:  # any damage to a cache means: rebuild it from SQLite
            log.warning("ignoring vector cache %s: %s", self._pointer(), exc)
            return False
        self._reset(dims)
        self.buf, (self.vids, self.doc_rids, self.alive) = buf, arrays
        self.n, self.n_dead = n, int(meta["n_dead"])
        self.last_vid, self.last_seq = int(meta["last_vid"]), int(meta["last_seq"])
        self.ivf, self.ivf_n = ivf, int(meta["ivf_n"])
        self.trained_n, self.nlist = int(meta["trained_n"]), int(meta["nlist"])
        self.n_docs = int(np.unique(self.doc_rids[self.alive]).size)
        self.max_rid = int(self.doc_rids.max()) if n else 0
        self.saved_generation = -2
        return True


class Selection:
    """Rows a search may return: ``mask`` over rows ``[:n]`` (None = every row), their
    ``count``, and lazily their positions and faiss bitmap (each computed once)."""

    __slots__ = ("_bits", "_pos", "count", "mask")

    def __init__(self, mask: np.ndarray | None, count: int) -> None:
        self.mask, self.count = mask, count
        self._pos: np.ndarray | None = None
        self._bits: np.ndarray | None = None

    def positions(self) -> np.ndarray:
        if self._pos is None:
            assert self.mask is not None
            self._pos = np.flatnonzero(self.mask)
        return self._pos

    def bitmap(self) -> np.ndarray:
        if self._bits is None:
            assert self.mask is not None
            self._bits = np.packbits(self.mask, bitorder="little")
        return self._bits
