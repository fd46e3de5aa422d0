"""Model-written transition stories: the model reads a context's values and proposes A → B with their stories.

Each proposed transition comes with its reverse story (B → A), written by the model in the same reply, as the
control. Both directions then read alike, so voters cannot tell the proposed direction from the style of the
text (a model story forward and a template story backward would give it away). A transition whose reverse
story is missing or unusable is dropped whole. Without a model, `propose_transitions` raises LLMUnavailable and
the caller keeps the template stories (moral_graph/stories.py).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

import pydantic
from django.core.exceptions import ValidationError

from core.text import clean_text
from llm import gateway
from llm.prompts import prompt_version

logger = logging.getLogger(__name__)

STORY_MAX = 4000
STORY_MIN = 80
BATCH_SIZE = 12
MAX_TRANSITIONS_PER_BATCH = 8
_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|my|me)\b")
_PSEUDONYM = re.compile(r"\bp-[0-9a-f]{12}\b", re.IGNORECASE)

STORY_INSTRUCTIONS = """\
The data holds one context (a kind of choice) and the values people hold for choices in it. Each value
has an id, a title, a description and attentional policies: what someone attends to when choosing well.

Propose transitions A -> B between these values where B could plausibly be wiser than A for this context:
someone who lived by A, on reflection and experience, would come to live by B and see it as a gain, not a
change of taste. Good reasons: B sees the whole of which A saw a part; B removes an impure motive in A
(fear, status, control); B is a more skilful way to honour what A cared about. Propose only transitions
you find plausible, at most "max_transitions", none between two values that say the same thing, and never
both A -> B and B -> A.

For each transition give:
- from_id and to_id: ids from the data.
- about: one sentence on what A was really about, underneath its policies.
- mappings: one entry per policy of A, quoting it exactly, with kind "kept", "refined" or "dropped" and
  one short clause on how it lives on in B (or why it falls away).
- story: a first-person story (3 to 6 sentences, plain text) of someone who moved from A to B in this
  context: what happened, what they noticed, how their attention changed. An ordinary person; no names,
  places or other details that could identify anyone.
- reverse_story: in the same style and length, a first-person story of someone who moved from B to A.
Write in the language of the values.
"""
STORY_VERSION = prompt_version(STORY_INSTRUCTIONS)


class PolicyMapping(pydantic.BaseModel):
    policy: str
    kind: Literal["kept", "refined", "dropped"]
    how: str


class ProposedTransition(pydantic.BaseModel):
    from_id: int
    to_id: int
    about: str
    mappings: list[PolicyMapping]
    story: str
    reverse_story: str


class ProposedTransitions(pydantic.BaseModel):
    transitions: list[ProposedTransition]


def propose_transitions(*, round_id: int, context: Any, values: list[Any]) -> list[dict]:
    """Model-proposed wiser-than transitions of a context, each followed by its reverse story; raises LLMUnavailable.

    `context` has `name` (and `description`); each value has `pk` or `id`, `title`, `description`, `policies`
    (CanonicalValue rows or dicts). More than BATCH_SIZE values are sent in batches of neighbours in the given
    order, so the caller should order them by similarity. Returns dicts with from_value_id, to_value_id, text,
    prompt_version, origin "model", and for the proposed direction `about` and `mappings` (reverse stories
    carry `reverse_of`: the proposed pair).
    """
    items = [_value_data(v) for v in values]
    if len(items) < 2:
        return []
    stories: list[dict] = []
    seen: set[frozenset[int]] = set()
    for batch in _batches(items):
        reply = gateway.complete_structured(
            purpose="stories.propose",
            instructions=STORY_INSTRUCTIONS,
            data={
                "context": {
                    "name": _attr(context, "name"),
                    "description": _attr(context, "description") or "",
                },
                "values": batch,
                "max_transitions": min(MAX_TRANSITIONS_PER_BATCH, len(batch) * (len(batch) - 1) // 2),
            },
            schema=ProposedTransitions,
            round_id=round_id,
        )
        by_id = {v["id"]: v for v in batch}
        for proposal in reply.transitions:
            pair = frozenset((proposal.from_id, proposal.to_id))
            accepted = _accept(proposal, by_id) if pair not in seen else None
            if accepted is None:
                logger.info("dropped a proposed transition %s -> %s", proposal.from_id, proposal.to_id)
                continue
            seen.add(pair)
            stories.extend(accepted)
    return stories


def _accept(proposal: ProposedTransition, by_id: dict[int, dict]) -> list[dict] | None:
    source, target = by_id.get(proposal.from_id), by_id.get(proposal.to_id)
    if source is None or target is None or source["id"] == target["id"]:
        return None
    forward, backward = _story_text(proposal.story), _story_text(proposal.reverse_story)
    if forward is None or backward is None:
        return None
    own = {p.strip().lower(): p for p in source["policies"]}
    mappings = []
    for mapping in proposal.mappings:
        policy = own.get(mapping.policy.strip().lower())
        if policy is not None and policy not in {m["policy"] for m in mappings}:
            mappings.append({"policy": policy, "kind": mapping.kind, "how": " ".join(mapping.how.split())})
    if len(mappings) != len(own):
        return None
    common = {"prompt_version": STORY_VERSION, "origin": "model"}
    return [
        {
            "from_value_id": source["id"],
            "to_value_id": target["id"],
            "text": forward,
            "about": " ".join(proposal.about.split()),
            "mappings": mappings,
            **common,
        },
        {
            "from_value_id": target["id"],
            "to_value_id": source["id"],
            "text": backward,
            "reverse_of": [source["id"], target["id"]],
            **common,
        },
    ]


def _story_text(raw: str) -> str | None:
    """A usable story: plain text of a sensible length, in the first person, naming no participant."""
    try:
        text = clean_text(raw, field="text", max_length=STORY_MAX, multiline=True)
    except ValidationError:
        return None
    if len(text) < STORY_MIN or not _FIRST_PERSON.search(text) or _PSEUDONYM.search(text):
        return None
    return text


def _value_data(value: Any) -> dict:
    pk = _attr(value, "pk")
    return {
        "id": int(pk if pk is not None else _attr(value, "id")),
        "title": _attr(value, "title"),
        "description": _attr(value, "description"),
        "policies": list(_attr(value, "policies") or []),
    }


def _attr(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _batches(items: list[dict]) -> list[list[dict]]:
    if len(items) <= BATCH_SIZE:
        return [items]
    count = -(-len(items) // BATCH_SIZE)
    size = -(-len(items) // count)
    # Consecutive batches share one value, so transitions across a batch boundary stay possible.
    return [items[max(0, start - 1) : start + size] for start in range(0, len(items), size)]
