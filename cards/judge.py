"""The model judge of deduplication: one call judges a card against its doubtful candidates.

This is the only part of deduplication that talks to the model (through `llm.gateway`); the pure rules that
use its verdicts are `cards.dedup.settle` and `cards.dedup.doubtful` (docs/dedup.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import pydantic

from cards import dedup
from llm import gateway

JUDGE_PURPOSE = "dedup.judge"


class CandidateJudgement(pydantic.BaseModel):
    """The verdict on one numbered candidate."""

    candidate: int
    same_value: bool
    differing_parts: list[str]
    confidence: float = pydantic.Field(ge=0.0, le=1.0)


class DedupJudgements(pydantic.BaseModel):
    """The model's verdicts on a card's candidates, one per candidate."""

    verdicts: list[CandidateJudgement]


JUDGE_INSTRUCTIONS = """You decide whether a values card, written by one person, expresses the same value as
each of a few candidate cards written by others. A values card names what someone attends to when making a
choice: a title, a one-sentence description and attentional policies (the things they look for). The card and
the numbered candidates are in the data.
Two cards express the same value when a person living by one would attend to the same things, and so make
the same choices, as a person living by the other; wording, order and the number of policies do not matter,
and one card may spell out a policy the other implies.
They are different values when following one would lead you to attend to something the other would not,
or to choose differently in the same situation (for example autonomy in a decision versus protection from
harm, or honest feedback versus gentle encouragement), even on the same topic and with the same framing.
Judge every candidate on its own. For each, answer with its number as candidate, same_value,
differing_parts (the policies or ideas present in one card and absent from the other; empty when none) and
confidence between 0 and 1."""


def judge_available(round_id: int | None = None) -> bool:
    """True when the gateway has a model that could judge."""
    return bool(gateway.model_available(round_id))


def judge_candidates(
    card: dedup.CardText, candidates: Sequence[dedup.CardText], *, round_id: int | None = None
) -> list[dedup.Verdict | None]:
    """Ask the model, in one call, whether `card` expresses the same value as each candidate. Returns one verdict
    per candidate, in order (None where the model gave none); raises dedup.JudgeUnavailable when it cannot."""
    if not candidates:
        return []
    try:
        answer = gateway.complete_structured(
            purpose=JUDGE_PURPOSE,
            instructions=JUDGE_INSTRUCTIONS,
            data={
                "card": card.as_dict(),
                "candidates": [{"number": n, **c.as_dict()} for n, c in enumerate(candidates, start=1)],
            },
            schema=DedupJudgements,
            round_id=round_id,
        )
    except gateway.LLMUnavailable as failure:
        raise dedup.JudgeUnavailable(str(failure)) from failure
    verdicts: list[dedup.Verdict | None] = [None] * len(candidates)
    if len(candidates) == 1 and len(answer.verdicts) == 1:
        # One candidate and one verdict: that verdict is about it, whatever number the model wrote (small models
        # often number from 0).
        answer.verdicts[0].candidate = 1
    for item in answer.verdicts:
        position = item.candidate - 1
        # A number out of range, or a second verdict on one candidate, is ignored rather than guessed at.
        if 0 <= position < len(candidates) and verdicts[position] is None:
            verdicts[position] = dedup.Verdict(
                same=item.same_value, confidence=item.confidence, differing_parts=tuple(item.differing_parts)
            )
    return verdicts
