"""Prefix-cache counters read from an inference server's Prometheus `/metrics` (vLLM).

vLLM counts prefix-cache lookups and hits in tokens (`vllm:prefix_cache_queries_total`,
`vllm:prefix_cache_hits_total`; older releases prefix them with `gpu_`). Reading them before and
after a run gives the server's own view of how much prefill the shared-KV layout saved, next to
the per-call `cached_tokens` the ledger records. Deltas include other clients' traffic, so they
are exact only when the run has the server to itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

_COUNTER = re.compile(
    r"^vllm:(?:gpu_)?prefix_cache_(queries|hits)(?:_total)?(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class PrefixCacheCounters:
    queries: float
    hits: float

    def __sub__(self, other: PrefixCacheCounters) -> PrefixCacheCounters:
        return PrefixCacheCounters(self.queries - other.queries, self.hits - other.hits)

    def to_dict(self) -> dict[str, float]:
        rate = self.hits / self.queries if self.queries > 0 else 0.0
        return {"queries": self.queries, "hits": self.hits, "hit_rate": round(rate, 4)}


def parse_prefix_cache_counters(text: str) -> PrefixCacheCounters | None:
    """Sum the prefix-cache counters over all label sets; None when the server has none."""
    totals = {"queries": 0.0, "hits": 0.0}
    found = False
    for kind, value in _COUNTER.findall(text):
        totals[kind] += float(value)
        found = True
    return PrefixCacheCounters(totals["queries"], totals["hits"]) if found else None


def metrics_url(base_url: str) -> str:
    """`/metrics` sits at the server root, beside `/v1`."""
    root = base_url.rstrip("/")
    return (root[: -len("/v1")] if root.endswith("/v1") else root) + "/metrics"


async def read_prefix_cache_counters(
    base_url: str, timeout_s: float = 5.0
) -> PrefixCacheCounters | None:
    """The server's counters now, or None if it exposes none (not vLLM, or unreachable)."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(metrics_url(base_url))
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return parse_prefix_cache_counters(response.text)
