"""Deduplication of values cards into canonical values: pure numpy code, plain data in and out, no ORM.

A card is embedded as one text for its heading (title and description) plus one text per attentional
policy (see `card_texts`). Two cards are compared by aligning their policies one by one, blended with
the cosine of a card vector (heading plus policy centroid), after removing what the cards of their question share
(`Population`, `centred`). `settle` decides a card's placement from its scored candidates and, with a model, the
judge's verdicts, which the caller (cards/judge.py via cards/services.py) passes in; docs/dedup.md has the
measurements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Decision = Literal["same", "different", "review"]
Embed = Callable[[list[str]], np.ndarray]

ALIGNMENT_WEIGHT = 0.6
DEFAULT_K = 5
PREFILTER_POOL = 50
PRECISION_TARGET = 0.95
RECALL_TARGET = 0.98
REPRESENTATIVE_TIE = 0.01
MEDOID_SAMPLE = 200
JUDGE_MIN_CONFIDENCE = 0.6
# A card is judged against at most this many candidates, in one model call.
JUDGE_CANDIDATES = 3
# At or above this (centred) similarity two cards are the same text in all but punctuation: no judge needed.
NEAR_VERBATIM = 0.9
# Centring: subtract CENTRING x n / (n + CENTRING_PRIOR) of the mean of a question's n values (docs/dedup.md).
CENTRING = 1.0
CENTRING_PRIOR = 5
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


@dataclass(frozen=True)
class Population:
    """What the cards answering one question share: the shift subtracted from every card vector (`whole`) and
    from every policy vector (`policy`) before two cards are compared.

    Cards that answer one question share framing ("ChatGPT should...", "the user's feelings"), which raises the
    similarity of unrelated values. Subtracting the mean of the question's values removes that component. With
    few values the mean is mostly the values themselves, so it is shrunk towards no shift: n / (n + prior).
    """

    whole: np.ndarray
    policy: np.ndarray
    count: int = 0

    @classmethod
    def from_sums(cls, whole_sum: np.ndarray, policy_sum: np.ndarray, count: int) -> Population:
        """From the sums, over `count` cards, of their card vectors and of their policy centroids."""
        if count <= 0:
            return cls(np.zeros_like(whole_sum, dtype=np.float32), np.zeros_like(policy_sum, dtype=np.float32))
        weight = CENTRING * count / (count + CENTRING_PRIOR) / count
        return cls(
            (np.asarray(whole_sum, dtype=np.float64) * weight).astype(np.float32),
            (np.asarray(policy_sum, dtype=np.float64) * weight).astype(np.float32),
            count,
        )

    @classmethod
    def of(cls, cards: Sequence[CardVectors | np.ndarray]) -> Population:
        """The population of these cards (a question's values, or every card of a labelled file)."""
        vectors = [as_card_vectors(c) for c in cards]
        if not vectors:
            raise ValueError("a population needs at least one card")
        wholes = np.stack([v.whole for v in vectors]).astype(np.float64)
        centroids = np.stack([v.policies.mean(axis=0) for v in vectors]).astype(np.float64)
        return cls.from_sums(wholes.sum(axis=0), centroids.sum(axis=0), len(vectors))


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def centred(card: CardVectors | np.ndarray, population: Population | None) -> CardVectors:
    """The card with the population's shared component removed, rows renormalised (unchanged when None)."""
    card = as_card_vectors(card)
    if population is None or population.count == 0:
        return card
    whole = _unit_rows(card.whole.astype(np.float32) - population.whole)
    policies = _unit_rows(card.policies.astype(np.float32) - population.policy)
    return CardVectors(whole=whole.astype(np.float32), policies=policies.astype(np.float32))


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


def similarity(
    a: CardVectors | np.ndarray, b: CardVectors | np.ndarray, population: Population | None = None
) -> float:
    """How likely two cards express the same value: policy alignment blended with the card-vector cosine,
    after removing what the population's cards share (when given)."""
    a, b = centred(a, population), centred(b, population)
    card_cosine = float(a.whole @ b.whole)
    return ALIGNMENT_WEIGHT * alignment(a.policies, b.policies) + (1 - ALIGNMENT_WEIGHT) * card_cosine


def similarity_matrix(
    left: Sequence[CardVectors], right: Sequence[CardVectors], population: Population | None = None
) -> np.ndarray:
    """`similarity` for every pair of left x right cards, vectorised: float32 (len(left), len(right))."""
    if not left or not right:
        return np.zeros((len(left), len(right)), dtype=np.float32)
    if population is not None and population.count:
        left = [centred(v, population) for v in left]
        right = [centred(v, population) for v in right]
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


# Calibrated with `calibrate` on all 273 pairs of tests/data/dedup_pairs.jsonl, scored centred by the population
# of the file's cards; leave-one-topic-out validation in docs/dedup.md.
DEFAULT_THRESHOLDS = Thresholds(threshold=0.312, review_low=0.292, review_high=0.424)


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
        # Running sums of the card vectors and policy centroids held, for the population's shared component.
        self._whole_sum = np.zeros(dimensions or 0, dtype=np.float64)
        self._policy_sum = np.zeros(dimensions or 0, dtype=np.float64)
        self._centroids: list[np.ndarray] = []

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
            self._whole_sum = np.zeros(self._dimensions, dtype=np.float64)
            self._policy_sum = np.zeros(self._dimensions, dtype=np.float64)
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
        centroid = vectors.policies.mean(axis=0).astype(np.float64)
        self._centroids.append(centroid)
        self._whole_sum += vectors.whole
        self._policy_sum += centroid

    def replace(self, key: Hashable, vectors: CardVectors | np.ndarray) -> None:
        """Swap in new vectors for a canonical value (its representative changed); KeyError if absent."""
        vectors = as_card_vectors(vectors)
        row = self._rows[key]
        centroid = vectors.policies.mean(axis=0).astype(np.float64)
        self._whole_sum += vectors.whole.astype(np.float64) - self._wholes[row]
        self._policy_sum += centroid - self._centroids[row]
        self._wholes[row] = vectors.whole
        self._policies[row] = vectors.policies.astype(self._policy_dtype)
        self._centroids[row] = centroid

    def remove(self, key: Hashable) -> None:
        """Drop a canonical value (merged away or deactivated); KeyError if absent."""
        row = self._rows.pop(key)
        self._whole_sum -= self._wholes[row]
        self._policy_sum -= self._centroids[row]
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            self._wholes[row] = self._wholes[last]
            self._policies[row] = self._policies[last]
            self._centroids[row] = self._centroids[last]
            self._keys[row] = moved
            self._rows[moved] = row
        self._keys.pop()
        self._policies.pop()
        self._centroids.pop()
        if not self._keys:
            self._whole_sum[:] = 0.0
            self._policy_sum[:] = 0.0

    def population(self) -> Population:
        """The population of the values held: what a new card is centred by before it is compared."""
        return Population.from_sums(self._whole_sum, self._policy_sum, len(self._keys))

    def memory_bytes(self) -> int:
        """Bytes held by the vectors (allocated card-vector rows plus policy matrices)."""
        return int(self._wholes.nbytes + sum(p.nbytes for p in self._policies))

    def candidates(
        self,
        vectors: CardVectors | np.ndarray,
        k: int = DEFAULT_K,
        threshold: float | None = None,
        population: Population | None = None,
    ) -> list[tuple[Hashable, float]]:
        """Up to k (canonical key, similarity) pairs, best first, at or above `threshold` when given. Scores are
        centred by `population`, by default the population of the values held (`population()`)."""
        size = len(self._keys)
        if size == 0 or k < 1:
            return []
        population = self.population() if population is None else population
        query = centred(vectors, population)
        wholes = self._wholes[:size]
        # Centred cosines without copying the matrix: (w - m).q / |w - m|, with |w - m|^2 = 1 - 2 w.m + m.m.
        shift = population.whole.astype(np.float32)
        products = wholes @ np.stack([query.whole.astype(np.float32), shift], axis=1)
        norms = np.sqrt(np.maximum(1.0 - 2.0 * products[:, 1] + float(shift @ shift), 1e-12))
        cosines = (products[:, 0] - float(shift @ query.whole)) / norms
        pool = min(size, max(PREFILTER_POOL, 4 * k))
        rows = np.argpartition(-cosines, pool - 1)[:pool] if pool < size else np.arange(size)
        mats = [self._policies[r] for r in rows]
        counts = np.array([m.shape[0] for m in mats])
        policies = np.concatenate(mats).astype(np.float32)
        if population.count:
            policies = _unit_rows(policies - population.policy)
        scores = _scores_against(query, policies, counts, cosines[rows])
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


@dataclass(frozen=True)
class Verdict:
    """The judge's answer on one candidate: the same value or not, and how sure it is (0..1)."""

    same: bool
    confidence: float
    differing_parts: tuple[str, ...] = ()


class JudgeUnavailable(Exception):
    """No model could judge now (none configured, budget spent, call failed); decide without it."""


@dataclass(frozen=True)
class Placement:
    """Where a card goes: "same" joins `key`; "different" founds a value; "review" founds a value and waits for
    an organizer. `score` is the best candidate's; `judged` says whether the judge's verdicts were used."""

    decision: Decision
    key: Hashable | None
    score: float | None
    judged: bool = False


def doubtful(candidates: Sequence[tuple[Hashable, float]], thresholds: Thresholds) -> list[tuple[Hashable, float]]:
    """The candidates a judge must see: above the review band's floor, not near-verbatim, the best few."""
    ranked = sorted(candidates, key=lambda item: -item[1])
    return [(k, s) for k, s in ranked if thresholds.review_low <= s < NEAR_VERBATIM][:JUDGE_CANDIDATES]


def settle(
    candidates: Sequence[tuple[Hashable, float]],
    thresholds: Thresholds,
    verdicts: Mapping[Hashable, Verdict | None] | None = None,
    *,
    judge_failed: bool = False,
) -> Placement:
    """Decide a card's placement from its scored candidates and, with a model, the judge's verdicts on the
    `doubtful` ones (None: no judge configured; `judge_failed`: one was, but gave no answer).

    Precision over recall: a wrong merge silently takes someone's value away, a missed one stays visible.
    - No candidate above the floor: a new value. A near-verbatim one: joined, no judge needed.
    - No judge configured: the embeddings decide; only above the review band is a card merged, inside it the
      card founds its own value and waits for review.
    - Judge configured but failed: every doubtful card founds its own value and waits for review.
    - With verdicts: a confident "same" joins that candidate. A best candidate above the band that the judge did
      not confidently call "same" goes to review (a verdict against strong evidence is not trusted blindly); so
      does any doubtful candidate without a confident verdict; confident "different" on all: a new value.
    """
    ranked = sorted(candidates, key=lambda item: -item[1])
    if not ranked or ranked[0][1] < thresholds.review_low:
        return Placement("different", None, ranked[0][1] if ranked else None)
    best_key, best = ranked[0]
    if best >= NEAR_VERBATIM:
        return Placement("same", best_key, best)
    if judge_failed:
        return Placement("review", None, best)
    if verdicts is None:
        decision = decide(best, thresholds)
        return Placement(decision, best_key if decision == "same" else None, best)

    def confident(key: Hashable) -> Verdict | None:
        verdict = verdicts.get(key)
        return verdict if verdict is not None and verdict.confidence >= JUDGE_MIN_CONFIDENCE else None

    asked = doubtful(ranked, thresholds)
    best_verdict = confident(best_key)
    if best >= thresholds.review_high and not (best_verdict and best_verdict.same):
        return Placement("review", None, best, judged=True)
    for key, score in asked:
        verdict = confident(key)
        if verdict is not None and verdict.same:
            return Placement("same", key, score, judged=True)
    if any(confident(key) is None for key, _ in asked):
        return Placement("review", None, best, judged=True)
    return Placement("different", None, best, judged=True)


Judge = Callable[[int, list[int]], Sequence[Verdict | None]]


def cluster_cards(
    vectors_list: Sequence[CardVectors | np.ndarray],
    thresholds: Thresholds,
    *,
    cards: Sequence[CardText] | None = None,
    judge: Judge | None = None,
) -> list[int]:
    """Greedy online clustering in arrival order, with the rules of `settle` (as live placement): each card is
    scored against the canonical values so far (centred by their population) and joins one or founds its own.
    `judge(card, [representatives])` gives a verdict per doubtful candidate, or raises JudgeUnavailable.
    Returns cluster ids; a card in review founds its own cluster."""
    vectors = [as_card_vectors(v) for v in vectors_list]
    styles = [articulation_score(c) for c in cards] if cards is not None else [0.0] * len(vectors)
    index = CanonicalIndex()
    clusters: list[_Cluster] = []
    labels: list[int] = []
    for i, card in enumerate(vectors):
        found = [(int(key), score) for key, score in index.candidates(card, k=DEFAULT_K)]
        verdicts: dict[Hashable, Verdict | None] | None = None
        failed = False
        asked = doubtful(found, thresholds)
        if judge is not None and asked and found[0][1] < NEAR_VERBATIM:
            try:
                answers = judge(i, [clusters[key].representative for key, _ in asked])
                verdicts = {key: answer for (key, _), answer in zip(asked, answers, strict=False)}
            except JudgeUnavailable:
                failed = True
        placement = settle(found, thresholds, verdicts, judge_failed=failed)
        joined = placement.key if placement.decision == "same" else None
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
        labels.append(int(joined))
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
