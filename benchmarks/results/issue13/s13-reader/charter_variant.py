"""`leadline eval --replay` with the reader behind the team's charter (experiment, c6ddac8).

    python charter_variant.py eval --replay RECORDS --replay-step 1 --reader-passages 2 --out DIR

The reader's system prompt becomes the shared charter (all three jobs) instead of its own; its
message is unchanged. The early read takes no second look (as in a run). A layout in which the
early read and the planner share a prefix needs the reader to read behind the charter: this
measures whether today's reader still loses there.
"""

from __future__ import annotations

import sys

import leadline.evals.replay as replay
import leadline.graph.read as read
from leadline.agents.prompting import charter
from leadline.cli import main

own = read.reader_messages


def behind_charter(question, passages, kv_mode):
    messages = own(question, passages, kv_mode)
    return [{"role": "system", "content": charter()}, *messages[1:]]


async def no_look(llm, spec, entries, pool, guard, extra_body, first, *, up_to_step=None):
    return first


if __name__ == "__main__":
    read.reader_messages = behind_charter
    replay.second_look = no_look
    sys.exit(main(sys.argv[1:]))
