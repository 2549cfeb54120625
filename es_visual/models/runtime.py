"""How torch runs here: how many threads, on which device. Shared by every torch model."""

from __future__ import annotations

import logging
import math
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

THREADS_ENV = "ES_VISUAL_TORCH_THREADS"

_configured = False
_lock = threading.Lock()


def available_cpus() -> int:
    """CPUs this process may really use: its affinity mask and its cgroup quota.

    ``os.cpu_count()`` reports the host's cores; inside a container limited to
    two, starting 64 torch threads makes inference several times slower.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def _cgroup_quota() -> float | None:
    try:  # cgroup v2
        with open("/sys/fs/cgroup/cpu.max") as fh:
            limit, period = fh.read().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as fh:
            limit_us = int(fh.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as fh:
            period_us = int(fh.read())
        return None if limit_us <= 0 else limit_us / period_us
    except (OSError, ValueError):
        return None


def configure_threads() -> int:
    """Set torch's intra-op threads once per process; returns the count in use.

    ``ES_VISUAL_TORCH_THREADS`` wins; else an explicit ``OMP_NUM_THREADS`` /
    ``MKL_NUM_THREADS`` (torch already honours those) is left alone; else the
    CPUs this process may use.
    """
    global _configured
    import torch

    with _lock:
        if _configured:
            return torch.get_num_threads()
        _configured = True
        wanted = os.environ.get(THREADS_ENV, "").strip()
        if wanted:
            try:
                count = max(1, int(wanted))
            except ValueError:
                log.warning("ignoring %s=%r: not a whole number", THREADS_ENV, wanted)
            else:
                torch.set_num_threads(count)
                return count
        if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
            return torch.get_num_threads()
        count = available_cpus()
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
        return count


DEVICES = ("auto", "cpu", "cuda")


def pick_device(device: str | None = "auto") -> torch.device:
    """``"auto"``: the GPU when torch sees one, else the CPU; otherwise as named. A
    CUDA device that torch cannot see is a ``ConfigError`` saying why, here, rather
    than an obscure failure at the first batch."""
    import torch

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        from es_visual.core.errors import ConfigError

        raise ConfigError(f"--device {device}: {no_gpu_reason()}; use --device auto or cpu")
    return chosen


def no_gpu_reason() -> str:
    """Why torch sees no CUDA GPU here, in words (for errors and benchmark tables)."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build, so no GPU can be used"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU here"


def describe_device(device: torch.device) -> str:
    """``cpu (2 threads)`` or ``cuda:0 (NVIDIA H200, 139 GiB)``, for reports."""
    import torch

    if device.type != "cuda":
        return f"cpu ({torch.get_num_threads()} threads)"
    props = torch.cuda.get_device_properties(device)
    return f"{device} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"


def batch_size_for(device: torch.device, cpu_default: int) -> int:
    """Pictures per model call on ``device``: ``cpu_default`` (the settings' batch size)
    on a CPU, where a bigger batch only holds more pictures in memory; on a GPU enough
    to keep it busy (a MobileNetV2 or CLIP-B forward pass of 224 px pictures needs well
    under 40 MB a picture), by its memory."""
    if device.type != "cuda":
        return cpu_default
    import torch

    total_gib = torch.cuda.get_device_properties(device).total_memory / 2**30
    if total_gib >= 40:
        return max(cpu_default, 256)
    if total_gib >= 12:
        return max(cpu_default, 128)
    return max(cpu_default, 64)
