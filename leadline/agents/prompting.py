"""Prompt templates (package data in `prompts/`) and the one function that lays out messages.

Shared mode: every role gets the same system charter, then the question and the whole workspace,
with the role's instruction last, so consecutive prompts share a byte-identical prefix.
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


def build_messages(
    role: Role,
    question: str,
    entries: Sequence[Entry],
    kv_mode: KVMode,
    **instruction_vars: Any,
) -> list[dict[str, str]]:
    """The chat messages for one agent call."""
    instruction = render(role, **instruction_vars)
    if kv_mode == "shared":
        system = render("charter")
        user = render(
            "shared_user",
            question=question,
            workspace=render_workspace(entries),
            instruction=instruction,
        )
    else:
        view_title, kinds = ISOLATED_VIEWS[role]
        system = render(f"{role}_system")
        user = render(
            "isolated_user",
            question=question,
            view_title=view_title,
            workspace=render_view(entries, kinds),
            instruction=instruction,
        )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
