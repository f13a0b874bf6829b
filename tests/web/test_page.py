"""The research page in a real browser (headless Chromium), against a real server and the
scripted LLM: ask, watch the steps stream in, check the citations, cancel, errors, history,
and a stream that survives a reload and a lost connection."""

from __future__ import annotations

import re
from typing import Any

import pytest

from leadline.api.config import ApiConfig
from tests.api.harness import ApiHarness, Stack, quick_handler, scripted_factory, submit, wait_for
from tests.fakes.llm_server import Handler, Reply, by_role
from tests.fakes.search import MemoryCatalog
from tests.graph.helpers import answer_reply, plan_reply, reason_reply
from tests.web.conftest import OpenPage, save_screenshots

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: pip install -e '.[dev]'"
)
expect = sync_api.expect

QUESTION = "Which topic holds fact number 5?"
STEPS = ["status", "plan", "search", "reason", "search", "reason", "answer", "result"]


def paced(delay: float = 0.3, first_reason_delay: float | None = None) -> Handler:
    """Plan, a search, a step that asks for more, a second search, a step that settles, the
    answer: every reply `delay` seconds late, so the page shows a run as it goes."""
    first = delay if first_reason_delay is None else first_reason_delay
    return by_role(
        planner=Reply(plan_reply(["topic 5"], hops=1), delay_s=delay),
        reasoner=[
            Reply(reason_reply(next_queries=["topic 7"], note="Need topic 7 too."), delay_s=first),
            Reply(reason_reply("Topic 5", 0.9, done=True, note="[1] says it."), delay_s=delay),
        ],
        answer=Reply(answer_reply("Topic 5", [1]), delay_s=delay),
    )


def page_api(
    stack: Stack, handler: Handler | None = None, config: ApiConfig | None = None, **kwargs: Any
) -> ApiHarness:
    """A server with two collections, "topics" the default, and the scripted LLM."""
    llm = stack.llm(handler or paced())
    catalog = MemoryCatalog({"topics": 12, "archive": 3})
    factory = scripted_factory(llm.base_url, catalog=catalog)
    config = (config or ApiConfig()).model_copy(update={"default_collection": "topics"})
    return stack.api(llm, config=config, factory=factory, **kwargs)


def ask(page: Any, question: str = QUESTION, **fields: str) -> None:
    """Fill the form from the keyboard and send it with Ctrl+Enter."""
    expect(page.locator("#collection option")).not_to_have_count(0)
    for name, value in fields.items():
        if page.locator(f"select#{name}").count():
            page.select_option(f"#{name}", value)
        else:
            page.fill(f"#{name}", value)
    page.focus("#question")
    page.keyboard.type(question)
    page.keyboard.press("Control+Enter")


def steps(page: Any) -> list[str]:
    return page.locator("#timeline li.ev").evaluate_all("items => items.map(i => i.dataset.type)")


def job_id_of(page: Any) -> str:
    expect(page).to_have_url(re.compile(r"#job=\w+$"))
    return page.url.rsplit("=", 1)[1]


def is_submit(request: Any) -> bool:
    return bool(request.method == "POST" and request.url.endswith("/v1/research"))


def wait_status(page: Any, status: str, timeout: float = 30_000) -> None:
    expect(page.locator("#run-status")).to_have_attribute("data-status", status, timeout=timeout)


