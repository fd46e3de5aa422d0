"""Put the moral graph to work: route a situation to its context and write the guidance an assistant can follow.

Pure: plain data in, plain data out. Embeddings and the model's answers are computed by
`moral_graph.guidance_services` (which calls `llm.gateway`) and passed in; nothing here imports `llm` or the ORM.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Embedder = Callable[[list[str]], np.ndarray]

# Routing has two steps. Is the situation about what the round deliberated at all? Its similarity to the
# topic profile of a question (the question, its contexts and their values) must reach the threshold. Which
# context is it? The one whose profile is most similar; others within AMBIGUITY_MARGIN of it are listed too.
# The threshold was calibrated for the offline embedder on half of tests/data/guidance_situations.jsonl and
# reported on the other half (docs/guidance.md); another embedding space gets the same value until it is
# calibrated there too (`manage.py guidance SLUG --evaluate FILE` prints the calibrated value).
# The gateway's name for the offline embedder's space (llm.gateway.embedding_space without a model).
OFFLINE_SPACE = "offline:all-MiniLM-L6-v2-onnx-int8"
CALIBRATED_THRESHOLDS = {OFFLINE_SPACE: 0.26}
DEFAULT_THRESHOLD = 0.26
AMBIGUITY_MARGIN = 0.03
# A context's profile: half its own words (name, description), half its values, weighted by how specific
# each value is to the context (a value shared by every context says little about which one this is).
CONTEXT_WEIGHT = 0.5
MAX_WINNING_VALUES = 3
MODEL_MIN_CONFIDENCE = 0.5
NO_MATCH_MESSAGE = (
    "No context of this round matches the situation closely enough, so the round has no guidance for it. "
    "Its participants deliberated about other situations."
)


@dataclass(frozen=True)
class GuidanceValue:
    """One ranked value of a context, as the published snapshot has it."""

    value_id: int | str
    title: str
    description: str
    policies: list[str]
    score: float
    score_interval: list[float]
    rank: int
    rank_interval: list[int]
    p_top: float = 0.0
    n_votes: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The value as the API and the exports show it."""
        return {
            "id": self.value_id,
            "title": self.title,
            "description": self.description,
            "policies": list(self.policies),
            "score": self.score,
            "scoreInterval": list(self.score_interval),
            "rank": self.rank,
            "rankInterval": list(self.rank_interval),
            "pTop": self.p_top,
            "nVotes": self.n_votes,
        }


@dataclass(frozen=True)
class GuidanceContext:
    """A context of a round with its ranked values, best first."""

    context_id: int | str
    name: str
    description: str = ""
    question: str = ""
    support: str = "contested"
    p_top: float = 0.0
    n_votes: int = 0
    n_voters: int = 0
    values: list[GuidanceValue] = field(default_factory=list)


@dataclass(frozen=True)
class Match:
    """A context the situation was routed to, with its similarity and its question's topic similarity."""

    index: int
    similarity: float
    topic_similarity: float
    confidence: float | None = None


@dataclass(frozen=True)
class Routing:
    """The outcome of routing: matched contexts best first (empty when none), and the closest one regardless."""

    method: str
    matches: list[Match]
    closest: Match | None
    threshold: float


@dataclass(frozen=True)
class Profiles:
    """Unit vectors per context: its own profile, and the topic profile of its question."""

    contexts: np.ndarray
    topics: np.ndarray


def threshold_for(space: str) -> float:
    """The topic-similarity cut-off for vectors of an embedding space."""
    return CALIBRATED_THRESHOLDS.get(space, DEFAULT_THRESHOLD)


def value_text(value: GuidanceValue) -> str:
    """The text that stands for a value in a context profile: title, description and policies."""
    return f"{value.title}: {value.description} {' '.join(value.policies)}".strip()


def profile_texts(contexts: Sequence[GuidanceContext]) -> list[str]:
    """Every text to embed for the profiles, in the order `profiles` expects: per context, then the questions."""
    texts: list[str] = []
    for context in contexts:
        texts.append(context.name)
        texts.append(context.description or context.name)
        texts.extend(value_text(v) for v in context.values)
    texts.extend(_questions(contexts))
    return texts


