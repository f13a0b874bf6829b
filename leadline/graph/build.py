"""The research graph: plan → search (fan-out, one task per query) → reason → search | answer.

Nodes are small methods of `ResearchNodes`; each returns a `Command` naming where it may go, so
routing is readable from the signatures. Every LLM call goes through a `BudgetGuard`; every
routing choice comes from the pure controller (`budgets.controller.decide`). Model and search
failures become data (a stop reason, an error note), never a crash in the middle of a run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send

from leadline.agents import planner, reasoner
from leadline.agents.searcher import TITLE_MAX_TOKENS, run_search
from leadline.agents.workspace import (
    EVIDENCE_LINE_OVERHEAD,
    Entry,
    Note,
    PlanEntry,
    append_entries,
    evidence,
)
from leadline.budgets.budget import Budget, Spend, call_estimate
from leadline.budgets.controller import Action, decide
from leadline.budgets.guard import BudgetGuard, CallRefused
from leadline.budgets.ledger import AnytimeAnswer, LedgerEvent, total_spend
from leadline.errors import LLMError, LLMOutputError
from leadline.graph.state import FinalAnswer, ResearchState, RunSpec, SearchTask
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import SearchBackend
from leadline.tools.tokens import PROMPT_MARGIN, estimate_prompt_tokens

# Config key of an optional `OnPlan` hook: called once the plan (and its hop estimate) is known,
# it may return a new budget for the rest of the run. Not checkpointed (callables aren't).
ON_PLAN_KEY = "leadline_on_plan"
# The request fields of the process running the graph now (its KV slot, its cache key). They are
# not read from the saved spec because a run resumed in another process holds another slot.
LLM_EXTRA_KEY = "leadline_llm_extra"
OnPlan = Callable[[PlanEntry, Spend], Awaitable[Budget | None]]


def _pending(tokens: int) -> int:
    """Prompt tokens that text not yet in the workspace may add, with the estimation margin."""
    return int(tokens * PROMPT_MARGIN) + 1


def answer_reserve(spec: RunSpec, entries: Sequence[Entry], pending_tokens: int) -> Spend:
    """Worst case of the final answer call, after `pending_tokens` more workspace text."""
    prompt = estimate_prompt_tokens(reasoner.answer_messages(spec.question, entries, spec.kv_mode))
    return call_estimate(prompt + _pending(pending_tokens), spec.budget.answer_tokens)


def round_cost(spec: RunSpec, entries: Sequence[Entry], n_queries: int) -> Spend:
    """Worst case of a search round: the searches, the next reasoning call, and the answer."""
    added = _pending(
        n_queries
        * spec.passages_per_query
        * (spec.max_passage_tokens + TITLE_MAX_TOKENS + EVIDENCE_LINE_OVERHEAD)
    )
    reason_prompt = estimate_prompt_tokens(
        reasoner.reasoner_messages(spec.question, entries, spec.kv_mode)
    )
    reasoning = call_estimate(reason_prompt + added, reasoner.MAX_COMPLETION_TOKENS)
    answer = answer_reserve(spec, entries, reasoner.MAX_COMPLETION_TOKENS)
    return Spend(search_steps=n_queries) + reasoning + answer + Spend(prompt_tokens=added)


def llm_extra(spec: RunSpec, config: RunnableConfig) -> dict[str, Any]:
    """The request fields for this step: the running process's, else those the run started with."""
    current = (config.get("configurable") or {}).get(LLM_EXTRA_KEY)
    return spec.llm_extra if current is None else current


