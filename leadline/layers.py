"""The package's layers: a module may import from its own layer or from one below it.

    cli, leadline (the facade: `from leadline import research`)
      ↓
    batch, api, evals, diagnostics, demo          adapters over the core, side by side
      ↓
    core, options                                 research / aresearch: one run, set up and run
      ↓
    graph                                         the LangGraph wiring of the nodes
      ↓
    budgets                                       caps, spend, the guard, the controller's policies
      ↓
    agents, services                              one role each (pure cores); the shared clients
      ↓
    tools                                         I/O: the LLM client, search backends, tokens
      ↓
    errors, config, text, templates, usage, sync, version: import only each other

So a reader can start at the top and go down, and a change to a low layer is the only kind that
can ripple. `tests/test_layers.py` walks every module's imports (functions and `TYPE_CHECKING`
blocks included) and fails on one that points up, or on two modules that import each other.
A module's layer is that of the longest name below that matches it.
"""

from __future__ import annotations

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
    ("leadline.tools",),
    ("leadline.agents", "leadline.services"),
    ("leadline.budgets",),
    ("leadline.graph",),
    ("leadline.core", "leadline.options"),
    ("leadline.batch", "leadline.api", "leadline.evals", "leadline.diagnostics", "leadline.demo"),
    ("leadline.cli", "leadline"),
)


def layer_of(module: str) -> int:
    """The index in `LAYERS` of `module` (a dotted name inside leadline); ValueError if none."""
    best, depth = -1, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and name.count(".") > depth:
                best, depth = index, name.count(".")
    if best < 0:
        raise ValueError(f"{module} is in no layer of leadline.layers.LAYERS")
    return best