def test_a_question_shows_its_steps_in_order_then_a_cited_answer(
    stack: Stack, open_page: OpenPage
) -> None:
    api = page_api(stack)
    page = open_page(api)
    expect(page.locator("#collection option")).to_have_text(
        ["archive (3 passages)", "topics (12 passages)"]
    )
    expect(page.locator("#key-field")).to_be_hidden()  # this server has no keys
    expect(page.locator('[data-limit="max_tokens"]')).to_have_text("max 16,000")
    page.locator("details.more summary").click()  # K lives under "More settings"
    ask(page, collection="topics", policy="fixed", max_search_steps="4", reader_passages="5")
    job_id = job_id_of(page)
    expect(page.locator("#timeline li.ev").first).to_be_visible()
    page.evaluate("window.__layoutShift = 0")  # from here on the page moves by itself only
    expect(page.locator("#timeline [data-type=plan]")).to_contain_text("Plan · 1 hop")
    wait_status(page, "succeeded")

    assert steps(page) == STEPS
    search = page.locator("#timeline [data-type=search]").first
    expect(search).to_contain_text("Search “")
    expect(search.locator(".kept li").first).to_have_text(re.compile(r"Topic \d+"))
    reason = page.locator("#timeline [data-type=reason]")
    expect(reason.first).to_contain_text("Need topic 7 too.")
    expect(reason.last).to_contain_text("Anytime answer: Topic 5 · confidence 0.90")
    expect(page.locator("#meters")).to_contain_text("2 / 4")  # two search steps of four
    expect(page.locator("#meters")).to_contain_text("% cached")
    expect(page.locator("#answer .answer-text")).to_contain_text("Topic 5")
    expect(page.locator("#chart .step-dot")).to_have_count(2)
    expect(page.locator("#chart .final-star")).to_have_count(1)
    layout_shift = page.evaluate("window.__layoutShift")
    assert layout_shift < 0.01, f"the page moved while the run streamed (CLS {layout_shift:.3f})"
    expect(page.locator(f'#jobs button[data-id="{job_id}"]')).to_contain_text("answer: Topic 5")
    shots = save_screenshots(page, "research-page")
    assert all(p.stat().st_size > 10_000 for p in shots)

    # Each citation opens its passage, the quote marked in it; Escape closes it.
    cite = page.locator("#citations button.cite").first
    cite.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#passage")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#passage-title")).to_have_text("[1] Topic 5")
    expect(dialog.locator("#passage-source")).to_have_text("Source: mem://5")
    expect(dialog.locator("mark")).to_have_text("Fact number 5 about topic 5.")
    expect(dialog.locator("#passage-text")).to_contain_text("Fact number 5 about topic 5. Fact")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.activeElement.dataset.evidence") == "1"  # focus came back


def test_cancel_stops_a_run(stack: Stack, open_page: OpenPage) -> None:
    api = page_api(stack, paced(0.2, first_reason_delay=30))
    page = open_page(api)
    ask(page)
    job_id = job_id_of(page)
    expect(page.locator("#timeline [data-type=search]")).to_have_count(1)
    expect(page.locator("#cancel")).to_be_enabled()
    page.click("#cancel")
    wait_status(page, "cancelled", timeout=10_000)
    expect(page.locator("#run-status")).to_have_text("Cancelled: cancelled by request")
    expect(page.locator("#answer")).to_contain_text("Cancelled: cancelled by request")
    expect(page.locator("#cancel")).to_be_disabled()
    assert "reason" not in steps(page)
    with api.client() as client:
        assert client.get(f"/v1/research/{job_id}").json()["status"] == "cancelled"


def test_a_wrong_key_is_refused_with_a_message(stack: Stack, open_page: OpenPage) -> None:
    api = page_api(stack, quick_handler(), ApiConfig(api_keys=("right-key",)))
    page = open_page(api)
    key = page.locator("#api-key")
    expect(key).to_be_visible()
    expect(page.locator("#key-error")).to_have_text(
        "This server has API keys: enter yours to begin."
    )
    key.fill("wrong-key")
    key.press("Tab")  # a change event
    expect(page.locator("#key-error")).to_have_text(
        "The server refused the API key: invalid API key"
    )
    expect(key).to_have_attribute("aria-invalid", "true")
    page.fill("#question", QUESTION)
    page.click("#ask-submit")
    expect(page.locator("#key-error")).to_have_text(
        "The server refused the API key: invalid API key"
    )
    assert "#job=" not in page.url

    key.fill("right-key")
    key.press("Tab")
    expect(page.locator("#key-error")).to_be_hidden()
    expect(page.locator("#collection option")).to_have_count(2)
    page.click("#ask-submit")
    wait_status(page, "succeeded")
    expect(page.locator("#answer .answer-text")).to_contain_text("Topic 5")


def test_refusals_are_shown_next_to_their_field(stack: Stack, open_page: OpenPage) -> None:
    api = page_api(stack, quick_handler(), ApiConfig(max_tokens=20_000))
    page = open_page(api)
    expect(page.locator('[data-limit="max_tokens"]')).to_have_text("max 20,000")
    ask(page, max_tokens="50000")
    budget_error = page.locator("#budget-error")
    expect(budget_error).to_have_text(
        "budget.max_tokens=50000 is above this server's maximum of 20000"
    )
    expect(page.locator("#max_tokens")).to_have_attribute("aria-invalid", "true")

    # A collection that went away after the list was loaded.
    page.fill("#max_tokens", "12000")
    page.evaluate(
        """() => { const s = document.getElementById("collection");
                   s.append(new Option("gone (1 passages)", "gone")); s.value = "gone"; }"""
    )
    page.click("#ask-submit")
    expect(budget_error).to_be_hidden()
    expect(page.locator("#collection-error")).to_contain_text(
        "no collection 'gone' on this server (collections: archive, topics)"
    )
    assert "#job=" not in page.url


