"""One evaluated question as a record: what it answered, how it scored, what it cost, and the
configuration that made it.

A record keeps enough of its run to be replayed without running it again (the whole evidence
pool, the spend and the reasoner's tokens after every step, each reader sample), and a key of its
configuration (`EvalConfig.key`), so results of different configurations are never mixed in one
file. Budget fields added after records were first written are left out of that key at their old
values (`budget_key`), so old records resume under the key they were written with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadline.agents.prompting import KVMode
from leadline.budgets.budget import LEGACY_CACHED_TOKEN_RATE, Budget, Spend
from leadline.budgets.ledger import reasoner_tokens, total_spend
from leadline.errors import ConfigError
from leadline.evals.baselines import SystemOutput, SystemSpec
from leadline.evals.datasets import Example
from leadline.evals.metrics import QuestionCost, exact_match, f1, support_recall
from leadline.evals.types import TypeLabels, question_type


@dataclass(frozen=True)
class EvalConfig:
    """Everything that makes two records comparable; part of every record."""

    dataset: str
    system: SystemSpec
    budget: Budget
    kv_mode: KVMode
    collection: str | None
    reader: dict[str, int] | None = None  # leadline's pool and reader settings
    # What sleep-time compute the system used (None: none, and the key is left out, so records
    # written before precompute existed keep their configuration key).
    precompute: dict[str, Any] | None = None
    allocation: str | None = None  # the allocate policy's law (its label), when it has one

    def to_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "dataset": self.dataset,
            "system": self.system.name,
            "budget": budget_key(self.budget),
            "kv_mode": self.kv_mode,
            "collection": self.collection,
        }
        if self.reader is not None:
            config["reader"] = self.reader
        if self.precompute is not None:
            config["precompute"] = self.precompute
        if self.allocation is not None:
            config["allocation"] = self.allocation
        return config

    @property
    def key(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


# Budget fields added with the compute axes, at the values that mean "as before": left out of
# a configuration key, so records written before them resume under the same key.
LEGACY_FIELDS = {
    "max_reasoning_tokens": None,
    "reasoning_step_tokens": None,
    "width": 1,
    "cached_token_rate": LEGACY_CACHED_TOKEN_RATE,
}


def budget_key(budget: Budget) -> dict[str, Any]:
    """The budget as a configuration records: every field, except new ones at their old value.

    So a change of unit (the default `cached_token_rate` of 0.1) makes a new configuration,
    while `--cached-token-rate 1` resumes the records written in the old unit.
    """
    data = budget.to_dict()
    return {k: v for k, v in data.items() if k not in LEGACY_FIELDS or LEGACY_FIELDS[k] != v}


def spend_until(out: SystemOutput, step: int) -> Spend:
    """What a run had spent when its reasoning step `step` ended (what its anytime answer cost)."""
    return total_spend(e for e in out.events if e.step <= step and e.agent != "answer")


def make_record(
    example: Example,
    config: EvalConfig,
    out: SystemOutput,
    wall_s: float,
    types: TypeLabels | None = None,
) -> dict[str, Any]:
    golds = example.answers
    retrieved = [e.title for e in out.retrieved]
    budget = config.budget
    kind, kind_source = question_type(example, types)
    steps = sorted({e.step for e in out.events if e.agent != "answer"})
    return {
        "id": example.id,
        "question": example.question,
        "answers": list(golds),
        "type": kind,  # bridge / comparison (HotpotQA), for reports split by question type
        "type_source": kind_source,
        "system": config.system.name,
        "prediction": out.answer,
        "em": exact_match(out.answer, golds),
        "f1": round(f1(out.answer, golds), 4),
        "support_recall": support_recall(retrieved, example.supporting_titles),
        "supporting_titles": list(example.supporting_titles),
        "retrieved": retrieved,
        "cost": {
            **QuestionCost.of(out.usage, llm_calls=out.usage.llm_calls, wall_s=wall_s).to_dict(
                budget.rates, budget.cached_token_rate
            ),
            "reasoner_tokens": reasoner_tokens(out.events),
        },
        # What the run had spent after each step (reader excluded), and what its reader cost:
        # a replay of the reader at step k costs spend_after_step[k] plus its own call.
        "spend_after_step": {str(step): spend_until(out, step).to_dict() for step in steps},
        # The reasoner's completion tokens by the end of each step: a replay on the reasoning
        # axis reads the pool a smaller reasoning budget would have reached.
        "reasoner_after_step": {
            str(step): reasoner_tokens(e for e in out.events if e.step <= step) for step in steps
        },
        "reader_cost": total_spend(e for e in out.events if e.agent == "answer").to_dict(),
        # Each model call's tokens, in order: where a prompt layout's prefix cache hits or not.
        "calls": [
            {
                "agent": e.agent,
                "step": e.step,
                "prompt_tokens": e.prompt_tokens,
                "cached_tokens": e.cached_tokens,
                "completion_tokens": e.completion_tokens,
            }
            for e in out.events
            if e.kind == "llm"
        ],
        # Each reader sample's short answer (width), so smaller widths can be voted again.
        "reader_samples": list(out.reader_samples),
        # Replies that did not fit the question and were read again under a constraint.
        "reader_rereads": list(out.reader_rereads),
        # The answer of a second look at one passage more after an unsure read ("": none).
        "reader_second_look": out.reader_second_look,
        # The greedy answer's token log-probabilities: how sure the reader was.
        "answer_logprobs": [round(x, 4) for x in out.answer_logprobs],
        "stop_reason": out.stop_reason,
        "error": out.error,
        "answer_source": out.answer_source,
        "found": list(out.found),
        "allocation": out.allocation,
        # The whole evidence pool, so `leadline eval --replay` can re-run just the reader.
        "pool": [
            {
                "id": h.passage_id,
                "title": h.title,
                "text": h.text,
                "source": h.source,
                "query": h.query,
                "rank": h.rank,
                "step": h.step,
            }
            for h in out.pool
        ],
        # Each workspace passage's evidence number and the step that showed it: a replayed
        # read numbers its passages as the run's read did (other numbers, other answers).
        "workspace": {e.passage_id: [e.n, e.step] for e in out.retrieved} if out.pool else {},
        "anytime": [
            {
                "step": a.step,
                "answer": a.answer,
                "confidence": a.confidence,
                "total_tokens": a.total_tokens,
                "search_steps": a.search_steps,
                "weighted_tokens": round(budget.weighted(spend_until(out, a.step)), 1),
                "compute": round(spend_until(out, a.step).compute(budget.rates), 1),
                "em": exact_match(a.answer, golds),
                "f1": round(f1(a.answer, golds), 4),
            }
            for a in out.anytime
        ],
        "precompute": config.precompute,
        "config_key": config.key,
        "config": config.to_dict(),
    }


def load_records(path: Path) -> list[dict[str, Any]]:
    """Records already written; a torn last line (a crash mid-write) is ignored."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def finished(
    path: Path, config: EvalConfig, records: Iterable[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Finished records by question id; refuses a file written with another configuration."""
    done: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("config_key") != config.key:
            raise ConfigError(
                f"{path} holds results of another configuration ({record.get('config')}); "
                "use a different --out directory or delete the file"
            )
        done[str(record["id"])] = record
    return done
