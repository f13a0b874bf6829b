"""What a client may ask for: collections with sizes, the server's limits, and the checks that
use them (an unknown collection refused at submit time); cited passages kept with a result."""

from __future__ import annotations

from pathlib import Path

from leadline.api.config import ApiConfig
from leadline.config import Settings
from leadline.services import Services
from leadline.tools.llm import LLMClient
from leadline.tools.search.catalog import StoreCatalog
from leadline.tools.search.corpus import LocalCorpus
from tests.api.harness import QUESTION, Stack, quick_handler, scripted_factory, submit, wait_for
from tests.fakes.llm_server import Reply
from tests.fakes.search import MemoryCatalog, MemorySearch, make_passages
from tests.tools.search.conftest import HashEmbedding


def catalog_api(stack: Stack, config: ApiConfig | None = None):  # type: ignore[no-untyped-def]
    llm = stack.llm()
    factory = scripted_factory(llm.base_url, catalog=MemoryCatalog({"wiki": 12, "news": 3}))
    return stack.api(llm, config=config, factory=factory)


def test_collections_are_listed_with_their_sizes(stack: Stack) -> None:
    api = catalog_api(stack, ApiConfig(default_collection="wiki"))
    with api.client() as client:
        body = client.get("/v1/collections").json()
    assert body == {
        "object": "list",
        "data": [{"name": "news", "passages": 3}, {"name": "wiki", "passages": 12}],
        "default": "wiki",
    }


def test_a_fixed_backend_lists_the_default_collection_size_unknown(stack: Stack) -> None:
    api = stack.api()
    with api.client() as client:
        body = client.get("/v1/collections").json()
    assert body["data"] == [{"name": "default", "passages": None}]
    assert body["default"] == "default"


def test_an_unknown_collection_is_refused_when_submitted(stack: Stack) -> None:
    api = catalog_api(stack)
    with api.client() as client:
        response = client.post("/v1/research", json={"question": QUESTION, "collection": "wikki"})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "unknown_collection" and error["param"] == "collection"
        assert "no collection 'wikki'" in error["message"] and "news, wiki" in error["message"]
        job = wait_for(client, submit(client, collection="news"))
        # The default too: "default" was never ingested here, so a run could only fail later.
        unnamed = client.post("/v1/research", json={"question": QUESTION})
    assert job["status"] == "succeeded" and job["request"]["collection"] == "news"
    assert unnamed.status_code == 422 and "no collection 'default'" in unnamed.text


def test_limits_say_what_a_request_may_ask_for(stack: Stack) -> None:
    api = stack.api(config=ApiConfig(max_tokens=20_000, max_search_steps=4, max_compute=9e4))
    with api.client() as client:
        limits = client.get("/v1/limits").json()
        over = client.post(
            "/v1/research", json={"question": QUESTION, "budget": {"max_tokens": 20_001}}
        )
    budget = limits["budget"]
    assert budget["max_tokens"] == {"default": 16_000, "min": 400, "max": 20_000}
    assert budget["max_search_steps"] == {"default": 4, "min": 0, "max": 4}
    assert budget["max_compute"]["max"] == 9e4 and budget["rates"]["search_step"] == 250.0
    assert budget["answer_tokens"]["max"] == 1024
    assert limits["policy"] == {
        "default": "adaptive",
        "choices": ["fixed", "adaptive", "allocate"],
    }
    assert limits["shape"]["choices"] == ["sequential", "parallel", "auto"]
    assert limits["kv_mode"]["choices"] == ["shared", "isolated"]
    assert limits["max_question_chars"] == 4000
    # The maximum the limits announce is the one submissions are held to.
    assert over.status_code == 422 and "maximum of 20000" in over.json()["error"]["message"]


