"""Deduplicate MAI's 2023 values cards offline and compare with their canonical mapping; time the index at scale.

Run from the project root: .venv/bin/python bench/dedup_mai.py [--data ../shared/eval/mai-dft-2023]
[--index-size 100000]. Prints the canonical count, pairwise precision/recall/F1 and the adjusted Rand index
against MAI's `canonicalCardId`, seconds and peak memory; then per-query time and memory of a
CanonicalIndex holding --index-size synthetic canonical values.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

# OpenBLAS threads cost more than they save on these small products (6x here); set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts bench/ on the path, not the project root.
sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np  # noqa: E402

from cards import dedup  # noqa: E402
from llm.offline import embed_texts  # noqa: E402

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "eval" / "mai-dft-2023"
GROUP_KEYS = ("questionId", "caseId", "case")
SWEEP = (0.50, 0.55, 0.60, 0.65, 0.70)
QUERIES = 100


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_cards(data: Path) -> list[dict]:
    """MAI's values cards in arrival order."""
    cards = json.loads((data / "values_cards.json").read_text(encoding="utf-8"))
    return sorted(cards, key=lambda c: (c["createdAt"], c["id"]))


def group_of(card: dict) -> str:
    """The question a card answers when the dump records it; MAI's 2023 cards carry none."""
    for key in GROUP_KEYS:
        if card.get(key) is not None:
            return str(card[key])
    return "all"


def to_card_text(card: dict) -> dedup.CardText:
    """Their schema in ours: evaluationCriteria are the policies, instructionsShort the description."""
    return dedup.CardText.from_mapping(
        {
            "title": card["title"],
            "description": card["instructionsShort"],
            "policies": card["evaluationCriteria"],
        }
    )


def cluster_all(
    cards: list[dict],
    texts: list[dedup.CardText],
    vectors: list[dedup.CardVectors],
    thresholds: dedup.Thresholds,
) -> tuple[list[str], int]:
    """Cluster each question's cards online; labels "group:cluster" and how many decisions hit the review band."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, card in enumerate(cards):
        groups[group_of(card)].append(i)
    labels = [""] * len(cards)
    in_band = 0

    def count_band(card_index: int, representative_index: int) -> None:
        nonlocal in_band
        in_band += 1

    for group, members in groups.items():
        found = dedup.cluster_cards(
            [vectors[i] for i in members], thresholds, cards=[texts[i] for i in members], judge=count_band
        )
        for i, cluster in zip(members, found, strict=True):
            labels[i] = f"{group}:{cluster}"
    return labels, in_band


def agreement(cards: list[dict], labels: list[str]) -> dict[str, float]:
    """Agreement with MAI's canonicalCardId over the cards they mapped."""
    mapped = [i for i, c in enumerate(cards) if c.get("canonicalCardId") is not None]
    return dedup.cluster_agreement([labels[i] for i in mapped], [cards[i]["canonicalCardId"] for i in mapped])


def prefilter_recall(vectors: list[dedup.CardVectors]) -> float:
    """How often the index's best candidate scores as high as the exhaustive best (each card against all others;
    by score, since copies of one card tie)."""
    exhaustive = dedup.similarity_matrix(vectors, vectors)
    np.fill_diagonal(exhaustive, -np.inf)
    index = dedup.CanonicalIndex()
    for i, v in enumerate(vectors):
        index.add(i, v)
    hits = 0
    for i, v in enumerate(vectors):
        found = [score for key, score in index.candidates(v, k=2) if key != i]
        hits += int(found[0] >= exhaustive[i].max() - 1e-3)
    return hits / len(vectors)


def distinct_cards(cards: list[dict], texts: list[dedup.CardText]) -> list[int]:
    """The first card of each distinct text (many MAI participants adopted an existing card verbatim)."""
    first: dict[dedup.CardText, int] = {}
    for i, text in enumerate(texts):
        first.setdefault(text, i)
    return sorted(first.values())


