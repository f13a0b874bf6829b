"""leadline: deep research with search as a compute axis.

The public API lives here:
- `research` / `aresearch` answer one question under a `Budget`, researching as
  `ResearchOptions` say, and return a `ResearchResult` (answer, `Citation`s, `RunUsage`);
  `research_batch` / `aresearch_batch` answer many.
- `search=` takes any `SearchBackend` (an object with `async search(query, k) -> list[Passage]`);
  `llm=` a base URL, an `openai` client or an `LLMClient`.
- Every error leadline raises on purpose is a `LeadlineError`; the classes below it say what
  went wrong (see `leadline.errors` for the tree).

Heavy modules (LangGraph, chromadb) load on first use, so importing leadline (and
`leadline --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from leadline.budgets.budget import Budget, Rates, Spend
from leadline.config import Settings, load_settings
from leadline.errors import (
    BudgetError,
    ConfigError,
    IngestError,
    LeadlineError,
    LLMError,
    LLMOutputError,
    LLMRequestError,
    LLMResponseError,
    LLMTimeout,
    LLMUnavailable,
    ModelError,
    SearchError,
    UnsafeURLError,
)
from leadline.usage import TokenUsage
from leadline.version import __version__ as __version__

_LAZY = {
    "research": "leadline.core",
    "aresearch": "leadline.core",
    "ResearchResult": "leadline.core",
    "Citation": "leadline.core",
    "ResearchOptions": "leadline.options",
    "RunUsage": "leadline.budgets.ledger",
    "LLMClient": "leadline.tools.llm",
    # leadline.tools.search loads numpy and the embedding code: not for `import leadline`.
    "Passage": "leadline.tools.search.base",
    "SearchBackend": "leadline.tools.search.base",
    "research_batch": "leadline.batch",
    "aresearch_batch": "leadline.batch",
    "BatchResult": "leadline.batch",
}

__all__ = [
    "Budget",
    "BudgetError",
    "ConfigError",
    "IngestError",
    "LLMError",
    "LLMOutputError",
    "LLMRequestError",
    "LLMResponseError",
    "LLMTimeout",
    "LLMUnavailable",
    "LeadlineError",
    "ModelError",
    "Rates",
    "SearchError",
    "Settings",
    "Spend",
    "TokenUsage",
    "UnsafeURLError",
    "load_settings",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        # Bind the name on first use so later lookups skip __getattr__.
        globals()[name] = value
        return value
    raise AttributeError(f"module 'leadline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
