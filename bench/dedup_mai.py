"""Deduplicate MAI's 2023 values cards offline with the placement code of live cards, and compare with their
canonical mapping and with their participants' own verdicts; time the index at scale.

Run from the project root: .venv/bin/python bench/dedup_mai.py [--data ../shared/eval/mai-dft-2023]
[--index-size 100000]. It migrates a temporary SQLite database, places MAI's cards one by one in `createdAt` order
through `dedup_scratch_run` (what `manage.py dedup_cards` runs: a scratch round, live placement, default
settings, no model), and prints the canonical count, pairwise precision/recall/F1 and the adjusted Rand index
against MAI's `canonicalCardId` over all cards and over distinct texts, the agreement with the 43 answers of
`dedup_verifications.json`, a threshold sweep of the pure `cluster_cards` (same rules), seconds and peak memory;
then per-query time and memory of a CanonicalIndex holding --index-size synthetic canonical values.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
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
SWEEP = (0.35, 0.40, 0.45, 0.50)
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
    cards: list[dict], texts: list[dedup.CardText], vectors: list[dedup.CardVectors], thresholds: dedup.Thresholds
) -> list[str]:
    """The pure `cluster_cards` per question (the rules of live placement, no judge); labels "group:cluster"."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, card in enumerate(cards):
        groups[group_of(card)].append(i)
    labels = [""] * len(cards)
    for group, members in groups.items():
        found = dedup.cluster_cards([vectors[i] for i in members], thresholds, cards=[texts[i] for i in members])
        for i, cluster in zip(members, found, strict=True):
            labels[i] = f"{group}:{cluster}"
    return labels


def agreement(cards: list[dict], labels: list[str], among: list[int] | None = None) -> dict[str, float]:
    """Agreement with MAI's canonicalCardId over the cards they mapped (only those in `among`, when given)."""
    keep = set(range(len(cards)) if among is None else among)
    mapped = [i for i, c in enumerate(cards) if c.get("canonicalCardId") is not None and i in keep]
    return dedup.cluster_agreement([labels[i] for i in mapped], [cards[i]["canonicalCardId"] for i in mapped])


def prefilter_recall(vectors: list[dedup.CardVectors]) -> float:
    """How often the index's best candidate scores as high as the exhaustive best (each card against all others,
    centred by the population of all; by score, since copies of one card tie)."""
    population = dedup.Population.of(vectors)
    exhaustive = dedup.similarity_matrix(vectors, vectors, population)
    np.fill_diagonal(exhaustive, -np.inf)
    index = dedup.CanonicalIndex()
    for i, v in enumerate(vectors):
        index.add(i, v)
    hits = 0
    for i, v in enumerate(vectors):
        found = [score for key, score in index.candidates(v, k=2, population=population) if key != i]
        hits += int(found[0] >= exhaustive[i].max() - 1e-3)
    return hits / len(vectors)


def distinct_cards(texts: list[dedup.CardText]) -> list[int]:
    """The first card of each distinct text (many MAI participants adopted an existing card verbatim)."""
    first: dict[dedup.CardText, int] = {}
    for i, text in enumerate(texts):
        first.setdefault(text, i)
    return sorted(first.values())


def place_with_live_code(cards: list[dict], texts: list[dedup.CardText]) -> dict:
    """`dedup_scratch_run` on the cards in this order, in a migrated temporary SQLite database."""
    workdir = tempfile.TemporaryDirectory(prefix="wiser-bench-dedup-mai-")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir.name}/bench.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()
    from django.core.management import call_command

    from cards.services import dedup_scratch_run

    call_command("migrate", verbosity=0)
    try:
        return dedup_scratch_run(
            cards=[(str(card["id"]), text, None) for card, text in zip(cards, texts, strict=True)]
        )
    finally:
        workdir.cleanup()