def bench_mai(data: Path) -> None:
    started = time.perf_counter()
    cards = load_cards(data)
    texts = [to_card_text(c) for c in cards]
    vectors = dedup.embed_cards(texts, embed_texts)
    embedded = time.perf_counter()
    thresholds = dedup.DEFAULT_THRESHOLDS
    labels, in_band = cluster_all(cards, texts, vectors, thresholds)
    clustered = time.perf_counter()
    result = agreement(cards, labels)
    theirs = {c["canonicalCardId"] for c in cards if c.get("canonicalCardId") is not None}
    groups = sorted({group_of(c) for c in cards})

    print(
        f"MAI 2023 values cards: {len(cards)} ({sum(c.get('canonicalCardId') is None for c in cards)} "
        f"without a canonical id, left out of the agreement); groups: {', '.join(groups)}"
    )
    if groups == ["all"]:
        print("  (values_cards.json records no question per card; MAI merged across their 3 questions)")
    print(f"canonical values: ours {len(set(labels))}, theirs {len(theirs)}")
    print(
        f"thresholds: same at {thresholds.threshold:.3f}, review band "
        f"[{thresholds.review_low:.3f}, {thresholds.review_high:.3f}); offline the threshold decides the band"
    )
    print(
        f"review-band decisions {in_band} of {len(cards)} cards = {in_band / len(cards):.2f} model calls per card "
        "with a judge"
    )
    print(
        f"pairwise precision {result['precision']:.3f} recall {result['recall']:.3f} F1 {result['f1']:.3f}, "
        f"adjusted Rand index {result['ari']:.3f}"
    )
    print(
        f"seconds: embed {embedded - started:.1f}, cluster {clustered - embedded:.2f}, "
        f"total {clustered - started:.1f}; peak memory {peak_mb():.0f} MB"
    )
    distinct = distinct_cards(cards, texts)
    print(f"threshold sweep (all {len(cards)} cards | the {len(distinct)} distinct texts):")
    for threshold in (thresholds.threshold, *SWEEP):
        swept = dedup.Thresholds(threshold, threshold, threshold)
        every, _ = cluster_all(cards, texts, vectors, swept)
        r = agreement(cards, every)
        few, _ = cluster_all(
            [cards[i] for i in distinct], [texts[i] for i in distinct], [vectors[i] for i in distinct], swept
        )
        d = agreement([cards[i] for i in distinct], few)
        print(
            f"  {threshold:.3f}: {len(set(every))} values, P {r['precision']:.2f} R {r['recall']:.2f} "
            f"F1 {r['f1']:.2f} ARI {r['ari']:.2f} | {len(set(few))} values, P {d['precision']:.2f} "
            f"R {d['recall']:.2f} F1 {d['f1']:.2f} ARI {d['ari']:.2f}"
        )
    print(
        f"prefilter: the index's best candidate is as good as the exhaustive best for "
        f"{prefilter_recall(vectors):.1%} of cards"
    )


def bench_index(size: int, seed: int) -> None:
    """Fill an index with random canonical values (policy rows drawn from a shared pool) and time queries."""
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((20_000, 384)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    index = dedup.CanonicalIndex(dimensions=384)
    started = time.perf_counter()
    for first in range(0, size, 10_000):
        count = min(10_000, size - first)
        wholes = rng.standard_normal((count, 384)).astype(np.float32)
        wholes /= np.linalg.norm(wholes, axis=1, keepdims=True)
        for offset in range(count):
            rows = rng.integers(0, len(pool), size=int(rng.integers(3, 8)))
            index.add(first + offset, dedup.CardVectors(wholes[offset], pool[rows]))
    built = time.perf_counter()
    timings = []
    for _ in range(QUERIES):
        rows = rng.integers(0, len(pool), size=5)
        query = dedup.CardVectors.from_matrix(np.vstack([pool[rows].mean(axis=0), pool[rows]]))
        begin = time.perf_counter()
        index.candidates(query, k=dedup.DEFAULT_K)
        timings.append(time.perf_counter() - begin)
    timings_ms = np.array(timings) * 1000
    print(
        f"CanonicalIndex with {size:,} canonical values (3-7 policies each, 384 dimensions): "
        f"built in {built - started:.1f} s, vectors {index.memory_bytes() / 2**20:.0f} MB"
    )
    print(
        f"  candidates(k={dedup.DEFAULT_K}) over {QUERIES} queries: median {np.median(timings_ms):.1f} ms, "
        f"p95 {np.percentile(timings_ms, 95):.1f} ms; peak memory {peak_mb():.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the mai-dft-2023 folder")
    parser.add_argument(
        "--index-size", type=int, default=100_000, help="synthetic canonical values (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.data / "values_cards.json").is_file():
        parser.error(f"{args.data / 'values_cards.json'} not found")
    started = time.perf_counter()
    bench_mai(args.data)
    if args.index_size > 0:
        bench_index(args.index_size, args.seed)
    print(f"bench total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
