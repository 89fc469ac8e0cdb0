"""The package layering written in docs/ARCHITECTURE.md, checked against the imports.

Every import inside clipcore points down the order below (or stays inside its own
package), and package ``__init__`` files stay light.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "clipcore"

# Bottom to top. "base" is clipcore/__init__, errors, config, parallel; "top" is the CLI
# and the benchmarks.
ORDER = ["base", "catalog", "embedding", "retrieval", "classify", "team", "sources", "top"]
BASE_MODULES = {"errors", "config", "parallel", "csvsafe"}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "clipcore":
        return None
    if len(parts) == 1 or parts[1] in BASE_MODULES:
        return "base"
    if parts[1] in ORDER:
        return parts[1]
    return "top"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "clipcore":
                found += [f"clipcore.{a.name}" for a in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return [m for m in found if m.split(".")[0] == "clipcore"]


def test_every_package_is_known_to_the_layer_order():
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages <= set(ORDER), f"add {packages - set(ORDER)} to ORDER and to docs/ARCHITECTURE.md"


def test_imports_point_down():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        here = _unit(_module_name(path))
        for target in _imports(path):
            there = _unit(target)
            if target in ("clipcore.UNTRAINED_WARNING", "clipcore.__version__"):
                there = "base"
            if there is not None and ORDER.index(there) > ORDER.index(here):
                upward.append(f"{_module_name(path)} ({here}) imports {target} ({there})")
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_layer_order_is_written_in_the_architecture_doc():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    diagram = doc.split("## clipcore: packages by capability", 1)[1].split("```")[1]
    written = [line.split()[0].rstrip("/") for line in diagram.splitlines() if line.split() and line.split()[0].rstrip("/") in ORDER]
    assert written == list(reversed(ORDER)), f"docs/ARCHITECTURE.md lists the layers as {written}"


def test_package_inits_stay_light():
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    code = (
        "import sys\n"
        + "".join(f"import clipcore.{name}\n" for name in packages)
        + "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'open_clip', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- ui/: the Streamlit side, layered the same way ------------------------------------------

UI = ROOT / "ui"
UI_CORE, UI_WIDGETS = "core", "widgets"
UI_PAGE_FOLDERS = {"home", "zero_shot", "label", "evaluate"}


def _ui_graph() -> dict[str, set[str]]:
    """ui module -> the ui modules it imports (module level or inside functions)."""
    modules = {_module_name(p): p for p in UI.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == "ui":
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == "ui"}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _ui_layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ui"


def test_every_ui_folder_is_core_widgets_or_a_page():
    folders = {p.parent.name for p in UI.glob("*/__init__.py")}
    assert folders <= {UI_CORE, UI_WIDGETS} | UI_PAGE_FOLDERS, f"place {folders - {UI_CORE, UI_WIDGETS} - UI_PAGE_FOLDERS} in the ui layers"
    loose = sorted(p.name for p in UI.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"ui modules outside core/, widgets/ or a page folder: {loose}"


def test_ui_imports_point_down():
    """core <- widgets <- page folders; a page folder imports no other page folder."""
    wrong = []
    for module, targets in _ui_graph().items():
        here = _ui_layer(module)
        for target in targets:
            there = _ui_layer(target)
            allowed = {
                UI_CORE: {UI_CORE, "ui"},
                UI_WIDGETS: {UI_CORE, UI_WIDGETS, "ui"},
            }.get(here, {UI_CORE, UI_WIDGETS, here, "ui"})
            if there not in allowed:
                wrong.append(f"{module} ({here}) imports {target} ({there})")
    assert not wrong, "ui imports that point up or across pages:\n" + "\n".join(sorted(wrong))


def test_ui_has_no_import_cycle():
    graph = _ui_graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            assert cycle is None, "ui import cycle: " + " -> ".join(cycle)


def test_no_page_folder_named_pages_and_no_streamlit_internal_patched():
    assert not (ROOT / "pages").exists(), "page scripts live in app_pages/ (a pages/ folder turns on Streamlit's own mode)"
    for path in [ROOT / "app.py", *UI.rglob("*.py"), *(ROOT / "app_pages").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert "PagesManager" not in text and "streamlit.runtime" not in text, f"{path.relative_to(ROOT)} patches a Streamlit internal"


# Environment variables are read in clipcore.config only; these are other tools' own
# variables (read where those tools are called) or wait for a branch that owns the file.
OTHER_TOOLS_ENV = {"TORCH_HOME", "XDG_CACHE_HOME", "HF_ENDPOINT", "PYTHONPATH"}
PENDING_ENV: set[str] = set()  # none left: CLIPCORE_IIIF_ALLOW_PRIVATE was removed by the sign-in issue


def test_clipcore_settings_come_from_config_not_the_environment():
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "config.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "getenv")
                    and "environ" in ast.unparse(node.func.value) + ast.unparse(node.func)):
                name = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "?"
                if name not in OTHER_TOOLS_ENV | PENDING_ENV:
                    found.append(f"{_module_name(path)} reads {name}")
    assert not found, "read these in clipcore.config:\n" + "\n".join(found)


def test_sql_writes_live_in_the_module_that_owns_the_table():
    """docs/ARCHITECTURE.md's table-ownership table is what the code does: every INSERT,
    UPDATE or DELETE of a table is in its owner's module."""
    import re

    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8").split("### Table ownership", 1)[1]
    owners = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            owner = re.findall(r"`([\w.]+)`", cells[1])[0]
            for table in re.findall(r"`(\w+)`", cells[0]):
                owners[table] = "clipcore/" + owner.replace(".", "/") + ".py"
    write = re.compile(r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+(\w+)\b")
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        where = str(path.relative_to(ROOT))
        for table in write.findall(path.read_text(encoding="utf-8")):
            if table in owners and owners[table] != where:
                wrong.append(f"{where} writes {table} (owner: {owners[table]})")
    assert "images" in owners and "jobs" in owners
    assert not wrong, "\n".join(sorted(set(wrong)))