def profiles(contexts: Sequence[GuidanceContext], vectors: np.ndarray) -> Profiles:
    """Context and topic profiles from the embeddings of `profile_texts(contexts)`."""
    vectors = np.asarray(vectors, dtype=np.float32)
    dimensions = vectors.shape[1] if vectors.ndim == 2 else 0
    shared = Counter(value_id for c in contexts for value_id in {v.value_id for v in c.values})
    questions = _questions(contexts)
    question_vectors = vectors[len(vectors) - len(questions) :]
    rows, topic_parts, position = [], {q: [question_vectors[i]] for i, q in enumerate(questions)}, 0
    for context in contexts:
        count = 2 + len(context.values)
        block = vectors[position : position + count]
        position += count
        topic_parts[context.question].extend(block)
        profile = _unit(block[:2].mean(axis=0))
        if context.values:
            weights = np.asarray([1.0 / shared[v.value_id] for v in context.values])
            values = (block[2:] * weights[:, None]).sum(axis=0) / weights.sum()
            profile = CONTEXT_WEIGHT * profile + (1 - CONTEXT_WEIGHT) * _unit(values)
        rows.append(_unit(profile))
    if not rows:
        empty = np.zeros((0, dimensions), dtype=np.float32)
        return Profiles(contexts=empty, topics=empty)
    topic_of = {q: _unit(np.mean(parts, axis=0)) for q, parts in topic_parts.items()}
    return Profiles(
        contexts=np.stack(rows).astype(np.float32),
        topics=np.stack([topic_of[c.question] for c in contexts]).astype(np.float32),
    )


def build_profiles(contexts: Sequence[GuidanceContext], embedder: Embedder) -> Profiles:
    """Embed the contexts' texts with `embedder` and return their profiles."""
    return profiles(contexts, embedder(profile_texts(contexts)))


def route_by_similarity(situation_vector: np.ndarray, index: Profiles, *, threshold: float) -> Routing:
    """The most similar context (and close seconds) when the situation is on the round's topic; else no match."""
    if index.contexts.shape[0] == 0:
        return Routing(method="embedding", matches=[], closest=None, threshold=threshold)
    vector = np.asarray(situation_vector, dtype=np.float32)
    similarity, topic = index.contexts @ vector, index.topics @ vector
    order = np.argsort(-similarity, kind="stable")
    ranked = [
        Match(
            index=int(i),
            similarity=round(float(similarity[i]), 4),
            topic_similarity=round(float(topic[i]), 4),
        )
        for i in order
    ]
    best = ranked[0]
    matches = [
        m
        for m in ranked
        if m.topic_similarity >= threshold and m.similarity >= best.similarity - AMBIGUITY_MARGIN
    ]
    if best.topic_similarity < threshold:
        matches = []
    return Routing(method="embedding", matches=matches, closest=best, threshold=threshold)


def route_from_model(
    context_number: int,
    confidence: float,
    situation_vector: np.ndarray,
    index: Profiles,
    *,
    threshold: float,
) -> Routing:
    """The routing a classifier's answer gives: its 1-based context (0 = none fits) when confident enough.

    The closest context by similarity is reported next to it, as with embedding routing.
    """
    by_similarity = route_by_similarity(situation_vector, index, threshold=threshold)
    vector = np.asarray(situation_vector, dtype=np.float32)
    confidence = round(min(max(float(confidence), 0.0), 1.0), 4)
    matches = []
    if 1 <= context_number <= index.contexts.shape[0] and confidence >= MODEL_MIN_CONFIDENCE:
        i = context_number - 1
        matches = [
            Match(
                index=i,
                similarity=round(float(index.contexts[i] @ vector), 4),
                topic_similarity=round(float(index.topics[i] @ vector), 4),
                confidence=confidence,
            )
        ]
    return Routing(method="model", matches=matches, closest=by_similarity.closest, threshold=threshold)


def winning_values(context: GuidanceContext, *, limit: int = MAX_WINNING_VALUES) -> list[GuidanceValue]:
    """The values that may be first: the top one, and others whose 95% rank interval reaches rank 1."""
    winners = [
        v for i, v in enumerate(context.values) if i == 0 or (v.rank_interval[:1] == [1] and v.n_votes > 0)
    ]
    return winners[:limit]


def guidance_block(
    context: GuidanceContext, values: Sequence[GuidanceValue], *, round_title: str = ""
) -> str:
    """Plain text for an assistant's system prompt: what to attend to in this context, from the wisest values."""
    source = f' in the deliberation "{round_title}"' if round_title else ""
    lines = [f"Situation type: {context.name}"]
    if not values:
        lines.append(f"Participants{source} have not ranked any value for this kind of situation yet.")
        return "\n".join(lines)
    lines.append(
        f"Participants{source} judged these values wisest for this kind of situation "
        f"(support for the winner: {context.support})."
    )
    if context.support == "contested":
        lines.append("They did not clearly agree on the wisest value, so hold this guidance lightly.")
    elif context.support == "too few voters to call":
        lines.append("Too few people judged these values to call a result, so hold this guidance lightly.")
    lines.append("When you respond, attend to:")
    for number, value in enumerate(values, start=1):
        lines.append("")
        lines.append(f"{number}. {value.title}: {value.description}".rstrip())
        lines.extend(f"   - {policy}" for policy in value.policies)
    return "\n".join(lines)


