"""Text hygiene shared by every door: finding and repairing lone surrogates, safe JSON text.

Python strings can hold lone UTF-16 surrogates (JSON `"\\ud800"`, argv bytes that are not
UTF-8) that no UTF-8 writer accepts, so one such character would crash whatever writes it out
(a batch file, the job store, an HTTP response). Input from users is refused at the door
(`first_lone_surrogate`, with where it is); text from elsewhere (model replies, search results)
is repaired (`repair`); writers that must never fail use `dumps`.
"""

from __future__ import annotations

import json
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def first_lone_surrogate(text: str) -> int | None:
    """Index of the first lone surrogate in `text` (a str never holds a valid pair), or None."""
    match = _LONE_SURROGATE.search(text)
    return None if match is None else match.start()


def repair(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so it can be encoded as UTF-8."""
    return _LONE_SURROGATE.sub(REPLACEMENT, text)


def dumps(obj: Any, **kwargs: Any) -> str:
    """`json.dumps` with non-ASCII kept readable, unless the data holds a lone surrogate: then
    it is written as a `\\udXXX` escape, which is valid JSON and reads back as the same string."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, **kwargs)
    return text
