"""leadline: deep research with search as a compute axis.

The public API lives here: `research` / `aresearch` answer one question under a `Budget`;
`research_batch` / `aresearch_batch` answer many. Heavy modules (LangGraph, chromadb) load on
first use, so importing leadline (and `leadline --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from leadline.budgets.budget import Budget, Rates, Spend
from leadline.config import Settings, load_settings
from leadline.errors import LeadlineError
from leadline.version import __version__ as __version__

_LAZY = {
    "research": "leadline.core",
    "aresearch": "leadline.core",
    "ResearchResult": "leadline.core",
    "Citation": "leadline.core",
    "research_batch": "leadline.batch",
    "aresearch_batch": "leadline.batch",
}

__all__ = ["Budget", "LeadlineError", "Rates", "Settings", "Spend", "load_settings", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        # Bind the function on first use so later lookups skip __getattr__.
        globals()[name] = value
        return value
    raise AttributeError(f"module 'leadline' has no attribute {name!r}")