def test_the_three_axes_and_the_token_unit_within_the_servers_bounds(stack: Stack) -> None:
    config = ApiConfig(max_reasoning_tokens=900, max_width=3, cached_token_rate=0.25)
    api = stack.api(config=config)

    def post(**budget: object) -> object:
        return client.post("/v1/research", json={"question": QUESTION, "budget": budget})

    with api.client() as client:
        limits = client.get("/v1/limits").json()["budget"]
        ok = post(max_reasoning_tokens=600, reasoning_step_tokens=128, width=3)
        wide = post(width=4)
        cheap = post(cached_token_rate=0.1)
        strict = post(cached_token_rate=1.0)
        unlimited = post(max_reasoning_tokens=None)
    assert limits["width"] == {"default": 1, "min": 1, "max": 3}
    assert limits["max_reasoning_tokens"] == {"default": 900, "min": 0, "max": 900}
    assert limits["cached_token_rate"] == {"default": 0.25, "min": 0.25, "max": 1.0}
    assert ok.status_code == 202, ok.text
    job = client_budget(api, ok.json()["id"])
    assert (job["max_reasoning_tokens"], job["reasoning_step_tokens"], job["width"]) == (
        600,
        128,
        3,
    )
    assert job["cached_token_rate"] == 0.25  # the server's unit when the request names none
    assert wide.status_code == 422 and "maximum of 3" in wide.text
    assert cheap.status_code == 422 and "below this server's rate" in cheap.text
    assert strict.status_code == 202
    assert unlimited.status_code == 422 and "cannot be unlimited" in unlimited.text


def client_budget(api: object, job_id: str) -> dict[str, object]:
    with api.client() as client:  # type: ignore[attr-defined]
        return client.get(f"/v1/research/{job_id}").json()["request"]["budget"]


def test_options_need_the_key_when_the_server_has_keys(stack: Stack) -> None:
    api = stack.api(config=ApiConfig(api_keys=("right",)))
    with api.client("wrong") as wrong, api.client("right") as right:
        assert wrong.get("/v1/collections").json()["error"]["code"] == "invalid_api_key"
        assert wrong.get("/v1/limits").status_code == 401
        assert right.get("/v1/limits").status_code == 200


def test_a_result_keeps_the_text_of_each_cited_passage(stack: Stack) -> None:
    api = stack.api()
    with api.client() as client:
        job = wait_for(client, submit(client))
        listed = client.get("/v1/research").json()["data"][0]
    passages = job["result"]["passages"]
    citation = job["result"]["citations"][0]
    assert [p["passage_id"] for p in passages] == [citation["passage_id"]] == ["p5"]
    assert passages[0]["title"] == "Topic 5" and passages[0]["source"] == "mem://5"
    assert citation["quote"] in passages[0]["text"]
    assert listed["error"] is None and listed["answer"] == "Topic 5"


def test_the_list_says_why_a_job_was_cancelled(stack: Stack) -> None:
    api = stack.api(stack.llm(quick_handler(planner=Reply("{}", delay_s=2))))
    with api.client() as client:
        job_id = submit(client)
        assert client.post(f"/v1/research/{job_id}/cancel").status_code == 200
        listed = client.get("/v1/research").json()["data"][0]
    assert listed["status"] == "cancelled" and listed["error"] == "cancelled by request"


async def test_the_store_catalog_lists_a_real_store(tmp_path: Path) -> None:
    corpus = LocalCorpus.embedded(tmp_path, "topics", embedding=HashEmbedding())
    corpus.add(make_passages(4), progress=False)
    LocalCorpus.embedded(tmp_path, "empty", embedding=HashEmbedding()).close()
    catalog = StoreCatalog(Settings(data_dir=tmp_path))
    try:
        listed = [c.to_dict() for c in await catalog.collections()]
    finally:
        await catalog.aclose()
        corpus.close()
    assert listed == [{"name": "empty", "passages": 0}, {"name": "topics", "passages": 4}]


async def test_services_list_collections_only_without_a_fixed_backend(tmp_path: Path) -> None:
    llm = LLMClient(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    try:
        fixed = Services(settings=Settings(data_dir=tmp_path), llm=llm, search=MemorySearch([]))
        assert await fixed.collections() is None  # a fixed backend answers to every name
        store = Services(settings=Settings(data_dir=tmp_path), llm=llm)
        assert await store.collections() == []  # an empty store: nothing ingested yet
        await store.catalog.aclose()
    finally:
        await llm.aclose()
