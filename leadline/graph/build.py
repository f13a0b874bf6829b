"""The research graph: plan → search (fan-out, one task per query) → links → reason → … → answer.

With a `stop_confidence` the run searches first and plans only if it must: search the question
→ links → `read_early` → (sure: end | unsure: plan → reason → search → … → answer). The reader
reads the first round's pool at once, and a sure answer ends the run there (more search would
not pay for it, and neither would a plan: the first round is the question itself either way).

`links` is a search step whose hits come from the collection's link graph (sleep-time compute,
`leadline.precompute`): it follows links from the best evidence so far, and does nothing when the
corpus has no graph, the run turned it off, or one more search step would not fit the budget.

Nodes are small methods of `ResearchNodes`; each returns a `Command` naming where it may go, so
routing is readable from the signatures. Every LLM call goes through a `BudgetGuard`; every
routing choice comes from the pure controller (`budgets.controller.decide`). Model and search
failures become data (a stop reason, an error note), never a crash in the middle of a run.

The three compute axes meet here: search rounds (`decide`), the reasoner's completion allowance
(`reasoning_allowance`: when the reasoning budget is spent, a step goes on without a reasoner
call, on the plan's queries) and the reader's width (`read_pool` samples and votes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send

from leadline.agents import planner, reasoner
from leadline.agents.searcher import (
    WORKSPACE_PER_QUERY,
    link_sources,
    run_link_step,
    run_search,
)
from leadline.agents.workspace import (
    Entry,
    Note,
    PlanEntry,
    append_entries,
    evidence,
)
from leadline.budgets.allocate import allocate, allocated_budget
from leadline.budgets.budget import (
    MIN_REASONING_STEP_TOKENS,
    Budget,
    Spend,
    call_estimate,
    fits,
    reasoning_allowance,
)
from leadline.budgets.controller import Action, allocated_search_steps, decide
from leadline.budgets.guard import BudgetGuard, CallRefused
from leadline.budgets.ledger import (
    AnytimeAnswer,
    LedgerEvent,
    reasoner_tokens,
    total_spend,
)
from leadline.errors import LLMError, LLMOutputError
from leadline.graph.read import (
    answer_reserve,
    anytime_fallback,
    passage_tokens,
    read_pool,
    second_look,
    sure_enough,
)
from leadline.graph.state import FinalAnswer, ResearchState, RunSpec, SearchTask
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import LinkFollower, SearchBackend
from leadline.tools.tokens import estimate_prompt_tokens, pending_prompt_tokens

# Config key of an optional `OnPlan` hook: called once the plan (and its hop estimate) is known,
# it may return a new budget for the rest of the run. Not checkpointed (callables aren't).
ON_PLAN_KEY = "leadline_on_plan"
# The request fields of the process running the graph now (its KV slot, its cache key). They are
# not read from the saved spec because a run resumed in another process holds another slot.
LLM_EXTRA_KEY = "leadline_llm_extra"
OnPlan = Callable[[PlanEntry, Spend], Awaitable[Budget | None]]


def next_reasoning_tokens(spec: RunSpec, events: Sequence[LedgerEvent]) -> int:
    """The completion allowance of the next reasoner call; 0 when the reasoning budget cannot
    pay for a useful one (the step then goes on without it)."""
    allowance = reasoning_allowance(
        spec.budget, reasoner_tokens(events), reasoner.MAX_COMPLETION_TOKENS
    )
    return allowance if allowance >= MIN_REASONING_STEP_TOKENS else 0


def round_cost(
    spec: RunSpec, entries: Sequence[Entry], n_queries: int, reasoning_tokens: int
) -> Spend:
    """Worst case of a search round: the searches, the next reasoning call (none when
    `reasoning_tokens` is 0), and the answer."""
    added = pending_prompt_tokens(n_queries * WORKSPACE_PER_QUERY * passage_tokens(spec))
    reasoning = Spend()
    if reasoning_tokens > 0:
        reason_prompt = estimate_prompt_tokens(
            reasoner.reasoner_messages(spec.question, entries, spec.kv_mode)
        )
        reasoning = call_estimate(reason_prompt + added, reasoning_tokens)
    answer = answer_reserve(spec)
    return Spend(search_steps=n_queries) + reasoning + answer


def no_round_left(
    spec: RunSpec,
    plan: PlanEntry,
    entries: Sequence[Entry],
    spent: Spend,
    reasoning_tokens: int,
) -> bool:
    """True when not even one more search round fits: its steps or its worst-case tokens."""
    allowed = allocated_search_steps(spec.policy, spec.budget, plan.hops)
    if allowed is not None and spent.search_steps >= allowed:
        return True
    return not fits(spec.budget, spent, round_cost(spec, entries, 1, reasoning_tokens))


def llm_extra(spec: RunSpec, config: RunnableConfig) -> dict[str, Any]:
    """The request fields for this step: the running process's, else those the run started with."""
    current = (config.get("configurable") or {}).get(LLM_EXTRA_KEY)
    return spec.llm_extra if current is None else current


