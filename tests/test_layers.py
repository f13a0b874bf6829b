"""Imports only point down: every module's leadline imports against `leadline.layers.LAYERS`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import leadline
from leadline.layers import KNOWN_UPWARD, LAYERS, layer_of

PACKAGE = Path(leadline.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every leadline module `path` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            # `from leadline.agents import planner` imports the module leadline.agents.planner
            names += [f"{node.module}.{a.name}" for a in node.names]
            found.update(n for n in names if _is_module(n))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if _is_module(a.name))
    return found


def _is_module(name: str) -> bool:
    if name != "leadline" and not name.startswith("leadline."):
        return False
    rel = Path(*name.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").exists() or (PACKAGE.parent / rel).is_dir()


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer() -> None:
    for module in import_graph():
        layer_of(module)


def upward_imports() -> set[tuple[str, str]]:
    return {
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        # importing a package runs its __init__, which is not a dependency on what it exports
        if layer_of(target) > layer_of(module) and not module.startswith(target + ".")
    }


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = upward_imports()
    unexpected = sorted(
        f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
        for m, t in upward - KNOWN_UPWARD.keys()
    )
    assert unexpected == []
    assert sorted(KNOWN_UPWARD.keys() - upward) == []  # fixed: take it off the list


def test_no_two_modules_import_each_other() -> None:
    graph = import_graph()
    cycles = sorted(
        f"{a} <-> {b}"
        for a, targets in graph.items()
        for b in targets
        if a < b and a in graph.get(b, ())
    )
    assert cycles == []


def test_the_layer_list_names_real_modules() -> None:
    for names in LAYERS:
        for name in names:
            assert _is_module(name), name


def test_the_facade_is_only_the_package_itself() -> None:
    assert layer_of("leadline") == len(LAYERS) - 1
    with pytest.raises(ValueError, match="no layer"):
        layer_of("leadline.unlisted")


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from leadline.core import research\n", "utf-8")
    (target,) = imports_of(bad)
    assert layer_of(target) > layer_of("leadline.tools.llm")
