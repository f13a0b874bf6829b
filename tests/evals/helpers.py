"""A tiny HotpotQA-layout dataset, a scripted model that plays every system, and services."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from leadline.config import load_settings
from leadline.evals.datasets import Dataset, load_dataset
from leadline.services import Services
from leadline.tools.llm import LLMClient
from leadline.tools.search.base import Passage
from tests.fakes.llm_server import agent_role, flatten_prompt
from tests.fakes.search import MemorySearch

# question -> (answer, bridge paragraph, answer paragraph)
FACTS = {
    "Which city hosts the museum of the painter Anna Berg?": (
        "Oslo",
        ("Anna Berg", "Anna Berg was a painter whose museum is the Berg Museum."),
        ("Berg Museum", "The Berg Museum is located in Oslo, Norway."),
    ),
    "Which river flows through the hometown of the poet Carl Dahl?": (
        "Elbe",
        ("Carl Dahl", "Carl Dahl was a poet born in Dresden."),
        ("Dresden", "Dresden is a city on the river Elbe."),
    ),
    "What instrument did the teacher of Eva Ford play?": (
        "cello",
        ("Eva Ford", "Eva Ford studied with the teacher Gus Hale."),
        ("Gus Hale", "Gus Hale was a teacher who played the cello."),
    ),
    "In which year was the school of Ida Moss founded?": (
        "1889",
        ("Ida Moss", "Ida Moss attended Lark School."),
        ("Lark School", "Lark School was founded in 1889."),
    ),
}
_QUESTION = re.compile(r"Question: (.+)")


def write_dataset(path: Path) -> Path:
    rows = []
    for i, (question, (answer, bridge, target)) in enumerate(FACTS.items()):
        noise = (f"Noise {i}", f"Noise paragraph number {i} about nothing in particular.")
        rows.append(
            {
                "question_id": f"q{i}",
                "question_text": question,
                "answers_objects": [{"number": "", "spans": [answer]}],
                "contexts": [
                    {"id": str(j), "title": t, "paragraph_text": p, "is_supporting": j < 2}
                    for j, (t, p) in enumerate([bridge, target, noise])
                ],
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def load_mini(tmp_path: Path) -> Dataset:
    return load_dataset(f"hotpotqa:{write_dataset(tmp_path / 'mini.jsonl')}")


def search_for(dataset: Dataset) -> MemorySearch:
    return MemorySearch(
        [Passage(id=d.id, title=d.title, text=d.text, source="mini") for d in dataset.corpus]
    )


class ScriptedModel:
    """Answers like a model that is right once both gold paragraphs are in its prompt.

    Closed-book and planning know nothing; the reasoner never says done (so `fixed` spends up to
    the caps) and always proposes a fresh query; the reader and final answer are right when the
    answer paragraph is in the prompt.
    """

    def __init__(self) -> None:
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def _knows(self, text: str) -> tuple[str, bool]:
        question = _QUESTION.search(text)
        answer, _, (title, para) = FACTS.get(
            question.group(1).strip() if question else "", ("?", 0, ("", ""))
        )
        return answer, para in text

    def __call__(self, body: dict[str, Any]) -> str:
        text = flatten_prompt(body)
        answer, known = self._knows(text)
        wrong = "1900" if answer.isdigit() else "Berlin"  # wrong, but the kind asked for
        role = agent_role(body)
        if role == "planner":
            return json.dumps(
                {
                    "sub_questions": ["who", "what"],
                    "queries": [_QUESTION.search(text).group(1)],
                    "hops": 2,
                    "shape": "bridge",
                }
            )
        if role == "reasoner":
            with self.lock:
                k = next(self.counter)
            return json.dumps(
                {
                    "note": "Read [1].",
                    "answer": answer if known else "unknown",
                    "confidence": 0.9 if known else 0.2,
                    "done": False,
                    "next_queries": [f"{answer} museum river teacher school {k}"],
                }
            )
        if role == "answer":
            return json.dumps({"answer": answer if known else wrong, "citations": [1]})
        if "Continue the reasoning" in text:
            return (
                "Paris is named in the passages."
                if "(none yet)" in text
                else f"So the answer is: {answer}."
            )
        return json.dumps({"answer": answer if known else wrong})


def says_yes_first(body: dict[str, Any]) -> str:
    """The scripted model, except that its reader first says "Yes" to every question (so a
    question that is not yes/no is read again, held to its kind)."""
    held = "pattern" in json.dumps(body.get("response_format") or {})
    if agent_role(body) == "answer" and not held:
        return json.dumps({"answer": "Yes"})
    return ScriptedModel()(body)


def make_services(base_url: str, search: Any, data_dir: Path) -> Services:
    config = data_dir / "empty.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("")
    settings = load_settings(config_file=config, environ={}, data_dir=data_dir)
    llm = LLMClient(base_url=base_url, model="scripted", max_retries=0, timeout_s=10)
    return Services(settings=settings, llm=llm, search=search)


@asynccontextmanager
async def scripted_services(base_url: str, dataset: Any, data_dir: Path) -> AsyncIterator[Services]:
    """`make_services` over the dataset's own search, with the LLM client closed on the way out."""
    services = make_services(base_url, search_for(dataset), data_dir)
    try:
        yield services
    finally:
        await services.llm.aclose()
