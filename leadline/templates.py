"""Strict `$name` text templates kept as package data, and the one loader every layer uses.

Each layer keeps its prompts beside its code: the agents' in `leadline/agents/prompts/`, the LLM
client's JSON-repair turn in `leadline/tools/prompts/`. A template renders only when it is given
exactly its placeholders: a missing or an unexpected variable is a `ConfigError`, so a prompt and
the code that fills it cannot drift apart silently.
"""

from __future__ import annotations

import functools
from importlib import resources
from string import Template
from typing import Any

from leadline.errors import ConfigError


@functools.cache
def load_template(package: str, name: str) -> Template:
    """`<package>/prompts/<name>.txt` as a `Template` (read once)."""
    try:
        text = resources.files(package).joinpath("prompts", f"{name}.txt").read_text("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"prompt template {name!r} does not exist in {package}") from exc
    return Template(text.rstrip("\n"))


def template_variables(package: str, name: str) -> set[str]:
    return set(load_template(package, name).get_identifiers())


def render_template(package: str, name: str, **variables: Any) -> str:
    """Fill a template; every placeholder must be given and nothing extra may be passed."""
    expected = template_variables(package, name)
    missing, extra = expected - variables.keys(), variables.keys() - expected
    if missing or extra:
        raise ConfigError(
            f"template {name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    return load_template(package, name).substitute(variables)
