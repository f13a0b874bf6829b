"""leadline: deep research with search as a compute axis.

The public API lives here: `research` / `aresearch` answer one question under a `Budget`;
`research_batch` answers many. Everything else is reachable from the subpackages.
"""

from __future__ import annotations

from leadline.config import Settings, load_settings
from leadline.errors import LeadlineError

__all__ = ["LeadlineError", "Settings", "load_settings"]
__version__ = "0.1.0"
