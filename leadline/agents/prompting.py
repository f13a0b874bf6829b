"""Prompt templates (package data in `prompts/`) and the one function that lays out messages.

Shared mode: every role gets the same system charter, which holds all the roles' instructions,
then the question and the whole workspace, and last a one-line turn naming the job to do now.
Consecutive prompts — of any role, and of different runs on the same server slot — therefore share
a byte-identical prefix, and only the new workspace entries and the short turn are uncached.
Isolated mode: each role has its own system prompt and sees only its own view of the workspace
(evidence ranked by relevance), as most multi-agent systems do; it is kept as the comparison.
Templates use `$name` placeholders and render strictly: a missing variable is an error.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from string import Template
from typing import Any, Literal

from leadline.agents.workspace import (
    Entry,
    Evidence,
    Note,
    PlanEntry,
    render_view,
    render_workspace,
)
from leadline.errors import ConfigError

Role = Literal["planner", "reasoner", "answer"]
KVMode = Literal["shared", "isolated"]

# Query limit written into the planner and reasoner instructions: a constant, so the shared
# charter (which holds every role's instruction) renders to the same bytes for every run.
MAX_QUERIES = 3
ROLES: tuple[Role, ...] = ("planner", "reasoner", "answer")
# The short turn line that ends a shared-mode prompt (matched by tests' scripted servers).
ROLE_JOBS: dict[Role, str] = {
    "planner": "plan the research.",
    "reasoner": "reason over the evidence.",
    "answer": "give the final answer.",
}

# What each role sees in isolated mode (shared mode shows everything to everyone).
ISOLATED_VIEWS: dict[Role, tuple[str, tuple[type, ...]]] = {
    "planner": ("Known so far", (PlanEntry,)),
    "reasoner": ("Evidence and notes", (Evidence, Note)),
    "answer": ("Evidence", (Evidence,)),
}


@functools.cache
def load_template(name: str) -> Template:
    try:
        text = (
            resources.files("leadline.agents").joinpath("prompts", f"{name}.txt").read_text("utf-8")
        )
    except FileNotFoundError as exc:
        raise ConfigError(f"prompt template {name!r} does not exist") from exc
    return Template(text.rstrip("\n"))


def template_variables(name: str) -> set[str]:
    return set(load_template(name).get_identifiers())


def render(name: str, **variables: Any) -> str:
    """Fill a template; every placeholder must be given and nothing extra may be passed."""
    expected = template_variables(name)
    missing, extra = expected - variables.keys(), variables.keys() - expected
    if missing or extra:
        raise ConfigError(
            f"template {name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    return load_template(name).substitute(variables)


def role_instruction(role: Role) -> str:
    variables = {"max_queries": MAX_QUERIES} if "max_queries" in template_variables(role) else {}
    return render(role, **variables)


@functools.cache
def shared_charter() -> str:
    """The one system prompt of shared mode, with every role's instruction in it."""
    return render("charter", **{role: role_instruction(role) for role in ROLES})


def build_messages(
    role: Role, question: str, entries: Sequence[Entry], kv_mode: KVMode
) -> list[dict[str, str]]:
    """The chat messages for one agent call."""
    if kv_mode == "shared":
        system = shared_charter()
        user = render(
            "shared_user",
            question=question,
            workspace=render_workspace(entries),
            instruction=render("turn", job=ROLE_JOBS[role], role=role),
        )
    else:
        view_title, kinds = ISOLATED_VIEWS[role]
        system = render(f"{role}_system")
        user = render(
            "isolated_user",
            question=question,
            view_title=view_title,
            workspace=render_view(entries, kinds),
            instruction=role_instruction(role),
        )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
