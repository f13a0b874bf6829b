from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from leadline.tools.server_metrics import (
    PrefixCacheCounters,
    metrics_url,
    parse_prefix_cache_counters,
    read_prefix_cache_counters,
)

VLLM_METRICS = """# HELP vllm:prefix_cache_queries_total Prefix cache queries, in queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1200.0
vllm:prefix_cache_queries_total{engine="1",model_name="m"} 800.0
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 900.0
vllm:prompt_tokens_total{engine="0",model_name="m"} 5000.0
"""


def test_parses_and_sums_vllm_counters() -> None:
    c = parse_prefix_cache_counters(VLLM_METRICS)
    assert c == PrefixCacheCounters(queries=2000.0, hits=900.0)
    delta = c - PrefixCacheCounters(1000.0, 400.0)
    assert delta.to_dict() == {"queries": 1000.0, "hits": 500.0, "hit_rate": 0.5}
    assert parse_prefix_cache_counters("llamacpp:prompt_tokens_total 3") is None


def test_metrics_url_sits_beside_v1() -> None:
    assert metrics_url("http://h:8000/v1") == "http://h:8000/metrics"
    assert metrics_url("http://h:8000/v1/") == "http://h:8000/metrics"


async def test_reads_counters_from_a_live_endpoint_and_tolerates_none() -> None:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            body = VLLM_METRICS.encode() if self.path == "/metrics" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        port = httpd.server_address[1]
        counters = await read_prefix_cache_counters(f"http://127.0.0.1:{port}/v1")
        assert counters is not None and counters.hits == 900.0
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert await read_prefix_cache_counters(f"http://127.0.0.1:{port}/v1", timeout_s=0.5) is None
