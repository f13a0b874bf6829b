"""The final read: the best passages of the evidence pool, one short-answer prompt, N samples.

The answer comes from here, not from the reasoning chain (see `agents/reader.py` for why). This
module holds the I/O around the reader's pure core: what the read costs before it happens
(`answer_reserve`, which the graph holds back so a run that hits its caps still answers), the
read itself with its width (`read_pool`, `sample_answers`), and the reasoner's interim answer
as the fallback when the read gives nothing. The graph's `answer` node and the eval replay both
read through `read_pool`, so a replayed cell reads exactly as a run does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadline.agents import reader
from leadline.agents.prompting import reader_messages
from leadline.agents.searcher import evidence_line_tokens
from leadline.agents.workspace import Entry, Evidence, PoolHit, evidence
from leadline.budgets.budget import Spend, call_estimate, fits
from leadline.budgets.guard import BudgetGuard, CallRefused
from leadline.budgets.ledger import AnytimeAnswer, LedgerEvent, total_spend
from leadline.errors import LLMError, LLMOutputError
from leadline.graph.state import Citation, FinalAnswer, RunSpec
from leadline.tools.llm import LLMClient
from leadline.tools.tokens import estimate_prompt_tokens, pending_prompt_tokens

QUOTE_CHARS = 240


def passage_tokens(spec: RunSpec) -> int:
    return evidence_line_tokens(spec.max_passage_tokens)


def answer_reserve(spec: RunSpec) -> Spend:
    """What is held back for the final reader: `width` calls on K passages of the workspace's
    passage size (every worst case in full, as if no sample were served from the cache).

    It does not grow with the workspace (the reader does not read it). Pool passages can be
    longer than the workspace's; the reader then reads fewer of them (`read_pool` drops the
    weakest until the call fits).
    """
    prompt = estimate_prompt_tokens(reader_messages(spec.question, "", spec.kv_mode))
    one = call_estimate(
        prompt + pending_prompt_tokens(spec.reader_passages * passage_tokens(spec)),
        spec.budget.answer_tokens,
    )
    return total_spend([one] * spec.budget.width)


def number_passages(
    ranked: Sequence[PoolHit], entries: Sequence[Entry]
) -> list[reader.RankedPassage]:
    """Evidence numbers for pool passages: the workspace's where shown there, else new ones."""
    shown = {e.passage_id: e.n for e in evidence(entries)}
    next_n = max(shown.values(), default=0)
    numbered = []
    for rank, hit in enumerate(ranked):
        n = shown.get(hit.passage_id)
        if n is None:
            next_n += 1
            n = next_n
        numbered.append(
            reader.RankedPassage(n, hit.passage_id, hit.title, hit.text, hit.source, -rank)
        )
    return numbered


def reader_prompt(
    spec: RunSpec,
    entries: Sequence[Entry],
    pool: Sequence[PoolHit],
    guard: BudgetGuard,
    up_to_step: int | None = None,
) -> tuple[list[dict[str, str]], list[reader.RankedPassage]]:
    """The reader's messages over the best `spec.reader_passages` of the pool, and the passages
    shown; passages are dropped from the weakest end until one call fits the budget left."""
    ranked = number_passages(reader.rank_pool(spec.question, pool, up_to_step), entries)
    shown = ranked[: spec.reader_passages]
    while True:
        messages = reader_messages(spec.question, reader.render_passages(shown), spec.kv_mode)
        estimate = call_estimate(estimate_prompt_tokens(messages), spec.budget.answer_tokens)
        if not shown or fits(spec.budget, guard.spent + total_spend(guard.events), estimate):
            return messages, shown
        shown = shown[:-1]


@dataclass(frozen=True)
class Samples:
    """Short answers of the reader's samples, in order, and after each sample how many ledger
    events its guard held (so sample i cost `guard.events[ends[i-1]:ends[i]]`)."""

    answers: list[str]
    ends: list[int]

    def spends(self, events: Sequence[LedgerEvent]) -> list[Spend]:
        starts = [0, *self.ends[:-1]]
        return [total_spend(events[a:b]) for a, b in zip(starts, self.ends, strict=True)]


async def read_pool(
    llm: LLMClient,
    spec: RunSpec,
    entries: Sequence[Entry],
    pool: Sequence[PoolHit],
    guard: BudgetGuard,
    extra_body: dict[str, Any],
    *,
    up_to_step: int | None = None,
) -> FinalAnswer | None:
    """Answer from the best `spec.reader_passages` of the pool; None when no reply has one.

    Passages are dropped from the weakest end until one call fits what is left of the budget.
    With `spec.budget.width` N > 1 the same prompt is read N times and the short answers vote
    (`reader.vote`); samples after the first stop when the budget refuses one or the endpoint
    fails, and the vote takes what there is.
    """
    messages, shown = reader_prompt(spec, entries, pool, guard, up_to_step)
    samples = (await sample_answers(llm, spec, messages, guard, extra_body)).answers
    winner = reader.vote(samples)
    if winner is None:
        return None
    text = samples[winner]
    cited = tuple(
        Citation(p.n, p.passage_id, p.title, p.source, reader.quote(text, p.text, QUOTE_CHARS))
        for p in reader.cite(text, shown)
    )
    return FinalAnswer(answer=text, citations=cited, source="reader", samples=tuple(samples))


async def sample_answers(
    llm: LLMClient,
    spec: RunSpec,
    messages: Sequence[dict[str, str]],
    guard: BudgetGuard,
    extra_body: dict[str, Any],
) -> Samples:
    """`spec.budget.width` short answers to one reader prompt: the first greedy (exactly the
    single read; its errors are the caller's), the rest sampled with seeds 1, 2, … so a replay
    draws the same samples from a server that honours seeds."""
    samples = Samples([], [])
    for i in range(spec.budget.width):
        try:
            output, _ = await llm.chat_json(
                messages,
                reader.ReaderOutput,
                max_tokens=spec.budget.answer_tokens,
                temperature=0.0 if i == 0 else reader.SAMPLE_TEMPERATURE,
                extra_body=extra_body if i == 0 else {**extra_body, "seed": i},
                guard=guard,
            )
        except LLMOutputError:
            if i == 0:
                raise
            samples.answers.append("")  # an unreadable sample: it keeps its place, no vote
            samples.ends.append(len(guard.events))
            continue
        except (CallRefused, LLMError):
            if i == 0:
                raise
            break
        samples.answers.append(reader.short_answer(spec.question, output.answer))
        samples.ends.append(len(guard.events))
    return samples


def anytime_fallback(entries: Sequence[Entry], anytime: Sequence[AnytimeAnswer]) -> FinalAnswer:
    """The reasoner's last interim answer, with its citations, when the reader gave none."""
    if not anytime:
        return FinalAnswer(answer=reader.UNKNOWN, citations=(), source="none")
    best = anytime[-1]
    by_number: dict[int, Evidence] = {e.n: e for e in evidence(entries)}
    cited = tuple(
        Citation(n, e.passage_id, e.title, e.source, reader.quote(best.answer, e.text, QUOTE_CHARS))
        for n in best.citations
        if (e := by_number.get(n)) is not None
    )
    return FinalAnswer(answer=best.answer, citations=cited, source="anytime")