def _spent(state: ResearchState) -> Spend:
    return total_spend(state.get("events", []))


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

    async def plan(
        self, state: ResearchState, config: RunnableConfig
    ) -> Command[Literal["search", "answer"]]:
        spec, entries = state["spec"], state.get("entries", [])
        guard = BudgetGuard(
            spec.budget,
            _spent(state),
            reserve=answer_reserve(spec, entries, planner.MAX_COMPLETION_TOKENS),
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
        except (CallRefused, LLMOutputError):
            pass  # plan with the question itself; the loop can still start
        except LLMError as exc:
            error = str(exc)
        update: dict[str, Any] = {
            "plan": plan,
            "entries": [plan],
            "events": guard.events,
            "step": 0,
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
        entries_after = append_entries(entries, [plan])
        action = decide(
            policy=spec.policy,
            shape=spec.shape,
            plan=plan,
            budget=spec.budget,
            spent=spent,
            proposed_queries=plan.queries,
            queries_done=[],
            round_cost=lambda n: round_cost(spec, entries_after, n),
        )
        return self._route(action, update, spec, entries_after, step=1)

    async def search(self, task: SearchTask) -> dict[str, Any]:
        spec = task["spec"]
        outcome = await run_search(
            self.search_backend,
            task["query"],
            task["seen_ids"],
            keep=spec.passages_per_query,
            max_tokens=spec.max_passage_tokens,
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
        return {"entries": outcome.evidence, "events": [event]}

    async def reason(
        self, state: ResearchState, config: RunnableConfig
    ) -> Command[Literal["search", "answer"]]:
        spec, entries = state["spec"], state.get("entries", [])
        step = state.get("step", 0) + 1
        spent = _spent(state)
        guard = BudgetGuard(
            spec.budget,
            spent,
            reserve=answer_reserve(spec, entries, reasoner.MAX_COMPLETION_TOKENS),
            agent="reasoner",
            step=step,
        )
        update: dict[str, Any] = {"step": step, "events": guard.events}
        try:
            decision: reasoner.ReasonerOutput | None = (
                await self.llm.chat_json(
                    reasoner.reasoner_messages(spec.question, entries, spec.kv_mode),
                    reasoner.ReasonerOutput,
                    max_tokens=reasoner.MAX_COMPLETION_TOKENS,
                    extra_body=llm_extra(spec, config),
                    guard=guard,
                )
            )[0]
        except CallRefused:
            return Command(goto="answer", update={**update, "stop_reason": "budget"})
        except LLMOutputError:
            decision = None  # "no decision": keep going on the plan's queries if budget allows
        except LLMError as exc:
            return Command(
                goto="answer", update={**update, "stop_reason": "error", "error": str(exc)}
            )

        new_entries: list[Entry] = []
        anytime = list(state.get("anytime", []))
        if decision is not None:
            if decision.note.strip():
                new_entries.append(Note(step=step, text=" ".join(decision.note.split())))
            valid = [e.n for e in evidence(entries)]
            spent_now = spent + total_spend(guard.events)
            anytime.append(
                AnytimeAnswer(
                    step=step,
                    answer=reasoner.strip_citations(decision.answer) or reasoner.UNKNOWN,
                    confidence=decision.clamped_confidence,
                    total_tokens=spent_now.total_tokens,
                    search_steps=spent_now.search_steps,
                    citations=tuple(
                        reasoner.cited_numbers(decision.note + decision.answer, [], valid)
                    ),
                )
            )
            update["anytime"] = anytime[-1:]
        update["entries"] = new_entries
        entries_after = append_entries(entries, new_entries)
        action = decide(
            policy=spec.policy,
            shape=spec.shape,
            plan=state.get("plan") or planner.fallback_plan(spec.question),
            budget=spec.budget,
            spent=spent + total_spend(guard.events),
            proposed_queries=reasoner.proposed_queries(spec.question, decision),
            queries_done=state.get("queries", []),
            round_cost=lambda n: round_cost(spec, entries_after, n),
            done=bool(decision and decision.done and not reasoner.is_unknown(decision.answer)),
            anytime=anytime,
        )
        return self._route(action, update, spec, entries_after, step=step + 1)

    async def answer(self, state: ResearchState, config: RunnableConfig) -> dict[str, Any]:
        spec, entries = state["spec"], state.get("entries", [])
        guard = BudgetGuard(
            spec.budget, _spent(state), reserve=Spend(), agent="answer", step=state.get("step", 0)
        )
        update: dict[str, Any] = {"events": guard.events}
        final: FinalAnswer | None = None
        if not state.get("error"):
            try:
                output, _ = await self.llm.chat_json(
                    reasoner.answer_messages(spec.question, entries, spec.kv_mode),
                    reasoner.AnswerOutput,
                    max_tokens=spec.budget.answer_tokens,
                    extra_body=llm_extra(spec, config),
                    guard=guard,
                )
                text = reasoner.strip_citations(output.answer)
                if text:
                    valid = [e.n for e in evidence(entries)]
                    cited = reasoner.cited_numbers(output.answer, output.citations, valid)
                    final = FinalAnswer(answer=text, citations=tuple(cited), from_llm=True)
            except (CallRefused, LLMOutputError):
                pass  # fall back to the anytime answer below
            except LLMError as exc:
                update.update(stop_reason="error", error=str(exc))
        if final is None:
            last = state.get("anytime", [])[-1:] or [None]
            best = last[0]
            final = FinalAnswer(
                answer=best.answer if best else reasoner.UNKNOWN,
                citations=best.citations if best else (),
                from_llm=False,
            )
        update["final"] = final
        return update


def build_graph(llm: LLMClient, search: SearchBackend, *, checkpointer: Any = None) -> Any:
    """Compile the research graph with its I/O injected; nothing is compiled at import time."""
    nodes = ResearchNodes(llm, search)
    graph = StateGraph(ResearchState)
    graph.add_node("plan", nodes.plan)
    graph.add_node("search", nodes.search)
    graph.add_node("reason", nodes.reason)
    graph.add_node("answer", nodes.answer)
    graph.add_edge(START, "plan")
    graph.add_edge("search", "reason")
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=checkpointer)
