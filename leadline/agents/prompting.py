"""Prompt templates (package data in `prompts/`) and the one layout of the agents' messages.

Each role has a job description (`planner.txt`, ...) and a short turn (`planner_turn.txt`, ...)
that says which job is asked for and the JSON to reply with.
Shared mode: every role gets the same system charter, which holds all three job descriptions,
then the question and the whole workspace, with the role's short turn last, so consecutive
prompts share a byte-identical prefix and only the new workspace text and the turn are computed.
Isolated mode: each role has its own system prompt (its identity and its own job description)
and sees only its own view of the workspace (evidence ranked by relevance), as most multi-agent
systems do; it is kept as the comparison. Both modes give a role the same words.
Templates use `$name` placeholders and render strictly: a missing variable is an error.

Each role asks for its messages in its own module (`planner.planner_messages`,
`reasoner.reasoner_messages`, `graph.read.reader_messages`), so a reader following a research
step can take this module as given: it only fills templates and lays them out for the kv mode.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal

from leadline.agents.workspace import (
    Entry,
    Evidence,
    Note,
    PlanEntry,
    render_view,
    render_workspace,
)
from leadline.config import KVMode
from leadline.templates import render_template
from leadline.templates import template_variables as _template_variables

Role = Literal["planner", "reasoner", "answer"]

PROMPTS_PACKAGE = "leadline.agents"  # templates in leadline/agents/prompts/

MAX_PLAN_QUERIES = 3
MAX_NEXT_QUERIES = 3
# Each job description's variables.
JOB_VARIABLES: dict[Role, dict[str, Any]] = {
    "planner": {"max_queries": MAX_PLAN_QUERIES},
    "reasoner": {"max_queries": MAX_NEXT_QUERIES},
    "answer": {},
}
# The name the charter and the role's turn call each job by.
JOB_TITLES: dict[Role, str] = {"planner": "planner", "reasoner": "reasoner", "answer": "answerer"}

# What each role sees in isolated mode (shared mode shows everything to everyone).
ISOLATED_VIEWS: dict[str, tuple[str, tuple[type, ...]]] = {
    "planner": ("Known so far", (PlanEntry,)),
    "reasoner": ("Evidence and notes", (Evidence, Note)),
}


def template_variables(name: str) -> set[str]:
    return _template_variables(PROMPTS_PACKAGE, name)


def render(name: str, **variables: Any) -> str:
    """Fill one of the agents' templates strictly (see `leadline.templates`)."""
    return render_template(PROMPTS_PACKAGE, name, **variables)


def job_description(role: Role) -> str:
    return render(role, **JOB_VARIABLES[role])


@functools.cache
def charter() -> str:
    """The one system prompt of shared mode: the team and every job, identical for all calls."""
    return render("charter", **{f"{role}_job": job_description(role) for role in JOB_VARIABLES})


@functools.cache
def isolated_system(role: Role) -> str:
    return f"{render(f'{role}_system')}\n\nThe {JOB_TITLES[role]}: {job_description(role)}"


def system_prompt(role: Role, kv_mode: KVMode) -> str:
    return charter() if kv_mode == "shared" else isolated_system(role)


def build_messages(
    role: Literal["planner", "reasoner"], question: str, entries: Sequence[Entry], kv_mode: KVMode
) -> list[dict[str, str]]:
    """The chat messages for one planner or reasoner call."""
    turn = render(f"{role}_turn")
    system = system_prompt(role, kv_mode)
    if kv_mode == "shared":
        user = render(
            "shared_user", question=question, workspace=render_workspace(entries), instruction=turn
        )
    else:
        view_title, kinds = ISOLATED_VIEWS[role]
        user = render(
            "isolated_user",
            question=question,
            view_title=view_title,
            workspace=render_view(entries, kinds),
            instruction=turn,
        )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