def test_width_and_reasoning_tokens_go_into_the_request(stack: Stack, open_page: OpenPage) -> None:
    api = page_api(stack, quick_handler())
    page = open_page(api)
    # Filled from /v1/limits like the other caps: a default where the server has one, else empty.
    expect(page.locator("#width")).to_have_value("1")
    expect(page.locator('[data-limit="width"]')).to_have_text("max 16")
    expect(page.locator("#max_reasoning_tokens")).to_have_value("")
    expect(page.locator('[data-limit="max_reasoning_tokens"]')).to_have_text("no maximum")
    expect(page.locator("#reasoning_step_tokens")).to_have_value("")
    expect(page.locator('[data-limit="reasoning_step_tokens"]')).to_have_text("max 4,096")
    expect(page.locator("#cached_token_rate")).to_have_value("0.1")
    expect(page.locator('[data-limit="cached_token_rate"]')).to_have_text("0.1 to 1")
    with page.expect_request(is_submit) as sent:
        ask(page, policy="fixed", width="3", max_reasoning_tokens="520")
    budget = sent.value.post_data_json["budget"]
    assert budget["width"] == 3 and budget["max_reasoning_tokens"] == 520
    assert budget["cached_token_rate"] == 0.1
    assert "reasoning_step_tokens" not in budget  # left empty: the server's default
    job_id = job_id_of(page)
    wait_status(page, "succeeded")
    with api.client() as client:
        job = client.get(f"/v1/research/{job_id}").json()
    assert job["request"]["budget"]["width"] == 3
    assert job["request"]["budget"]["max_reasoning_tokens"] == 520
    assert job["request"]["budget"]["reasoning_step_tokens"] is None
    assert job["result"]["caps"]["width"] == 3
    assert len(job["result"]["reader_samples"]) == 3  # the reader answered three times


