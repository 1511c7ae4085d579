"""The package's shape: modules import each other downhill only, and never each other's
private (underscore) names, so each concept has one home a newcomer can find."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "alsjax"
MODULES = {p.stem: p for p in PACKAGE.glob("*.py")}


def _imports(path: Path):
    """(module, names) for every `from .module import names` in `path`, at any depth."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            yield node.module or "__init__", [a.name for a in node.names]


def _graph() -> dict[str, set[str]]:
    return {name: {m for m, _ in _imports(path)} for name, path in MODULES.items()}


def test_the_checker_sees_imports():
    assert "_simulate" in _graph()["_batch"] and "_model" in _graph()["_simulate"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_from_other_modules(module):
    for source, names in _imports(MODULES[module]):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module} imports {private} from {source}"


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
