"""Time the pure ranking (moral_graph.ranking.rank_context) on production-sized synthetic data.

Default size: 10,000 values over 20 contexts, 100,000 stories, 1,000,000 votes from 100,000 participants
(each votes 5 times in 2 contexts), 200 bootstrap resamples, one grouping attribute. Prints seconds
(wall and CPU), peak memory, and the ratio to a bare scipy.sparse PageRank on the same aggregated edges.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/ranking_pure.py [--method bt] [--contexts 20]
"""

import argparse
import os
import resource
import time
import tracemalloc
from dataclasses import replace

import numpy as np

from moral_graph.pagerank import pagerank
from moral_graph.ranking import DEFAULT_METHOD, edge_counts, edge_statistics, rank_context
from moral_graph.simulate import BASE, simulate_context


def build_round(n_contexts: int, values_per_context: int, voters_per_context: int, seed: int) -> list[dict]:
    """Synthetic contexts; contexts 2k and 2k+1 share their voters, so each participant votes in two."""
    population = replace(
        BASE,
        n_values=values_per_context,
        n_voters=voters_per_context,
        stories_per_value=10.0,
        wisdom_step=10.0 / values_per_context,
    )
    rng = np.random.default_rng(seed)
    contexts = []
    for c in range(n_contexts):
        context = simulate_context(population, rng)
        local = np.unique(context.voter, return_inverse=True)[1]
        voter = (c // 2) * voters_per_context + local
        labels = np.array(["left", "centre", "right", ""], dtype=object)[voter % 4]
        contexts.append(
            {
                "value_ids": [c * 1_000_000 + v for v in context.value_ids],
                "voter": voter,
                "src": context.src + c * 1_000_000,
                "dst": context.dst + c * 1_000_000,
                "answer": context.answer,
                "voter_groups": {"political_affiliation": labels},
            }
        )
    return contexts


def rank_all(contexts: list[dict], method: str, n_boot: int) -> list[dict]:
    """rank_context over every context, as the ranking task does."""
    return [rank_context(**context, method=method, n_boot=n_boot, seed=1) for context in contexts]


def bare_pagerank_seconds(contexts: list[dict]) -> float:
    """A bare scipy PageRank per context over its aggregated edges (weights: wiserLikelihood, clipped at 0)."""
    graphs = []
    for context in contexts:
        pairs = edge_counts(src=context["src"], dst=context["dst"], answer=context["answer"])
        weight = np.clip(
            edge_statistics(pairs["W"], pairs["N"], pairs["U"], pairs["L"])["wiserLikelihood"], 0, None
        )
        ids = np.asarray(context["value_ids"])
        graphs.append(
            (len(ids), np.searchsorted(ids, pairs["src"]), np.searchsorted(ids, pairs["dst"]), weight)
        )
    start = time.perf_counter()
    for graph in graphs:
        pagerank(*graph)
    return time.perf_counter() - start


def main() -> None:
    """Generate, rank, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default=DEFAULT_METHOD)
    parser.add_argument("--contexts", type=int, default=20)
    parser.add_argument("--values", type=int, default=500, help="values per context")
    parser.add_argument("--voters", type=int, default=10_000, help="voters per context (5 votes each)")
    parser.add_argument("--boot", type=int, default=200)
    args = parser.parse_args()

    contexts = build_round(args.contexts, args.values, args.voters, seed=0)
    n_votes = sum(len(c["answer"]) for c in contexts)
    n_stories = sum(len(np.unique(c["src"] * 10**7 + c["dst"])) for c in contexts)
    n_voters = len(np.unique(np.concatenate([c["voter"] for c in contexts])))
    print(
        f"{args.contexts} contexts, {args.contexts * args.values:,} values, {n_stories:,} stories with votes, "
        f"{n_votes:,} votes from {n_voters:,} participants; method {args.method}, {args.boot} resamples; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    rank_all(contexts[:1], args.method, 2)

    wall, cpu = time.perf_counter(), time.process_time()
    results = rank_all(contexts, args.method, args.boot)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    bare = bare_pagerank_seconds(contexts)

    tracemalloc.start()
    rank_all(contexts[:1], args.method, args.boot)
    one_context_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    supports = [r["support"] for r in results]
    print(
        f"rank_context, all contexts: {wall:.2f} s wall, {cpu:.2f} s CPU ({wall / args.contexts:.3f} s per context)"
    )
    print(f"bare scipy PageRank on the same edges: {bare:.3f} s; ratio {wall / bare:.0f}x")
    print(
        f"peak traced memory of one context: {one_context_peak / 2**20:.0f} MB; process peak RSS {rss:.0f} MB"
    )
    print(
        f"edges in the results: {sum(len(r['edges']) for r in results):,}; supports: "
        + ", ".join(f"{s} {supports.count(s)}" for s in sorted(set(supports)))
    )


if __name__ == "__main__":
    main()
