"""The reasoner's reply schema: what a model may send, and what it may not."""

from __future__ import annotations

import json

import pytest

from leadline.agents.reasoner import ReasonerOutput
from leadline.errors import LLMOutputError
from leadline.tools.llm import parse_json_reply


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_confidence_is_refused_so_the_reply_gets_repaired(bad: str) -> None:
    # Python's json accepts these; passed on, they would make every event we emit invalid JSON.
    with pytest.raises(LLMOutputError, match="finite"):
        parse_json_reply(f'{{"answer": "x", "confidence": {bad}}}', ReasonerOutput)


def test_confidence_outside_0_1_is_clamped_and_the_output_stays_strict_json() -> None:
    out = parse_json_reply('{"answer": "x", "confidence": 7}', ReasonerOutput)
    assert out.clamped_confidence == 1.0
    json.dumps(out.model_dump(), allow_nan=False)  # raises on NaN/inf