def _spent(state: ResearchState) -> Spend:
    return total_spend(state.get("events", []))


def record_step(
    decision: reasoner.ReasonerOutput, step: int, entries: Sequence[Entry], spent: Spend
) -> tuple[Note | None, AnytimeAnswer]:
    """What one reasoning step leaves behind: its note for the workspace (with what the hop
    found; none when it says nothing), and its anytime answer with what it had cost so far."""
    found = reasoner.strip_citations(decision.found)
    note = None
    if decision.note.strip() or not reasoner.is_unknown(found):
        note = Note(
            step=step,
            text=" ".join(decision.note.split()),
            found="" if reasoner.is_unknown(found) else found,
        )
    valid = [e.n for e in evidence(entries)]
    answer = AnytimeAnswer(
        step=step,
        answer=reasoner.strip_citations(decision.answer) or reasoner.UNKNOWN,
        confidence=decision.clamped_confidence,
        total_tokens=spent.total_tokens,
        search_steps=spent.search_steps,
        citations=tuple(reasoner.cited_numbers(decision.note + decision.answer, [], valid)),
    )
    return note, answer


class ResearchNodes:
    """The graph's nodes, with the LLM client and search backend injected."""

    def __init__(self, llm: LLMClient, search: SearchBackend) -> None:
        self.llm = llm
        self.search_backend = search

    def _route(
        self,
        action: Action,
        update: dict[str, Any],
        spec: RunSpec,
        entries: Sequence[Entry],
        step: int,
    ) -> Command[Any]:
        if action.kind == "answer":
            return Command(goto="answer", update={**update, "stop_reason": action.stop_reason})
        seen = [e.passage_id for e in evidence(entries)]
        sends = [
            Send("search", SearchTask(spec=spec, query=q, step=step, seen_ids=seen))
            for q in action.queries
        ]
        return Command(goto=sends, update={**update, "queries": list(action.queries)})

    async def first_round(self, state: ResearchState) -> Command[Literal["search", "answer"]]:
        """Search the question itself before any LLM call (the plan comes later, if needed)."""
        spec = state["spec"]
        plan = planner.fallback_plan(spec.question)
        reasoning = next_reasoning_tokens(spec, state.get("events", []))
        action = decide(
            policy=spec.policy,
            shape=spec.shape,
            plan=plan,
            budget=spec.budget,
            spent=_spent(state),
            proposed_queries=plan.queries,
            queries_done=[],
            round_cost=lambda n: round_cost(spec, [], n, reasoning),
        )
        return self._route(action, {"step": 0}, spec, [], step=1)

    async def plan(
        self, state: ResearchState, config: RunnableConfig
    ) -> Command[Literal["search", "reason", "answer"]]:
        """Plan the research; after a first round (`first_round`), with its evidence in view, and
        then the reasoner chooses the next queries as after any round."""
        spec, entries = state["spec"], state.get("entries", [])
        guard = BudgetGuard(
            spec.budget,
            _spent(state),
            reserve=answer_reserve(spec),
            agent="planner",
            step=0,
        )
        plan, error = planner.fallback_plan(spec.question), ""
        try:
            output, _ = await self.llm.chat_json(
                planner.planner_messages(spec.question, entries, spec.kv_mode),
                planner.PlannerOutput,
                max_tokens=planner.MAX_COMPLETION_TOKENS,
                extra_body=llm_extra(spec, config),
                guard=guard,
            )
            plan = planner.to_plan(output, spec.question)
            replies = {"usable_replies": 1}
        except CallRefused:
            replies = {}  # plan with the question itself; the loop can still start
        except LLMOutputError as exc:
            replies = {"bad_replies": [f"planner: {exc}"]}
        except LLMError as exc:
            error, replies = str(exc), {}
        update: dict[str, Any] = {
            "plan": plan,
            "entries": [plan],
            "events": guard.events,
            "step": 0,
            **replies,
        }
        if error:
            return Command(goto="answer", update={**update, "stop_reason": "error", "error": error})
        spent = _spent(state) + total_spend(guard.events)
        rebudget: OnPlan | None = (config.get("configurable") or {}).get(ON_PLAN_KEY)
        if rebudget is not None:  # e.g. a batch pool sizing this question's grant by difficulty
            budget = await rebudget(plan, spent)
            if budget is not None and budget != spec.budget:
                spec = replace(spec, budget=budget)
                update["spec"] = spec
        if spec.policy == "allocate" and spec.allocation is not None:
            chosen = allocate(spec.allocation, plan, spec.budget, spent)
            spec = replace(spec, budget=allocated_budget(spec.budget, chosen))
            update.update(spec=spec, allocation=chosen.to_dict())
        if state.get("queries"):  # a round has run: reason over it, as after any round
            return Command(goto="reason", update=update)
        entries_after = append_entries(entries, [plan])
        reasoning = next_reasoning_tokens(spec, [*state.get("events", []), *guard.events])
        action = decide(
            policy=spec.policy,
            shape=spec.shape,
            plan=plan,
            budget=spec.budget,
            spent=spent,
            proposed_queries=plan.queries,
            queries_done=[],
            round_cost=lambda n: round_cost(spec, entries_after, n, reasoning),
        )
        return self._route(action, update, spec, entries_after, step=1)

    async def search(self, task: SearchTask) -> dict[str, Any]:
        spec = task["spec"]
        outcome = await run_search(
            self.search_backend,
            task["query"],
            task["seen_ids"],
            keep=WORKSPACE_PER_QUERY,
            max_tokens=spec.max_passage_tokens,
            pool_size=spec.passages_per_query,
            step=task["step"],
        )
        event = LedgerEvent(
            kind="search",
            agent="searcher",
            step=task["step"],
            search_steps=1,
            latency_s=round(outcome.latency_s, 4),
            detail=outcome.query,
            error=outcome.error,
        )
        return {"entries": outcome.evidence, "pool": outcome.pool, "events": [event]}

    async def links(self, state: ResearchState) -> dict[str, Any]:
        """After a search round: follow links from the pool's best passages, as one more search
        step, if the corpus has a link graph, the run allows it and the step still fits."""
        spec, entries = state["spec"], state.get("entries", [])
        follower = self.search_backend
        if not spec.follow_links or not isinstance(follower, LinkFollower):
            return {}
        plan = state.get("plan") or planner.fallback_plan(spec.question)
        reasoning = next_reasoning_tokens(spec, state.get("events", []))
        if no_round_left(spec, plan, entries, _spent(state), reasoning):
            return {}
        sources = link_sources(spec.question, state.get("pool", []), state.get("linked_from", []))
        if not sources:
            return {}
        step = state.get("step", 0) + 1  # the round's step: the searches just run carry it too
        outcome = await run_link_step(
            follower,
            sources,
            spec.question,
            [e.passage_id for e in evidence(entries)],
            keep=WORKSPACE_PER_QUERY,
            max_tokens=spec.max_passage_tokens,
            pool_size=spec.passages_per_query,
            step=step,
        )
        update: dict[str, Any] = {"linked_from": [h.passage_id for h in sources]}
        if not outcome.pool and not outcome.error:
            return update  # nothing links there: a lookup in memory, not a search step
        event = LedgerEvent(
            kind="search",
            agent="linker",
            step=step,
            search_steps=1,
            latency_s=round(outcome.latency_s, 4),
            detail=outcome.query,
            error=outcome.error,
        )
        return {**update, "entries": outcome.evidence, "pool": outcome.pool, "events": [event]}

    async def read_early(
        self, state: ResearchState, config: RunnableConfig
    ) -> Command[Literal["plan", "reason", "answer", "__end__"]]:
        """After the first round: read the pool at once, and stop there when the reader is at
        least `spec.stop_confidence` sure of its answer; otherwise plan and search on.

        The early read holds back the final read's reserve, so a run that searches on can
        still answer; when it does not fit or its reply is unusable, the run goes on without it,
        and when the endpoint fails the run ends with that error, as a failed plan does. An endpoint
        that has answered without log-probabilities is not asked again: it could never stop."""
        spec = state["spec"]
        search_on = "reason" if state.get("plan") else "plan"
        if self.llm.gives_logprobs is False:
            return Command(goto=search_on)
        step = state.get("step", 0) + 1
        guard = BudgetGuard(
            spec.budget, _spent(state), reserve=answer_reserve(spec), agent="answer", step=step
        )
        update: dict[str, Any] = {"events": guard.events}
        try:
            early = await read_pool(
                self.llm,
                spec,
                state.get("entries", []),
                state.get("pool", []),
                guard,
                llm_extra(spec, config),
            )
        except (CallRefused, LLMOutputError):
            early = None  # not this read, but the run can go on
        except LLMError as exc:  # the endpoint failed (down, timed out, not an API): stop here
            return Command(
                goto="answer", update={**update, "stop_reason": "error", "error": str(exc)}
            )
        if early is not None:
            update["early_read"] = early
        if early is None or not sure_enough(early, spec.stop_confidence):
            return Command(goto=search_on, update=update)
        update.update(final=early, stop_reason="confident", step=step, usable_replies=1)
        return Command(goto=END, update=update)

    async def reason(
        self, state: ResearchState, config: RunnableConfig
    ) -> Command[Literal["search", "answer"]]:
        spec, entries = state["spec"], state.get("entries", [])
        step = state.get("step", 0) + 1
        spent = _spent(state)
        events = state.get("events", [])
        guard = BudgetGuard(
            spec.budget,
            spent,
            reserve=answer_reserve(spec),
            agent="reasoner",
            step=step,
            reasoning_spent=reasoner_tokens(events),
        )
        update: dict[str, Any] = {"step": step, "events": guard.events}
        plan = state.get("plan") or planner.fallback_plan(spec.question)
        allowance = next_reasoning_tokens(spec, events)
        if no_round_left(spec, plan, entries, spent, allowance):
            # Reasoning now could only choose queries no budget is left to run: read instead.
            return Command(goto="answer", update={**update, "stop_reason": "budget"})
        decision: reasoner.ReasonerOutput | None = None
        if allowance > 0:  # else the reasoning budget is spent: go on with the plan's queries
            try:
                decision, _ = await self.llm.chat_json(
                    reasoner.reasoner_messages(spec.question, entries, spec.kv_mode),
                    reasoner.ReasonerOutput,
                    max_tokens=allowance,
                    extra_body=llm_extra(spec, config),
                    guard=guard,
                )
            except CallRefused:
                return Command(goto="answer", update={**update, "stop_reason": "budget"})
            except LLMOutputError as exc:
                # "No decision": keep going on the plan's queries if the budget allows.
                update["bad_replies"] = [f"reasoner: {exc}"]
            except LLMError as exc:
                return Command(
                    goto="answer", update={**update, "stop_reason": "error", "error": str(exc)}
                )

        new_entries: list[Entry] = []
        anytime = list(state.get("anytime", []))
        if decision is not None:
            note, answer = record_step(decision, step, entries, spent + total_spend(guard.events))
            new_entries = [note] if note is not None else []
            anytime.append(answer)
            update.update(usable_replies=1, anytime=[answer])
        update["entries"] = new_entries
        entries_after = append_entries(entries, new_entries)
        reasoning_next = next_reasoning_tokens(spec, [*events, *guard.events])
        action = decide(
            policy=spec.policy,
            shape=spec.shape,
            plan=plan,
            budget=spec.budget,
            spent=spent + total_spend(guard.events),
            proposed_queries=reasoner.proposed_queries(spec.question, decision),
            queries_done=state.get("queries", []),
            round_cost=lambda n: round_cost(spec, entries_after, n, reasoning_next),
            done=bool(decision and decision.done and not reasoner.is_unknown(decision.answer)),
            anytime=anytime,
        )
        return self._route(action, update, spec, entries_after, step=step + 1)

    async def answer(self, state: ResearchState, config: RunnableConfig) -> dict[str, Any]:
        """The reader: the top passages of the whole pool, one plain short-answer call, and
        one more over a passage more when it was unsure (`second_look`)."""
        spec, entries = state["spec"], state.get("entries", [])
        guard = BudgetGuard(
            spec.budget, _spent(state), reserve=Spend(), agent="answer", step=state.get("step", 0)
        )
        update: dict[str, Any] = {"events": guard.events}
        final: FinalAnswer | None = None
        usable, bad = state.get("usable_replies", 0), list(state.get("bad_replies", []))
        if not state.get("error"):
            try:
                pool, extra = state.get("pool", []), llm_extra(spec, config)
                final = await read_pool(
                    self.llm,
                    spec,
                    entries,
                    pool,
                    guard,
                    extra,
                    earlier=state.get("early_read"),  # the same prompt is not read twice
                )
                usable += 1
                if final is not None:
                    final = await second_look(self.llm, spec, entries, pool, guard, extra, final)
            except CallRefused:
                pass  # fall back to the anytime answer below
            except LLMOutputError as exc:
                bad.append(f"answer: {exc}")
            except LLMError as exc:
                update.update(stop_reason="error", error=str(exc))
        if bad and not usable and "error" not in update:
            # Every agent call came back unusable: an "unknown" here would look like success.
            update.update(
                stop_reason="error",
                error=f"the model gave no usable reply in {len(bad)} calls; last: {bad[-1]}",
            )
        update["final"] = final or anytime_fallback(entries, state.get("anytime", []))
        return update


