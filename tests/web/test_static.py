"""The page's files as the server sends them: served from the package, locked down by headers,
behind the same Host check as the API, and self-contained (nothing loaded from elsewhere)."""

from __future__ import annotations

import re

import pytest

from leadline.api.server import page_url
from leadline.web import STATIC_DIR
from tests.api.harness import ApiHarness, Stack

REMOTE = re.compile(r"""(?:src|href)=["']?(?:https?:)?//|url\(\s*["']?https?:|from\s+["']https?:""")
AS_HTML = re.compile(r"\.(?:inner|outer)HTML\s*=|insertAdjacentHTML|document\.write")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    stack = Stack(tmp_path_factory.mktemp("static"))
    try:
        yield stack.api()
    finally:
        stack.close()


def test_the_page_is_served_at_the_root_with_a_strict_policy(api: ApiHarness) -> None:
    with api.client() as client:
        page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert '<script type="module" src="/static/js/main.js">' in page.text


def test_every_file_the_page_names_is_served_from_the_package(api: ApiHarness) -> None:
    files = sorted(p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.*"))
    assert "js/main.js" in files and "page.css" in files
    with api.client() as client:
        for name in files:
            response = client.get(f"/static/{name}")
            assert response.status_code == 200, name
            assert "content-security-policy" in response.headers
            if name.endswith(".js"):
                assert "javascript" in response.headers["content-type"]
        assert client.get("/static/nope.js").status_code == 404
        assert client.get("/static/../__init__.py").status_code == 404


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """Offline and air-gapped use: no CDN, no remote font, no absolute URL in any file."""
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            text = path.read_text()
            remote = REMOTE.findall(text)
            assert not remote, f"{path.name} loads something from elsewhere: {remote}"
            parsed = AS_HTML.findall(text)
            assert not parsed, f"{path.name}: text from a model must not be parsed as HTML"


def test_the_page_is_behind_the_rebinding_check(api: ApiHarness) -> None:
    with api.client() as client:
        assert client.get("/", headers={"Host": "attacker.example"}).status_code == 403
        assert client.get("/", headers={"Host": f"localhost:{api.port}"}).status_code == 200


def test_the_printed_address_opens_the_page() -> None:
    assert page_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert page_url("::1", 8000) == "http://[::1]:8000/"
