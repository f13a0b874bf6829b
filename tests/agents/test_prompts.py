from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadline import templates
from leadline.agents import planner, reasoner
from leadline.agents.prompting import charter, render, template_variables
from leadline.agents.workspace import Evidence, Note, PlanEntry, append_entries
from leadline.errors import ConfigError
from leadline.graph.read import reader_messages

# What the code passes to each template (a change on either side must update this test).
PASSED = {
    "charter": {"planner_job", "reasoner_job", "answer_job"},
    "shared_user": {"question", "workspace", "instruction"},
    "isolated_user": {"question", "view_title", "workspace", "instruction"},
    "planner": {"max_queries"},
    "reasoner": {"max_queries"},
    "answer": set(),
    "planner_turn": set(),
    "reasoner_turn": set(),
    "reader": {"question", "passages"},
    "reader_reread": {"answer", "wanted"},
    "reader_look": {"passage", "question"},
    "planner_system": set(),
    "reasoner_system": set(),
    "answer_system": set(),
    "baseline_system": set(),
    "baseline_closed_book": {"question"},
    "baseline_reader": {"question", "passages"},
    "baseline_ircot": {"question", "passages", "thoughts"},
    "model_check": set(),
    "distil": {"title", "text", "max_facts", "max_questions"},
}


def test_every_template_takes_exactly_what_the_code_passes() -> None:
    files = {
        p.name[:-4]
        for p in resources.files("leadline.agents").joinpath("prompts").iterdir()
        if p.name.endswith(".txt")
    }
    assert files == set(PASSED)
    for name, variables in PASSED.items():
        assert template_variables(name) == variables, name


def test_the_llm_clients_repair_template_takes_the_error() -> None:
    files = [
        p.name
        for p in resources.files("leadline.tools").joinpath("prompts").iterdir()
        if p.name.endswith(".txt")
    ]
    assert files == ["json_repair.txt"]
    assert templates.template_variables("leadline.tools", "json_repair") == {"error"}


def test_render_is_strict() -> None:
    with pytest.raises(ConfigError, match="missing"):
        render("planner")
    with pytest.raises(ConfigError, match="unexpected"):
        render("answer", extra=1)


entries_strategy = st.lists(
    st.one_of(
        st.builds(
            Evidence,
            n=st.just(0),
            passage_id=st.text("abc", min_size=1, max_size=3),
            title=st.text(max_size=20),
            text=st.text(max_size=80),
            source=st.just("s"),
        ),
        st.builds(Note, step=st.integers(1, 9), text=st.text(max_size=60)),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(
    question=st.text(min_size=1, max_size=80),
    batches=st.lists(entries_strategy, min_size=1, max_size=5),
)
def test_shared_mode_prompts_only_ever_append(question: str, batches: list) -> None:
    """Across consecutive calls of a shared-mode run, each prompt starts with the previous one's
    whole shared part (system charter, question and workspace): only appended, never rewritten."""
    plan = PlanEntry(sub_questions=("a",), queries=("q",), hops=2, shape="bridge")
    entries = append_entries([], [plan])
    builders = [planner.planner_messages, reasoner.reasoner_messages]
    previous_prefix = None
    for i, batch in enumerate(batches):
        entries = append_entries(entries, batch)
        messages = builders[i % 2](question, entries, "shared")
        system, user = messages[0]["content"], messages[1]["content"]
        prompt = system + "\x00" + user
        shared_prefix = system + "\x00" + user[: user.rindex("\n---\n")]
        if previous_prefix is not None:
            assert prompt.startswith(previous_prefix)
        previous_prefix = shared_prefix


def test_isolated_mode_gives_each_role_its_own_system_prompt_and_view() -> None:
    ev = Evidence(n=0, passage_id="x", title="T", text="body", source="s")
    entries = append_entries([], [PlanEntry((), ("q",), 1, "bridge"), ev, Note(1, "a note")])
    systems = {
        f("Q", entries, "isolated")[0]["content"]
        for f in (planner.planner_messages, reasoner.reasoner_messages)
    }
    systems.add(reader_messages("Q", "[1] T: body", "isolated")[0]["content"])
    assert len(systems) == 3
    reasoner_user = reasoner.reasoner_messages("Q", entries, "isolated")[1]["content"]
    assert "[1] T: body" in reasoner_user and "a note" in reasoner_user


def test_the_reader_reads_its_passages_not_the_workspace_and_restates_the_question() -> None:
    for kv_mode in ("shared", "isolated"):
        system, user = (m["content"] for m in reader_messages("Who?", "[3] T: body", kv_mode))
        assert user.index("[3] T: body") < user.rindex("Question: Who?")
        assert user.count("Question: Who?") == 2
        assert "Workspace" not in user
    # The reader has its own system prompt in both modes (behind the charter it wrote sentences).
    assert reader_messages("Q", "", "shared") == reader_messages("Q", "", "isolated")
    assert reader_messages("Q", "", "shared")[0]["content"] != charter()