def searches_first(spec: RunSpec) -> bool:
    """Search the question before planning: only when a sure early read may end the run, and
    the first round would be the question alone anyway (not with `parallel`, whose first round
    also runs the plan's queries)."""
    return spec.stop_confidence is not None and spec.shape != "parallel"


def start(state: ResearchState) -> Literal["first_round", "plan"]:
    return "first_round" if searches_first(state["spec"]) else "plan"


def after_links(state: ResearchState) -> Literal["read_early", "reason"]:
    """Read early only after the first round, and only when the run may stop on confidence."""
    first_round = state.get("step", 0) == 0
    return "read_early" if first_round and state["spec"].stop_confidence is not None else "reason"


def build_graph(llm: LLMClient, search: SearchBackend, *, checkpointer: Any = None) -> Any:
    """Compile the research graph with its I/O injected; nothing is compiled at import time."""
    nodes = ResearchNodes(llm, search)
    graph = StateGraph(ResearchState)
    graph.add_node("first_round", nodes.first_round)
    graph.add_node("plan", nodes.plan)
    graph.add_node("search", nodes.search)
    graph.add_node("links", nodes.links)
    graph.add_node("read_early", nodes.read_early)
    graph.add_node("reason", nodes.reason)
    graph.add_node("answer", nodes.answer)
    graph.add_conditional_edges(START, start, ["first_round", "plan"])
    graph.add_edge("search", "links")
    graph.add_conditional_edges("links", after_links, ["read_early", "reason"])
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=checkpointer)
