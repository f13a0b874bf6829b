"""`leadline eval --replay` with one cache-minded reader variant patched in (experiments).

    python replay_cache_variant.py VARIANT[,VARIANT] eval --replay RECORDS \
        --reader-passages 2 --out DIR

Run against commit 6dab136 (the reader before this session's change, which made
`instruction-first` and `look-continues` the shipped behaviour).

- `instruction-first`: the reader's short-answer instruction moves from after the passages to
  the head of its message (the constant text a prefix cache keeps); the question stays last.
- `look-continues`: the second look is a follow-up turn of the first read's conversation
  (its reply, then the one passage more and the question), not a new prompt of K + 1 passages.
- `no-look`: no second look (the early read, with `--replay-step 1`).
- `base`: nothing patched.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from string import Template

import leadline.evals.replay as replay
import leadline.graph.build as build
import leadline.graph.read as read
from leadline.budgets.guard import CallRefused
from leadline.cli import main
from leadline.errors import LLMError

INSTRUCTION_FIRST = Template(
    "Your job: give the final answer, as the answerer described above. Answer the question "
    "from the passages below, as briefly as possible: a name, date, number or short phrase, "
    "never a sentence. Answer a yes/no question with yes or no; for a question that names two "
    "entities, answer with one of them.\n"
    "Question: $question\n\nPassages:\n$passages\n\nQuestion: $question\n"
    'Reply with JSON: {"answer": "..."}'
)


def reader_messages(question, passages, kv_mode):
    return [
        {"role": "system", "content": read.isolated_system("answer")},
        {
            "role": "user",
            "content": INSTRUCTION_FIRST.substitute(question=question, passages=passages),
        },
    ]


LOOK_TURN = Template(
    "One more passage:\n$passage\n\nQuestion: $question\n"
    "Answer the question again from all the passages, as briefly as possible. "
    'Reply with JSON: {"answer": "..."}'
)


async def second_look_continued(
    llm, spec, entries, pool, guard, extra_body, first, *, up_to_step=None
):
    if llm.gives_logprobs is False or not read.needs_second_look(first, spec.budget.width):
        return first
    messages, shown = read.reader_prompt(spec, entries, pool, guard, up_to_step)
    wider = replace(spec, reader_passages=spec.reader_passages + 1)
    _, shown_wider = read.reader_prompt(wider, entries, pool, guard, up_to_step)
    if len(shown_wider) <= len(shown):
        return first
    extra = shown_wider[len(shown)]
    follow = [
        *messages,
        {"role": "assistant", "content": json.dumps({"answer": first.answer})},
        {
            "role": "user",
            "content": LOOK_TURN.substitute(
                passage=read.render_passages([extra]), question=spec.question
            ),
        },
    ]
    try:
        samples = await read.sample_answers(llm, spec, follow, guard, extra_body)
    except (CallRefused, LLMError, read.LLMOutputError):
        return first
    answer = samples.answers[0] if samples.answers else ""
    if not answer:
        return first
    kept = read.keeps_second_look(
        first.answer, first.answer_logprobs, answer, samples.greedy_logprobs
    )
    if not kept:
        return replace(first, second_look=answer, rereads=first.rereads + samples.rereads)
    cited = tuple(
        read.Citation(
            p.n, p.passage_id, p.title, p.source, read.quote(answer, p.text, read.QUOTE_CHARS)
        )
        for p in read.cite(answer, shown_wider)
    )
    return replace(
        first,
        answer=answer,
        citations=cited,
        samples=(answer,),
        answer_logprobs=samples.greedy_logprobs,
        second_look=answer,
        rereads=first.rereads + samples.rereads,
    )


async def no_look(llm, spec, entries, pool, guard, extra_body, first, *, up_to_step=None):
    return first


def patch(variants: str) -> None:
    for variant in variants.split(","):
        if variant == "instruction-first":
            read.reader_messages = reader_messages
        elif variant == "look-continues":
            read.second_look = second_look_continued
            replay.second_look = second_look_continued
            build.second_look = second_look_continued
        elif variant == "no-look":  # the early read takes no second look
            replay.second_look = no_look
        elif variant != "base":
            raise SystemExit(f"unknown variant {variant!r}")


if __name__ == "__main__":
    patch(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
