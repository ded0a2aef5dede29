"""Imports run one way. Every `cortexrnn.*` import in every file of each top-level folder,
including imports inside functions and modules named by a string to `import_module`, is
parsed and checked against the layer rules below;
`import cortexrnn.x` and `from cortexrnn import x` count the same as `from cortexrnn.x import y`.

Layers, bottom up (each may import those below it):

    wire      the request/response models (pure pydantic), shared by server and client
    services  the science, including the experiment spec
    shared    settings, database models, run/pack lifecycle, registries
    api, worker   (siblings: neither imports the other)
    cli       the server-side `cortexrnn` command

`client/` imports `wire` and itself; its optional local science (spec validation, templates,
dataset conversion, the replication document) goes through `client/science.py` alone.
`migrations/` imports `shared`.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

ALLOWED: dict[str, set[str]] = {
    "wire": set(),
    "services": {"wire"},
    "shared": {"wire", "services"},
    "api": {"wire", "services", "shared"},
    "worker": {"wire", "services", "shared"},
    "cli": {"wire", "services", "shared", "api", "worker"},
    "client": {"wire"},
    "migrations": {"shared"},
}
# The client's one door to the science (optional: a client-only install has no torch).
EXCEPTIONS: dict[str, set[str]] = {"client/science.py": {"services"}}


@dataclass(frozen=True)
class Edge:
    source: str  # file, relative to the repository
    line: int
    target: str  # top-level folder imported


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _targets(node: ast.AST) -> list[str]:
    """The top-level cortexrnn folders an import statement reaches."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == "cortexrnn":
            names = [f"cortexrnn.{alias.name}" for alias in node.names]
        else:
            names = [node.module]
    elif isinstance(node, ast.Call) and _callee(node) in ("import_module", "__import__"):
        # A module named by a string is still an import: it must not slip past the rules.
        names = [
            a.value
            for a in node.args[:1]
            if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
    return [n.split(".")[1] for n in names if n.startswith("cortexrnn.")]


def imports_of(folder: str) -> list[Edge]:
    edges = []
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(tree):
            edges += [Edge(rel, node.lineno, t) for t in _targets(node)]
    edges.sort(key=lambda e: (e.source, e.line))
    return edges


def violations(folder: str) -> list[str]:
    out = []
    for edge in imports_of(folder):
        if edge.target == folder:
            continue
        allowed = ALLOWED[folder] | EXCEPTIONS.get(edge.source, set())
        if edge.target not in allowed:
            out.append(f"{edge.source}:{edge.line} imports cortexrnn.{edge.target}")
    return out


def test_every_package_folder_has_a_layer() -> None:
    """setup.py's FOLDERS (what the wheel ships) are exactly the folders with a rule."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    folders = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "FOLDERS"
    )
    assert set(folders) == set(ALLOWED)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_imports_point_down(folder: str) -> None:
    assert violations(folder) == []


def test_the_checker_sees_imports_inside_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A science module that reaches up into the database layer from inside a function, or
    through `from cortexrnn import shared`, is caught."""
    pkg = tmp_path / "services"
    pkg.mkdir()
    (pkg / "bad.py").write_text(
        "def f():\n    from cortexrnn.shared.db import session_scope\n\n"
        "from cortexrnn import shared\nimport cortexrnn.services.spec\n"
        "importlib.import_module('cortexrnn.api.app')\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert violations("services") == [
        "services/bad.py:2 imports cortexrnn.shared",
        "services/bad.py:4 imports cortexrnn.shared",
        "services/bad.py:6 imports cortexrnn.api",
    ]