def verification_check(data: Path, cards: list[dict], texts: list[dedup.CardText], labels: list[str]) -> None:
    """MAI asked 43 participants whether a deduplicated card was their value (same / different). Two readings:
    by cluster (do we put their card with most of the other cards MAI's later run mapped to that deduplicated
    card?) and by text (would placement merge their card into the deduplicated card's text, scored centred by the
    population of all MAI cards?)."""
    answers = json.loads((data / "dedup_verifications.json").read_text(encoding="utf-8"))
    deduplicated = {c["id"]: c for c in json.loads((data / "deduplicated_cards.json").read_text(encoding="utf-8"))}
    members: dict[int, set[int]] = defaultdict(set)
    for row in json.loads((data / "deduplications.json").read_text(encoding="utf-8")):
        members[row["deduplicatedCardId"]].add(row["valuesCardId"])
    position = {card["id"]: i for i, card in enumerate(cards)}
    vectors = dedup.embed_cards(texts, embed_texts)
    population = dedup.Population.of(vectors)
    thresholds = dedup.DEFAULT_THRESHOLDS
    tally: dict[tuple[str, str, str], int] = defaultdict(int)
    for answer in answers:
        mine = position[answer["valuesCardId"]]
        others = [position[m] for m in members[answer["deduplicatedCardId"]] - {answer["valuesCardId"]}]
        together = sum(labels[o] == labels[mine] for o in others)
        ours = "same" if others and together * 2 >= len(others) else "different"
        tally[("cluster", answer["option"], ours)] += 1
        theirs = to_card_text(deduplicated[answer["deduplicatedCardId"]])
        score = dedup.similarity(vectors[mine], dedup.embed_cards([theirs], embed_texts)[0], population)
        decision = dedup.settle([(0, score)], thresholds).decision
        tally[("text", answer["option"], decision)] += 1
    print(f"MAI's {len(answers)} 'is this your value?' answers (participant says -> our placement says):")
    for reading in ("cluster", "text"):
        cells = ", ".join(
            f"{said}->{ours} {tally[(reading, said, ours)]}"
            for said in ("same", "different")
            for ours in ("same", "review", "different")
            if tally[(reading, said, ours)]
        )
        agree = tally[(reading, "same", "same")] + tally[(reading, "different", "different")]
        print(f"  by {reading}: {cells}; agree {agree} of {len(answers)}")


def bench_mai(data: Path) -> None:
    started = time.perf_counter()
    cards = load_cards(data)
    texts = [to_card_text(c) for c in cards]
    result = place_with_live_code(cards, texts)
    placed = time.perf_counter()
    labels = [result["assignments"][str(card["id"])] for card in cards]
    theirs = {c["canonicalCardId"] for c in cards if c.get("canonicalCardId") is not None}
    distinct = distinct_cards(texts)
    every, few = agreement(cards, labels), agreement(cards, labels, distinct)
    thresholds = result["thresholds"]

    print(
        f"MAI 2023 values cards: {len(cards)} ({sum(c.get('canonicalCardId') is None for c in cards)} "
        f"without a canonical id, left out of the agreement), {len(distinct)} distinct texts"
    )
    print("  (values_cards.json records no question per card, so all cards form one question, as MAI merged them)")
    print(
        f"live placement (dedup_scratch_run, default settings, offline): same at {thresholds['same']:.3f}, review "
        f"band [{thresholds['review_low']:.3f}, {thresholds['review_high']:.3f}); offline only cards above the "
        "band merge"
    )
    print(f"canonical values: ours {result['values']}, theirs {len(theirs)}")
    print(
        f"cards waiting for review {result['review']}; cards a model judge would see {result['doubtful']} = "
        f"{result['doubtful'] / len(cards):.2f} judge calls per card (one call per card at most)"
    )
    print(
        f"all cards: pairwise precision {every['precision']:.3f} recall {every['recall']:.3f} F1 {every['f1']:.3f}, "
        f"adjusted Rand index {every['ari']:.3f}"
    )
    print(
        f"distinct texts: pairwise precision {few['precision']:.3f} recall {few['recall']:.3f} F1 {few['f1']:.3f}, "
        f"adjusted Rand index {few['ari']:.3f}"
    )
    print(f"seconds: place {placed - started:.1f}; peak memory {peak_mb():.0f} MB")
    verification_check(data, cards, texts, labels)

    vectors = dedup.embed_cards(texts, embed_texts)
    print("pure cluster_cards, same rules, automatic merges at (all cards | distinct texts):")
    for merge_at in (dedup.DEFAULT_THRESHOLDS.review_high, *SWEEP):
        swept = dedup.Thresholds(merge_at, merge_at, merge_at)
        pure = cluster_all(cards, texts, vectors, swept)
        r, d = agreement(cards, pure), agreement(cards, pure, distinct)
        print(
            f"  {merge_at:.3f}: {len(set(pure))} values, P {r['precision']:.2f} R {r['recall']:.2f} "
            f"F1 {r['f1']:.2f} ARI {r['ari']:.2f} | P {d['precision']:.2f} R {d['recall']:.2f} F1 {d['f1']:.2f} "
            f"ARI {d['ari']:.2f}"
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
