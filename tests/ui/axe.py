"""axe-core for the browser tests: where it is installed, and running it on a page.

``bash scripts/setup.sh --dev`` installs axe-core from the npm registry into
tests/ui/axe/node_modules (tests/ui/axe/package.json pins the version). The
script is added to a browser context with ``add_init_script``, which the
DevTools protocol runs before the page's own scripts and outside its CSP: the
app's CSP (script-src 'self', no inline script) stays as strict as in use.

When setup ran (it leaves ``.venv/.es-visual-dev``) or under CI, a missing
axe-core is a failure, not a skip: the accessibility check must not vanish.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SETUP_MARK = ROOT / ".venv" / ".es-visual-dev"
BLOCKING = ("serious", "critical")


def axe_script() -> Path:
    """axe.min.js, or fail (setup ran / CI) or skip (a bare checkout) saying how to get it."""
    if AXE_JS.is_file():
        return AXE_JS
    how = "run `bash scripts/setup.sh --dev` (npm install in tests/ui/axe)"
    if SETUP_MARK.exists() or os.environ.get("CI"):
        pytest.fail(f"axe-core is missing at {AXE_JS} although setup ran: {how}")
    pytest.skip(f"axe-core is not installed at {AXE_JS}: {how}")


def run_axe(page: Any) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (every rule axe runs by default)."""
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, { resultTypes: ['violations'] });
          return r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({ target: n.target.join(' '), summary: n.failureSummary }))
          }));
        }"""
    )
    return list(result)


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + "; ".join(
            n["target"] + " -> " + (n["summary"] or "").replace("\n", " ") for n in v["nodes"][:4]
        )
        for v in violations
    )
