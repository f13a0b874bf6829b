"""The package's layers: a module may import from its own layer or from one below it.

    cli, leadline (the facade: `from leadline import research`)
      ↓
    batch, api, web, evals, diagnostics, demo     adapters over the core, side by side
      ↓
    core, options, precompute.{distil,job,sleep}  the operations: research one question (set
                                                  up and run), precompute a collection
      ↓
    graph                                         the LangGraph wiring of the nodes, and the
                                                  final reader (graph/read.py: it spends from
                                                  the budget, so it sits above it)
      ↓
    budgets                                       caps, spend, the guard, the controller's policies
      ↓
    agents, services                              planner, searcher, reasoner: one role each
                                                  (pure cores); the shared clients
      ↓
    tools, precompute.{store,links,progress,search}   I/O: the LLM client, search backends
                                                  (precomputed results included), tokens
      ↓
    errors, config, text, templates, usage, sync, version: import only each other

So a reader can start at the top and go down, and a change to a low layer is the only kind that
can ripple. `tests/test_layers.py` walks every module's imports (functions and `TYPE_CHECKING`
blocks included) and fails on one that points up, or on two modules that import each other.
A module's layer is that of the longest name below that matches it (the facade `leadline`
matches only the package's own `__init__`). `KNOWN_UPWARD` lists the imports that still point
up, each with why and how it goes away; the test fails on any other, and on an entry that no
longer happens, so the list only shrinks.
"""

from __future__ import annotations

FACADE = "leadline"

LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "leadline.errors",
        "leadline.config",
        "leadline.text",
        "leadline.templates",
        "leadline.usage",
        "leadline.sync",
        "leadline.version",
        "leadline.layers",
    ),
    ("leadline.tools", "leadline.precompute"),
    ("leadline.agents", "leadline.services"),
    ("leadline.budgets",),
    ("leadline.graph",),
    (
        "leadline.core",
        "leadline.options",
        "leadline.precompute.distil",
        "leadline.precompute.job",
        "leadline.precompute.sleep",
    ),
    (
        "leadline.batch",
        "leadline.api",
        "leadline.web",
        "leadline.evals",
        "leadline.diagnostics",
        "leadline.demo",
    ),
    ("leadline.cli", FACADE),
)

# (module, what it imports from a layer above it): why, and what removes it.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> int:
    """The index in `LAYERS` of `module` (a dotted name inside leadline); ValueError if none."""
    best, depth = -1, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            inside = module.startswith(name + ".") and name != FACADE
            if (module == name or inside) and name.count(".") > depth:
                best, depth = index, name.count(".")
    if best < 0:
        raise ValueError(f"{module} is in no layer of leadline.layers.LAYERS")
    return best