def test_a_budget_axis_above_the_limit_is_refused_by_its_field(
    stack: Stack, open_page: OpenPage
) -> None:
    config = ApiConfig(max_width=4, max_reasoning_tokens=1_000, cached_token_rate=0.25)
    page = open_page(page_api(stack, quick_handler(), config))
    expect(page.locator('[data-limit="width"]')).to_have_text("max 4")
    expect(page.locator("#max_reasoning_tokens")).to_have_value("1000")
    expect(page.locator('[data-limit="max_reasoning_tokens"]')).to_have_text("max 1,000")
    ask(page, width="8")
    budget_error = page.locator("#budget-error")
    expect(budget_error).to_have_text("budget.width=8 is above this server's maximum of 4")
    expect(page.locator("#width")).to_have_attribute("aria-invalid", "true")

    page.fill("#width", "2")
    page.fill("#max_reasoning_tokens", "5000")
    page.click("#ask-submit")
    expect(budget_error).to_have_text(
        "budget.max_reasoning_tokens=5000 is above this server's maximum of 1000"
    )
    expect(page.locator("#max_reasoning_tokens")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#width")).not_to_have_attribute("aria-invalid", "true")

    # A rate below the server's, under "More settings": shown there, which opens to show it.
    page.fill("#max_reasoning_tokens", "800")
    more = page.locator("details.more")
    more.locator("summary").click()
    expect(page.locator('[data-limit="cached_token_rate"]')).to_have_text("0.25 to 1")
    page.fill("#cached_token_rate", "0.1")
    more.locator("summary").click()
    expect(more).not_to_have_attribute("open", "")
    page.click("#ask-submit")
    expect(page.locator("#budget-more-error")).to_have_text(
        "budget.cached_token_rate=0.1 is below this server's rate of 0.25 "
        "(cached prompt tokens cannot count for less)"
    )
    expect(budget_error).to_be_hidden()
    expect(more).to_have_attribute("open", "")
    expect(page.locator("#cached_token_rate")).to_be_focused()
    expect(page.locator("#cached_token_rate")).to_have_attribute("aria-invalid", "true")
    assert "#job=" not in page.url


def test_a_step_the_budget_skips_says_why(stack: Stack, open_page: OpenPage) -> None:
    page = open_page(page_api(stack, quick_handler()))
    ask(page, policy="fixed", max_search_steps="1")
    wait_status(page, "succeeded")
    expect(page.locator("#timeline [data-type=reason]")).to_contain_text(
        "No reasoning: the budget leaves no room for another round"
    )
    expect(page.locator("#chart .step-dot")).to_have_count(0)
    expect(page.locator("#chart .final-label")).to_have_text("final: Topic 5")


def test_the_history_reopens_finished_jobs_and_says_why_others_ended(
    stack: Stack, open_page: OpenPage
) -> None:
    def handler(body: dict[str, Any]) -> Any:
        text = str(body.get("messages"))
        if "fails" in text:
            return Reply(status=500)
        if "slow" in text:
            return Reply(plan_reply(["topic 5"], hops=1), delay_s=5)
        return quick_handler()(body)

    api = page_api(stack, handler)
    with api.client() as client:
        answered = submit(client)
        wait_for(client, answered)
        failed = submit(client, "Which question fails?")
        wait_for(client, failed)
        cancelled = submit(client, "Which slow question is cancelled?")
        client.post(f"/v1/research/{cancelled}/cancel")
        for n in range(9):  # more than a page of ten
            wait_for(client, submit(client, f"What is topic {n}?"))

    page = open_page(api)
    rows = page.locator("#jobs button.job")
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("What is topic 8?")  # newest first
    page.click("#more-jobs")
    expect(rows).to_have_count(12)
    expect(page.locator("#more-jobs")).to_be_hidden()
    expect(page.locator(f'#jobs [data-id="{cancelled}"]')).to_contain_text("cancelled by request")
    expect(page.locator(f'#jobs [data-id="{failed}"] .job-meta')).to_contain_text(
        re.compile(r"failed .*(scripted HTTP 500|no usable reply|error)", re.I)
    )

    page.locator(f'#jobs [data-id="{answered}"]').click()
    expect(page).to_have_url(re.compile(f"#job={answered}$"))
    wait_status(page, "succeeded")
    assert steps(page) == ["status", "plan", "search", "reason", "answer", "result"]
    expect(page.locator("#run-question")).to_have_text(QUESTION)
    page.locator("#answer button.cite-inline").first.click()
    expect(page.locator("#passage mark")).to_have_text("Fact number 5 about topic 5.")
    page.click("#passage button:has-text('Close')")
    expect(page.locator("#passage")).to_be_hidden()

    page.locator(f'#jobs [data-id="{failed}"]').click()
    wait_status(page, "failed")
    expect(page.locator("#answer .answer-missing")).to_contain_text("No answer:")
    page.locator(f'#jobs [data-id="{cancelled}"]').focus()
    page.keyboard.press("Enter")
    wait_status(page, "cancelled")
    expect(page.locator("#run-status")).to_have_text("Cancelled: cancelled by request")


def test_a_reload_mid_run_resumes_the_stream(stack: Stack, open_page: OpenPage) -> None:
    api = page_api(stack, paced(1.0))
    page = open_page(api)
    ask(page, policy="fixed")
    job_id = job_id_of(page)
    expect(page.locator("#timeline [data-type=plan]")).to_have_count(1)
    assert page.locator("#timeline [data-type=answer]").count() == 0
    page.reload()
    expect(page.locator("#run-question")).to_have_text(QUESTION)
    wait_status(page, "succeeded")
    assert steps(page) == STEPS  # what came before the reload, once, then the rest
    expect(page.locator("#answer .answer-text")).to_contain_text("Topic 5")
    assert page.url.endswith(f"#job={job_id}")


def test_a_lost_connection_reconnects_and_resumes_from_the_last_event(
    stack: Stack, open_page: OpenPage
) -> None:
    llm = stack.llm(paced(1.0))
    catalog = MemoryCatalog({"topics": 12})
    first = stack.api(llm, factory=scripted_factory(llm.base_url, catalog=catalog))
    page = open_page(first)
    resumed_from: list[str | None] = []

    def record(request: Any) -> None:
        if request.url.endswith("/events"):
            resumed_from.append(request.headers.get("last-event-id"))

    page.on("request", record)
    ask(page, policy="fixed")
    expect(page.locator("#timeline [data-type=search]")).to_have_count(1)
    first.stop()  # the server goes away mid-run...
    notice = page.locator("#connection")
    expect(notice).to_contain_text("Connection lost. Reconnecting")
    second = stack.api(  # ...and comes back where it was, with the same job store
        llm,
        factory=scripted_factory(llm.base_url, catalog=catalog),
        data_dir=stack.tmp_path / "data",
        port=first.port,
    )
    assert second.port == first.port
    # The notice says so (and goes a few seconds later), then the run goes on to its answer.
    expect(notice).to_contain_text("Reconnected: resumed after event", timeout=40_000)
    wait_status(page, "succeeded")
    kinds = steps(page)
    assert kinds.count("plan") == 1 and kinds[-2:] == ["answer", "result"], kinds
    restart = page.locator("#timeline [data-type=status]")
    expect(restart.nth(1)).to_contain_text("Interrupted")  # what happened is shown, in order
    expect(restart.nth(2)).to_contain_text("Resumed")
    assert resumed_from[0] is None and any(r and int(r) >= 3 for r in resumed_from[1:])
    expect(page.locator("#answer .answer-text")).to_contain_text("Topic 5")
