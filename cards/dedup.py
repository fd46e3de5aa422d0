"""Deduplication of values cards into canonical values: pure numpy code, plain data in and out, no ORM.

A card is embedded as one text for its heading (title and description) plus one text per attentional
policy (see `card_texts`). Two cards are compared by aligning their policies one by one, blended with
the cosine of a card vector (heading plus policy centroid); docs/dedup.md has the measurements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pydantic

Decision = Literal["same", "different", "review"]
Embed = Callable[[list[str]], np.ndarray]

ALIGNMENT_WEIGHT = 0.6
DEFAULT_K = 5
PREFILTER_POOL = 50
PRECISION_TARGET = 0.95
RECALL_TARGET = 0.98
REPRESENTATIVE_TIE = 0.01
MEDOID_SAMPLE = 200
JUDGE_PURPOSE = "dedup.judge"
JUDGE_MIN_CONFIDENCE = 0.6
FILLER_WORDS = ("meaningful", "deep", "deeply")
STYLE_MIN_POLICIES, STYLE_MAX_POLICIES = 3, 7


@dataclass(frozen=True)
class CardText:
    """The words of a values card: title, one-sentence description and attentional policies."""

    title: str
    description: str
    policies: tuple[str, ...]

    @classmethod
    def from_mapping(cls, data: Mapping) -> CardText:
        """Build from {"title", "description", "policies"}; raise ValueError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("a card must be an object with title, description and policies")
        title, description, policies = data.get("title"), data.get("description"), data.get("policies")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("the card has no title")
        if not isinstance(description, str):
            raise ValueError("the card's description must be text")
        if not isinstance(policies, list | tuple) or not all(isinstance(p, str) for p in policies):
            raise ValueError("the card's policies must be a list of texts")
        cleaned = tuple(p.strip() for p in policies if p.strip())
        if not cleaned:
            raise ValueError("the card has no attentional policies")
        return cls(title.strip(), description.strip(), cleaned)

    def as_dict(self) -> dict:
        """The card as plain JSON-ready data."""
        return {"title": self.title, "description": self.description, "policies": list(self.policies)}


def card_heading(title: str, description: str) -> str:
    """The text embedded for a card's title and description."""
    return f"{title.strip()}. {description.strip()}" if description.strip() else title.strip()


def card_texts(title: str, description: str, policies: Sequence[str]) -> list[str]:
    """The texts to embed for one card: its heading first, then one per non-empty policy."""
    return [card_heading(title, description), *(p.strip() for p in policies if p.strip())]


def policies_text(policies: Sequence[str]) -> str:
    """The policies sorted and joined with newlines (MAI's single-text form, order-insensitive)."""
    return "\n".join(sorted(p.strip() for p in policies if p.strip()))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


@dataclass(frozen=True)
class CardVectors:
    """A card's vectors: `whole` (unit heading vector plus unit policy centroid, renormalised) and `policies`."""

    whole: np.ndarray
    policies: np.ndarray

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> CardVectors:
        """From the embedding of `card_texts`: row 0 the heading, then one unit row per policy."""
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] < 2:
            raise ValueError("a card's embedding needs a heading row and at least one policy row")
        policies = matrix[1:]
        whole = _unit(_unit(matrix[0]) + _unit(policies.mean(axis=0))).astype(np.float32)
        return cls(whole=whole, policies=policies)

    @property
    def policy_count(self) -> int:
        """How many attentional policies the card has."""
        return int(self.policies.shape[0])


def as_card_vectors(vectors: CardVectors | np.ndarray) -> CardVectors:
    """Accept either CardVectors or the raw embedding matrix of `card_texts` (as stored on a card)."""
    return vectors if isinstance(vectors, CardVectors) else CardVectors.from_matrix(vectors)


def embed_cards(cards: Sequence[CardText], embed: Embed) -> list[CardVectors]:
    """Embed many cards with one call of `embed` (texts -> unit rows)."""
    # Participants often adopt a card or a policy verbatim, so each distinct text is embedded once.
    position: dict[str, int] = {}
    rows_of: list[list[int]] = []
    for card in cards:
        rows_of.append(
            [
                position.setdefault(text, len(position))
                for text in card_texts(card.title, card.description, card.policies)
            ]
        )
    if not position:
        return []
    matrix = np.asarray(embed(list(position)), dtype=np.float32)
    if matrix.shape[0] != len(position):
        raise ValueError(f"the embedder returned {matrix.shape[0]} vectors for {len(position)} texts")
    return [CardVectors.from_matrix(matrix[rows]) for rows in rows_of]