def context_answer(
    context: GuidanceContext, match: Match | None = None, *, round_title: str = ""
) -> dict[str, Any]:
    """One context with its winning values and guidance block, as the API and the exports show it."""
    values = winning_values(context)
    answer: dict[str, Any] = {
        "id": context.context_id,
        "name": context.name,
        "question": context.question,
        "support": context.support,
        "pTop": context.p_top,
        "nVotes": context.n_votes,
        "nVoters": context.n_voters,
        "values": [v.as_dict() for v in values],
        "guidance": guidance_block(context, values, round_title=round_title),
    }
    if match is not None:
        answer = {
            "similarity": match.similarity,
            "topicSimilarity": match.topic_similarity,
            "confidence": match.confidence,
            **answer,
        }
    return answer


def routing_answer(
    contexts: Sequence[GuidanceContext], routing: Routing, *, round_title: str = ""
) -> dict[str, Any]:
    """The answer to a situation: matched contexts with their values, the guidance block, or an honest no."""
    closest = None
    if routing.closest is not None:
        closest = {
            "id": contexts[routing.closest.index].context_id,
            "name": contexts[routing.closest.index].name,
            "similarity": routing.closest.similarity,
            "topicSimilarity": routing.closest.topic_similarity,
        }
    answer: dict[str, Any] = {
        "matched": bool(routing.matches),
        "method": routing.method,
        "threshold": routing.threshold,
        "closest": closest,
        "contexts": [context_answer(contexts[m.index], m, round_title=round_title) for m in routing.matches],
        "guidance": None,
        "message": NO_MATCH_MESSAGE,
    }
    if routing.matches:
        best = answer["contexts"][0]
        answer["guidance"] = best["guidance"]
        answer["message"] = f'The situation matches the context "{best["name"]}".'
    return answer


def routing_figures(
    routings: Sequence[Routing], contexts: Sequence[GuidanceContext], expected: Sequence[str | None]
) -> dict[str, Any]:
    """How routing did on labelled situations (expected context name, or None where no context should match)."""
    on_topic = [(r, e) for r, e in zip(routings, expected, strict=True) if e is not None]
    off_topic = [r for r, e in zip(routings, expected, strict=True) if e is None]

    def name(match: Match | None) -> str | None:
        return contexts[match.index].name if match is not None else None

    def share(hits: list[bool]) -> float | None:
        return round(sum(hits) / len(hits), 4) if hits else None

    return {
        "matchedSituations": len(on_topic),
        "unmatchedSituations": len(off_topic),
        "closestIsRight": share([name(r.closest) == e for r, e in on_topic]),
        "routedRight": share([bool(r.matches) and name(r.matches[0]) == e for r, e in on_topic]),
        "unmatchedRejected": share([not r.matches for r in off_topic]),
    }


def calibrated_threshold(best_similarity: Sequence[float], should_match: Sequence[bool]) -> float:
    """The cut-off that best balances matching the on-topic and rejecting the off-topic situations.

    Candidates lie halfway between neighbouring observed similarities; the score is the mean of the two
    rates, and among equally good cut-offs the middle one is kept, the farthest from both kinds of error.
    """
    values = sorted(set(round(float(s), 6) for s in best_similarity))
    if len(values) < 2:
        return DEFAULT_THRESHOLD
    candidates = [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    pairs = list(zip(best_similarity, should_match, strict=True))
    positives = [s for s, m in pairs if m]
    negatives = [s for s, m in pairs if not m]

    def balanced(t: float) -> float:
        kept = sum(s >= t for s in positives) / len(positives) if positives else 1.0
        rejected = sum(s < t for s in negatives) / len(negatives) if negatives else 1.0
        return (kept + rejected) / 2

    scores = [balanced(t) for t in candidates]
    best = max(scores)
    tied = [t for t, score in zip(candidates, scores, strict=True) if score == best]
    middle = (tied[0] + tied[-1]) / 2
    return round(middle if balanced(middle) == best else tied[len(tied) // 2], 4)


def _questions(contexts: Sequence[GuidanceContext]) -> list[str]:
    return list(dict.fromkeys(c.question for c in contexts))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
