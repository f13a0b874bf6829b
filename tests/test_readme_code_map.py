"""The README's "Follow one research step" stays true: at most five files, real modules, real
functions, and no other module of `agents/` or `graph/` that a reader would have to open."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.test_layers import PACKAGE, imports_of, module_name

ROOT = PACKAGE.parent
HEADING = "### Follow one research step"
MAX_FILES = 5
ITEM = re.compile(r"^\d+\. `(leadline/[\w/]+\.py)`: (.*)$")
PATH = re.compile(r"`(leadline/[\w/]+\.py)`")
STEP_PACKAGES = ("leadline.agents.", "leadline.graph.")


def section() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    start = text.index(HEADING) + len(HEADING)
    end = text.find("\n#", start)
    return text[start:] if end < 0 else text[start:end]


def steps() -> dict[str, str]:
    """Each listed file, in order, with the text of its item (wrapped lines joined)."""
    items: dict[str, str] = {}
    current = None
    for line in section().splitlines():
        match = ITEM.match(line)
        if match:
            current = match.group(1)
            items[current] = match.group(2)
        elif current is not None and line.startswith("   "):
            items[current] += " " + line.strip()
        else:
            current = None
    return items


def defined_names(path: Path) -> set[str]:
    """A module's top-level functions and classes, and the methods of those classes."""
    names: set[str] = set()
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(
                n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def test_one_step_reads_in_at_most_five_files() -> None:
    listed = steps()
    assert 0 < len(listed) <= MAX_FILES, listed
    assert next(iter(listed)) == "leadline/graph/build.py"  # the walk starts at the graph


def test_each_listed_file_exists_and_defines_what_its_line_cites() -> None:
    for path, text in steps().items():
        assert (ROOT / path).is_file(), path
        cited = set(re.findall(r"`([A-Za-z_]\w*)`", text))
        assert cited, f"{path}: its line cites no function"
        assert sorted(cited - defined_names(ROOT / path)) == [], path


def test_the_listed_files_use_no_step_module_left_out_of_the_section() -> None:
    mentioned = PATH.findall(section())  # the listed files and those "looked up, not followed"
    assert all((ROOT / p).is_file() for p in mentioned)
    named = {module_name(ROOT / p) for p in mentioned}
    for path in steps():
        used = {t for t in imports_of(ROOT / path) if t.startswith(STEP_PACKAGES)}
        assert sorted(used - named) == [], path