def alignment(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric soft alignment of two policy matrices: mean best-match cosine each way, averaged."""
    sims = np.asarray(a, dtype=np.float32) @ np.asarray(b, dtype=np.float32).T
    return float(0.5 * (sims.max(axis=1).mean() + sims.max(axis=0).mean()))


def similarity(a: CardVectors | np.ndarray, b: CardVectors | np.ndarray) -> float:
    """How likely two cards express the same value: policy alignment blended with the card-vector cosine."""
    a, b = as_card_vectors(a), as_card_vectors(b)
    card_cosine = float(a.whole @ b.whole)
    return ALIGNMENT_WEIGHT * alignment(a.policies, b.policies) + (1 - ALIGNMENT_WEIGHT) * card_cosine


def similarity_matrix(left: Sequence[CardVectors], right: Sequence[CardVectors]) -> np.ndarray:
    """`similarity` for every pair of left x right cards, vectorised: float32 (len(left), len(right))."""
    if not left or not right:
        return np.zeros((len(left), len(right)), dtype=np.float32)
    left_counts = np.array([v.policy_count for v in left])
    right_counts = np.array([v.policy_count for v in right])
    left_starts = np.concatenate(([0], np.cumsum(left_counts)[:-1]))
    right_starts = np.concatenate(([0], np.cumsum(right_counts)[:-1]))
    sims = np.concatenate([v.policies for v in left]) @ np.concatenate([v.policies for v in right]).T
    best_in_right = np.maximum.reduceat(sims, right_starts, axis=1)
    forward = np.add.reduceat(best_in_right, left_starts, axis=0) / left_counts[:, None]
    best_in_left = np.maximum.reduceat(sims, left_starts, axis=0)
    backward = np.add.reduceat(best_in_left, right_starts, axis=1) / right_counts[None, :]
    cosines = np.stack([v.whole for v in left]) @ np.stack([v.whole for v in right]).T
    blended = ALIGNMENT_WEIGHT * 0.5 * (forward + backward) + (1 - ALIGNMENT_WEIGHT) * cosines
    return blended.astype(np.float32)


def _scores_against(
    card: CardVectors, policies: np.ndarray, counts: np.ndarray, cosines: np.ndarray
) -> np.ndarray:
    """`similarity` of one card to many, given their policy rows stacked in order and their card cosines."""
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sims = card.policies @ np.asarray(policies, dtype=np.float32).T
    forward = np.maximum.reduceat(sims, starts, axis=1).mean(axis=0)
    backward = np.add.reduceat(sims.max(axis=0), starts) / counts
    return ALIGNMENT_WEIGHT * 0.5 * (forward + backward) + (1 - ALIGNMENT_WEIGHT) * cosines


@dataclass(frozen=True)
class Thresholds:
    """`threshold` splits same from different; scores in [review_low, review_high) go to review."""

    threshold: float
    review_low: float
    review_high: float

    def __post_init__(self) -> None:
        if not self.review_low <= self.threshold <= self.review_high:
            raise ValueError("thresholds must satisfy review_low <= threshold <= review_high")


# Calibrated on all of tests/data/dedup_pairs.jsonl with `calibrate` (docs/dedup.md).
DEFAULT_THRESHOLDS = Thresholds(threshold=0.438, review_low=0.424, review_high=0.502)


def thresholds_for(threshold: float | None) -> Thresholds:
    """The default thresholds, or ones centred on an organizer's threshold with the default band widths."""
    if not threshold:
        return DEFAULT_THRESHOLDS
    below = DEFAULT_THRESHOLDS.threshold - DEFAULT_THRESHOLDS.review_low
    above = DEFAULT_THRESHOLDS.review_high - DEFAULT_THRESHOLDS.threshold
    return Thresholds(threshold=threshold, review_low=threshold - below, review_high=threshold + above)


def decide(score: float, thresholds: Thresholds) -> Decision:
    """ "same" at or above the review band, "different" below it, "review" inside it."""
    if score >= thresholds.review_high:
        return "same"
    if score < thresholds.review_low:
        return "different"
    return "review"


def is_same(score: float, thresholds: Thresholds) -> bool:
    """The forced yes/no answer when nobody reviews: the calibrated threshold alone."""
    return score >= thresholds.threshold


@dataclass(frozen=True)
class Metrics:
    """Precision, recall and F1 of the "same" answers."""

    precision: float
    recall: float
    f1: float


def binary_metrics(predicted: Sequence[bool] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> Metrics:
    """Precision, recall and F1 of predicted "same" against labels (0 where undefined)."""
    predicted, labels = np.asarray(predicted, dtype=bool), np.asarray(labels, dtype=bool)
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return Metrics(precision, recall, f1)


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve (ties count half)."""
    from scipy.stats import rankdata

    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        raise ValueError("the AUC needs both same and different pairs")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def calibrate(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[bool] | np.ndarray,
    *,
    precision_target: float = PRECISION_TARGET,
    recall_target: float = RECALL_TARGET,
) -> Thresholds:
    """The F1-maximising threshold, and a review band: merges above it reach `precision_target`,
    splits below it lose at most 1 - `recall_target` of true duplicates."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    if scores.shape != labels.shape or not labels.any() or labels.all():
        raise ValueError("calibration needs as many labels as scores, with both same and different pairs")
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    true_positives = np.cumsum(hits)
    predicted = np.arange(1, len(ranked) + 1)
    # Only cut between distinct scores: everything tied with a kept score is kept too.
    last_of_tie = np.append(ranked[1:] != ranked[:-1], True)
    f1 = np.where(last_of_tie, 2 * true_positives / (predicted + labels.sum()), -1.0)
    cut = int(np.argmax(f1))
    threshold = _between(ranked, cut)

    precision = true_positives / predicted
    precise = np.flatnonzero(last_of_tie & (precision >= precision_target) & (np.arange(len(ranked)) <= cut))
    if not precise.size:
        review_high = float(ranked[0]) + 1e-6
    elif precise[-1] == cut:
        review_high = threshold
    else:
        review_high = _between(ranked, int(precise[-1]))
    recall = true_positives / labels.sum()
    enough = np.flatnonzero(last_of_tie & (recall >= recall_target))
    review_low = min(threshold, _between(ranked, int(enough[0])))
    return Thresholds(threshold=threshold, review_low=review_low, review_high=max(review_high, threshold))


def _between(ranked: np.ndarray, cut: int) -> float:
    """A threshold keeping ranked[:cut + 1]: halfway to the next lower score."""
    if cut + 1 >= len(ranked):
        return float(ranked[cut])
    return float((ranked[cut] + ranked[cut + 1]) / 2)


def stratified_split(
    labels: Sequence[bool] | np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (calibration, held-out): `fraction` of the same and of the different pairs go to calibration."""
    if not 0 <= fraction < 1:
        raise ValueError("the calibration fraction must be at least 0 and below 1")
    labels = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    calibration: list[np.ndarray] = []
    held_out: list[np.ndarray] = []
    for group in (np.flatnonzero(labels), np.flatnonzero(~labels)):
        shuffled = rng.permutation(group)
        take = int(round(fraction * len(shuffled)))
        calibration.append(shuffled[:take])
        held_out.append(shuffled[take:])
    return np.sort(np.concatenate(calibration)), np.sort(np.concatenate(held_out))


class CanonicalIndex:
    """An in-memory index of one question's canonical values, for finding a new card's candidates.

    A matrix product over unit card vectors (float32) prefilters; the PREFILTER_POOL best are rescored
    with the full `similarity`, using policy vectors stored as float16 to halve memory.
    """

    def __init__(self, dimensions: int | None = None, policy_dtype: type = np.float16):
        self._dimensions = dimensions
        self._policy_dtype = policy_dtype
        self._wholes = np.zeros((0, dimensions or 0), dtype=np.float32)
        self._policies: list[np.ndarray] = []
        self._keys: list[Hashable] = []
        self._rows: dict[Hashable, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def dimensions(self) -> int | None:
        """The dimension of the card vectors held, None until the first is added (or given)."""
        return self._dimensions

    def __contains__(self, key: Hashable) -> bool:
        return key in self._rows

    def keys(self) -> list[Hashable]:
        """The canonical keys, in row order."""
        return list(self._keys)

    def add(self, key: Hashable, vectors: CardVectors | np.ndarray) -> None:
        """Add a canonical value (or replace its vectors when the key is already present)."""
        vectors = as_card_vectors(vectors)
        if self._dimensions is None:
            self._dimensions = int(vectors.whole.shape[0])
            self._wholes = np.zeros((0, self._dimensions), dtype=np.float32)
        if vectors.whole.shape[0] != self._dimensions:
            raise ValueError(f"expected {self._dimensions}-dimensional vectors, got {vectors.whole.shape[0]}")
        if key in self._rows:
            self.replace(key, vectors)
            return
        row = len(self._keys)
        if row == self._wholes.shape[0]:
            grown = np.zeros((max(16, 2 * row), self._dimensions), dtype=np.float32)
            grown[:row] = self._wholes[:row]
            self._wholes = grown
        self._wholes[row] = vectors.whole
        self._policies.append(vectors.policies.astype(self._policy_dtype))
        self._keys.append(key)
        self._rows[key] = row

    def replace(self, key: Hashable, vectors: CardVectors | np.ndarray) -> None:
        """Swap in new vectors for a canonical value (its representative changed); KeyError if absent."""
        vectors = as_card_vectors(vectors)
        row = self._rows[key]
        self._wholes[row] = vectors.whole
        self._policies[row] = vectors.policies.astype(self._policy_dtype)

    def remove(self, key: Hashable) -> None:
        """Drop a canonical value (merged away or deactivated); KeyError if absent."""
        row = self._rows.pop(key)
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            self._wholes[row] = self._wholes[last]
            self._policies[row] = self._policies[last]
            self._keys[row] = moved
            self._rows[moved] = row
        self._keys.pop()
        self._policies.pop()

    def memory_bytes(self) -> int:
        """Bytes held by the vectors (allocated card-vector rows plus policy matrices)."""
        return int(self._wholes.nbytes + sum(p.nbytes for p in self._policies))

    def candidates(
        self, vectors: CardVectors | np.ndarray, k: int = DEFAULT_K, threshold: float | None = None
    ) -> list[tuple[Hashable, float]]:
        """Up to k (canonical key, similarity) pairs, best first, at or above `threshold` when given."""
        vectors = as_card_vectors(vectors)
        size = len(self._keys)
        if size == 0 or k < 1:
            return []
        cosines = self._wholes[:size] @ vectors.whole.astype(np.float32)
        pool = min(size, max(PREFILTER_POOL, 4 * k))
        rows = np.argpartition(-cosines, pool - 1)[:pool] if pool < size else np.arange(size)
        mats = [self._policies[r] for r in rows]
        counts = np.array([m.shape[0] for m in mats])
        scores = _scores_against(vectors, np.concatenate(mats), counts, cosines[rows])
        found = [
            (self._keys[int(row)], float(score))
            for row, score in zip(rows, scores, strict=True)
            if threshold is None or score >= threshold
        ]
        found.sort(key=lambda item: -item[1])
        return found[:k]


def articulation_score(card: CardText) -> float:
    """How well a card follows the house style, 0..1 (title, one sentence, 3-7 policies, CAPITALS, no filler)."""
    checks = [
        2 <= len(card.title.split()) <= 5,
        len(re.findall(r"[.!?](\s|$)", card.description)) <= 1 and len(card.description.split()) <= 35,
        STYLE_MIN_POLICIES <= len(card.policies) <= STYLE_MAX_POLICIES,
        sum(bool(re.search(r"\b[A-Z]{3,}", p)) for p in card.policies) / max(1, len(card.policies)),
        not any(re.search(rf"\b{word}\b", " ".join(card.policies).lower()) for word in FILLER_WORDS),
    ]
    return float(sum(float(check) for check in checks) / len(checks))


def choose_representative(
    members: Sequence[CardVectors | np.ndarray], cards: Sequence[CardText] | None = None
) -> int:
    """The index of the cluster's best articulation: the medoid by `similarity`; near-ties go to the
    better-styled card, then to more policies (up to 7), then to the earliest."""
    if not members:
        raise ValueError("a cluster needs at least one member")
    vectors = [as_card_vectors(m) for m in members]
    count = len(vectors)
    if count == 1:
        return 0
    # Beyond MEDOID_SAMPLE members, centrality is measured against an evenly spaced sample.
    sample = np.unique(np.linspace(0, count - 1, min(count, MEDOID_SAMPLE)).round().astype(int))
    sims = similarity_matrix(vectors, [vectors[i] for i in sample])
    in_sample = np.isin(np.arange(count), sample)
    self_sims = np.zeros(count)
    self_sims[sample] = sims[sample, np.arange(len(sample))]
    centrality = (sims.sum(axis=1) - self_sims) / (len(sample) - in_sample)
    styles = [articulation_score(c) for c in cards] if cards is not None else [0.0] * count
    return _most_central(centrality, styles, [v.policy_count for v in vectors])


def _most_central(centrality: np.ndarray, styles: Sequence[float], policy_counts: Sequence[int]) -> int:
    near = np.flatnonzero(centrality >= centrality.max() - REPRESENTATIVE_TIE)
    return int(max(near, key=lambda i: (styles[i], min(policy_counts[i], STYLE_MAX_POLICIES), -int(i))))


@dataclass
class _Cluster:
    """A growing cluster: members, their stacked vectors, and each member's summed similarity to the others."""

    members: list[int]
    policies: np.ndarray
    policy_counts: list[int]
    wholes: np.ndarray
    closeness: np.ndarray
    representative: int

    @classmethod
    def founded_by(cls, index: int, card: CardVectors) -> _Cluster:
        return cls([index], card.policies, [card.policy_count], card.whole[None, :], np.zeros(1), index)

    def join(self, index: int, card: CardVectors) -> None:
        row = _scores_against(card, self.policies, np.array(self.policy_counts), self.wholes @ card.whole)
        self.closeness = np.append(self.closeness + row, row.sum())
        self.members.append(index)
        self.policies = np.concatenate([self.policies, card.policies])
        self.policy_counts.append(card.policy_count)
        self.wholes = np.concatenate([self.wholes, card.whole[None, :]])


Judge = Callable[[int, int], bool | None]


def cluster_cards(
    vectors_list: Sequence[CardVectors | np.ndarray],
    thresholds: Thresholds,
    *,
    cards: Sequence[CardText] | None = None,
    judge: Judge | None = None,
) -> list[int]:
    """Greedy online clustering in arrival order: each card joins its best canonical candidate when
    `decide` says "same" (or, in the review band, when `judge(card, representative)` says so; with no
    judge or no verdict, the threshold decides), else founds a new canonical value. Returns cluster ids."""
    vectors = [as_card_vectors(v) for v in vectors_list]
    styles = [articulation_score(c) for c in cards] if cards is not None else [0.0] * len(vectors)
    index = CanonicalIndex()
    clusters: list[_Cluster] = []
    labels: list[int] = []
    for i, card in enumerate(vectors):
        best = index.candidates(card, k=1)
        joined: int | None = None
        if best:
            key, score = int(best[0][0]), best[0][1]
            decision = decide(score, thresholds)
            same = decision == "same"
            if decision == "review":
                verdict = judge(i, clusters[key].representative) if judge is not None else None
                same = is_same(score, thresholds) if verdict is None else verdict
            joined = key if same else None
        if joined is None:
            joined = len(clusters)
            clusters.append(_Cluster.founded_by(i, card))
            index.add(joined, card)
        else:
            cluster = clusters[joined]
            cluster.join(i, card)
            chosen = cluster.members[
                _most_central(
                    cluster.closeness / (len(cluster.members) - 1),
                    [styles[m] for m in cluster.members],
                    cluster.policy_counts,
                )
            ]
            if chosen != cluster.representative:
                cluster.representative = chosen
                index.replace(joined, vectors[chosen])
        labels.append(joined)
    return labels


def cluster_agreement(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of "same cluster", and the adjusted Rand index, against a truth."""
    if len(predicted) != len(truth):
        raise ValueError("both clusterings must label the same items")
    _, pred_ids = np.unique(np.asarray(predicted, dtype=object).astype(str), return_inverse=True)
    _, true_ids = np.unique(np.asarray(truth, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((pred_ids.max() + 1, true_ids.max() + 1), dtype=np.int64)
    np.add.at(table, (pred_ids, true_ids), 1)

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) // 2).sum())

    together = pairs(table)
    predicted_pairs = pairs(table.sum(axis=1))
    true_pairs = pairs(table.sum(axis=0))
    all_pairs = len(predicted) * (len(predicted) - 1) / 2
    precision = together / predicted_pairs if predicted_pairs else 0.0
    recall = together / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    expected = predicted_pairs * true_pairs / all_pairs if all_pairs else 0.0
    maximum = (predicted_pairs + true_pairs) / 2
    ari = (together - expected) / (maximum - expected) if maximum != expected else 1.0
    return {"precision": precision, "recall": recall, "f1": f1, "ari": float(ari)}


class DedupJudgement(pydantic.BaseModel):
    """The model's verdict on whether two values cards express the same value."""

    same_value: bool
    differing_parts: list[str]
    confidence: float = pydantic.Field(ge=0.0, le=1.0)


JUDGE_INSTRUCTIONS = """You decide whether two values cards, written by different people, express the same value.
A values card names what someone attends to when making a choice: a title, a one-sentence description and
attentional policies (the things they look for). The two cards are in the data.
They express the same value when a person living by one card would attend to the same things, and so make
the same choices, as a person living by the other; wording, order and the number of policies do not matter,
and one card may spell out a policy the other implies.
They are different values when following one would lead you to attend to something the other would not,
or to choose differently in the same situation (for example autonomy in a decision versus protection from
harm, or honest feedback versus gentle encouragement), even on the same topic.
Answer with same_value, differing_parts (the policies or ideas present in one card and absent from the
other; empty when none) and confidence between 0 and 1."""


class JudgeUnavailable(Exception):
    """No model can judge now (none configured, budget spent, call failed); decide without it."""


def judge_available(round_id: int | None = None) -> bool:
    """True when the gateway has a model that could judge a pair."""
    try:
        from llm import gateway
    except ImportError:
        return False
    return bool(gateway.model_available(round_id))


def judge_pair(a: CardText, b: CardText, *, round_id: int | None = None) -> DedupJudgement:
    """Ask the model whether two cards express the same value; raise JudgeUnavailable when it cannot."""
    try:
        from llm import gateway
    except ImportError as missing:
        raise JudgeUnavailable("the LLM gateway is not installed") from missing
    try:
        return gateway.complete_structured(
            purpose=JUDGE_PURPOSE,
            instructions=JUDGE_INSTRUCTIONS,
            data={"card_a": a.as_dict(), "card_b": b.as_dict()},
            schema=DedupJudgement,
            round_id=round_id,
        )
    except gateway.LLMUnavailable as failure:
        raise JudgeUnavailable(str(failure)) from failure


@dataclass(frozen=True)
class Resolution:
    """The decision on a card's best candidate, and whether a model call was spent on it."""

    decision: Decision
    judged: bool
    judgement: DedupJudgement | None = None


def resolve_pair(
    score: float,
    thresholds: Thresholds,
    a: CardText,
    b: CardText,
    *,
    round_id: int | None = None,
    judge: Callable[..., DedupJudgement] = judge_pair,
) -> Resolution:
    """Decide by threshold, and call the judge only inside the review band (at most one call per card);
    a confident verdict decides, otherwise the pair stays in review for organizers."""
    decision = decide(score, thresholds)
    if decision != "review":
        return Resolution(decision, judged=False)
    try:
        judgement = judge(a, b, round_id=round_id)
    except JudgeUnavailable:
        return Resolution("review", judged=False)
    if judgement.confidence < JUDGE_MIN_CONFIDENCE:
        return Resolution("review", judged=True, judgement=judgement)
    return Resolution("same" if judgement.same_value else "different", judged=True, judgement=judgement)
