"""Count the app layer's import figures that docs/ARCHITECTURE.md quotes.

    python scripts/ui_import_figures.py

Modules: every ``ui/**/*.py`` but package ``__init__``s. Arrows: distinct module-to-module
imports inside ``ui/`` (``import ui.x.y``, ``from ui.x import y``, ``from ui.x.y import z``),
function-level ones included. Chain: the most modules on one import path. Exits 1 if the
imports go round in a circle. Prints JSON.
"""

from __future__ import annotations

import ast
import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts): p
            for p in sorted((ROOT / "ui").rglob("*.py")) if p.name != "__init__.py"}


def _arrows(modules: dict[str, Path]) -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = collections.defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            arrows[name].update(t for t in targets if t in modules and t != name)
    return arrows


def _longest_chain(arrows: dict[str, set[str]], modules: dict[str, Path]) -> int:
    """The most modules on one import path; ValueError naming a module on a circle."""
    longest: dict[str, int] = {}
    visiting: set[str] = set()

    def chain(name: str) -> int:
        if name in longest:
            return longest[name]
        if name in visiting:
            raise ValueError(name)
        visiting.add(name)
        longest[name] = 1 + max((chain(t) for t in arrows[name]), default=0)
        visiting.discard(name)
        return longest[name]

    return max(chain(m) for m in modules)


def main() -> int:
    modules = _modules()
    arrows = _arrows(modules)
    try:
        longest = _longest_chain(arrows, modules)
    except ValueError as exc:
        print(json.dumps({"circle_through": str(exc)}))
        return 1
    folders = collections.Counter(m.split(".")[1] for m in modules)
    print(json.dumps({"modules": len(modules), "per_folder": dict(sorted(folders.items())),
                      "arrows": sum(len(v) for v in arrows.values()), "longest_chain_modules": longest}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
