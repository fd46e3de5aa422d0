"""Simulated wiser votes with a planted wisdom order, to measure how well each ranking method recovers it.

Run `python -m moral_graph.simulate` to print the comparison table of docs/ranking.md.
"""

import argparse
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import kendalltau

from moral_graph.ranking import ALL_METHODS, NOT_WISER, UNSURE, WISER, rank_context


@dataclass(frozen=True)
class Population:
    """How one context's values, stories and voters are drawn."""

    n_values: int = 12
    n_voters: int = 500
    votes_per_voter: int = 5
    wisdom_step: float = 0.35
    wisdom_sd: float = 1.0
    top_gap: float = 0.0
    stories_per_value: float = 4.0
    story_locality: float = 1.0
    direction_accuracy: float = 0.85
    reverse_share: float = 0.5
    coverage_sd: float = 1.0
    discrimination: float = 2.0
    discrimination_sd: float = 0.3
    acquiescence: float = 1.3
    acquiescence_sd: float = 0.5
    idiosyncrasy: float = 0.3
    unsure: float = 0.15
    unsure_close: float = 0.15
    random_voters: float = 0.05
    reversed_voters: float = 0.0
    polarised_top: float = 0.0
    group_b_share: float = 0.5


@dataclass(frozen=True)
class SimulatedContext:
    """One context's votes and the planted wisdom of its values."""

    value_ids: list[int]
    wisdom: np.ndarray
    voter: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    answer: np.ndarray
    groups: np.ndarray

    @property
    def planted_top(self) -> int:
        """The value id with the highest planted wisdom."""
        return self.value_ids[int(np.argmax(self.wisdom))]


def _transitions(
    wisdom: np.ndarray, n_transitions: int, locality: float, rng: np.random.Generator
) -> np.ndarray:
    """Undirected pairs: a random spanning tree (so every value is reachable) plus extra pairs.

    A pair of values whose wisdom differs by d is proposed with relative weight exp(-d / locality):
    an LLM proposes transitions between related values, rarely between a value and a far wiser one.
    """
    n_values = len(wisdom)

    def closeness(a, b):
        return np.exp(-np.abs(wisdom[a] - wisdom[b]) / locality) if locality else np.ones(np.shape(a))

    order = rng.permutation(n_values)
    pairs = set()
    for i in range(1, n_values):
        weight = closeness(order[:i], order[i])
        parent = order[:i][rng.choice(i, p=weight / weight.sum())]
        pairs.add((int(min(parent, order[i])), int(max(parent, order[i]))))
    target = min(n_transitions, n_values * (n_values - 1) // 2)
    while len(pairs) < target:
        a, b = rng.integers(0, n_values, size=(2, 4 * (target - len(pairs)) + 16))
        accepted = (a != b) & (rng.random(len(a)) < closeness(a, b))
        for x, y in zip(a[accepted], b[accepted], strict=True):
            if len(pairs) < target:
                pairs.add((int(min(x, y)), int(max(x, y))))
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def _distinct_draws(n_rows: int, k: int, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices per row drawn with probabilities p (duplicates are redrawn)."""
    k = min(k, int(np.count_nonzero(p)))
    picks = rng.choice(len(p), size=(n_rows, k), p=p)
    for _ in range(1000):
        order = np.argsort(picks, axis=1, kind="stable")
        ordered = np.take_along_axis(picks, order, axis=1)
        repeated = np.zeros_like(picks, dtype=bool)
        repeated[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        if not repeated.any():
            break
        rows, cols = np.nonzero(repeated)
        picks[rows, order[rows, cols]] = rng.choice(len(p), size=len(rows), p=p)
    return picks


def simulate_context(population: Population, rng: np.random.Generator) -> SimulatedContext:
    """Draw one context: planted wisdom, LLM-proposed transitions with reverse stories, and voters' answers."""
    pop = population
    k = pop.n_values
    if pop.wisdom_step:
        wisdom = rng.permutation(pop.wisdom_step * (np.arange(k) - (k - 1) / 2))
    else:
        wisdom = rng.normal(0.0, pop.wisdom_sd, k)
    wisdom[np.argmax(wisdom)] += pop.top_gap
    pairs = _transitions(wisdom, int(round(k * pop.stories_per_value / 2)), pop.story_locality, rng)
    towards_wiser = np.where(wisdom[pairs[:, 1]] > wisdom[pairs[:, 0]], pairs[:, 1], pairs[:, 0])
    other = pairs.sum(axis=1) - towards_wiser
    correct = rng.random(len(pairs)) < pop.direction_accuracy
    forward_dst = np.where(correct, towards_wiser, other)
    forward_src = pairs.sum(axis=1) - forward_dst
    story_src = np.concatenate([forward_src, forward_dst])
    story_dst = np.concatenate([forward_dst, forward_src])
    popularity = rng.lognormal(0.0, pop.coverage_sd, len(pairs))
    exposure = np.concatenate([popularity * (1 - pop.reverse_share), popularity * pop.reverse_share])
    seen = _distinct_draws(pop.n_voters, pop.votes_per_voter, exposure / exposure.sum(), rng)
    n_voters, per_voter = seen.shape
    voter = np.repeat(np.arange(n_voters), per_voter)
    story = seen.ravel()
    src, dst = story_src[story], story_dst[story]

    kind = rng.random(n_voters)
    is_reversed = kind < pop.reversed_voters
    is_random = (kind >= pop.reversed_voters) & (kind < pop.reversed_voters + pop.random_voters)
    discrimination = pop.discrimination * rng.lognormal(0.0, pop.discrimination_sd, n_voters)
    discrimination[is_random] = 0.0
    acquiescence = rng.normal(pop.acquiescence, pop.acquiescence_sd, n_voters)
    unsure_rate = rng.uniform(0.0, 2 * pop.unsure, n_voters)
    group = np.where(rng.random(n_voters) < pop.group_b_share, "b", "a").astype(object)

    top = int(np.argmax(wisdom))
    shift = np.where((group[voter] == "b") & (dst == top), -pop.polarised_top, 0.0)
    shift += np.where((group[voter] == "b") & (src == top), pop.polarised_top, 0.0)
    noise = pop.idiosyncrasy * (rng.normal(size=len(voter)) - rng.normal(size=len(voter)))
    perceived = wisdom[dst] - wisdom[src] + shift + noise
    p_unsure = np.minimum(1.0, unsure_rate[voter] + pop.unsure_close * np.exp(-np.abs(perceived)))
    p_wiser = 1.0 / (1.0 + np.exp(-(discrimination[voter] * perceived + acquiescence[voter])))
    draw_unsure, draw_wiser = rng.random(len(voter)), rng.random(len(voter))
    answer = np.where(draw_wiser < p_wiser, WISER, NOT_WISER)
    answer = np.where(draw_unsure < p_unsure, UNSURE, answer)
    planted_answer = np.where(wisdom[dst] > wisdom[src], NOT_WISER, WISER)
    answer = np.where(is_reversed[voter], planted_answer, answer)

    value_ids = np.sort(rng.choice(10**6, size=k, replace=False))
    voter_ids = rng.choice(10**7, size=n_voters, replace=False)
    return SimulatedContext(
        value_ids=[int(v) for v in value_ids],
        wisdom=wisdom,
        voter=voter_ids[voter],
        src=value_ids[src],
        dst=value_ids[dst],
        answer=answer.astype(np.int64),
        groups=group[voter],
    )


def recovery(result: dict, context: SimulatedContext) -> tuple[float, bool]:
    """Kendall tau-b between the scores and the planted wisdom, and whether the planted top is the sole winner."""
    score_of = {row["valueId"]: row["score"] for row in result["values"]}
    scores = np.array([score_of[v] for v in context.value_ids])
    tau = kendalltau(scores, context.wisdom).statistic
    winners = [row["valueId"] for row in result["values"] if row["rank"] == 1]
    return float(0.0 if np.isnan(tau) else tau), winners == [context.planted_top]


def evaluate(
    population: Population, methods: tuple[str, ...], *, n_contexts: int, seed: int, n_boot: int = 1
) -> dict[str, dict]:
    """For each method: per-context Kendall tau and top-right flags over n_contexts simulated contexts."""
    rng = np.random.default_rng(seed)
    outcome = {method: {"tau": [], "top": [], "results": []} for method in methods}
    for _ in range(n_contexts):
        context = simulate_context(population, rng)
        for method in methods:
            result = rank_context(
                value_ids=context.value_ids,
                voter=context.voter,
                src=context.src,
                dst=context.dst,
                answer=context.answer,
                method=method,
                n_boot=n_boot,
                seed=seed,
            )
            tau, top = recovery(result, context)
            outcome[method]["tau"].append(tau)
            outcome[method]["top"].append(top)
            outcome[method]["results"].append(result)
    return outcome


BASE = Population()
CONDITIONS = {
    "base: 500 voters x 5 votes": BASE,
    "100 voters x 5 votes": replace(BASE, n_voters=100),
    "32 voters x 5 votes (2,500 votes over 16 contexts)": replace(BASE, n_voters=32),
    "wisdom drawn from N(0, 1), not evenly spaced": replace(BASE, wisdom_step=0.0),
    "stories between random pairs (no locality)": replace(BASE, story_locality=0.0),
    "noisy voters (idiosyncrasy 0.8, 20% random)": replace(
        BASE, idiosyncrasy=0.8, random_voters=0.2, discrimination_sd=0.6
    ),
    "strong yes-bias (acquiescence 2.0)": replace(BASE, acquiescence=2.0),
    "MAI-like exposure: reverse stories 20%, LLM direction 85% right": replace(BASE, reverse_share=0.2),
    "MAI-like exposure, LLM direction at random": replace(BASE, reverse_share=0.2, direction_accuracy=0.5),
    "10% coordinated voters answer in reverse": replace(BASE, reversed_voters=0.1),
    "30 values, 1,250 voters x 5 votes": replace(BASE, n_values=30, n_voters=1250),
}


def main(argv: list[str] | None = None) -> None:
    """Print method x condition: Kendall tau mean/min and top-right rate."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contexts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--methods", default=",".join(ALL_METHODS))
    args = parser.parse_args(argv)
    methods = tuple(args.methods.split(","))
    print(f"| condition | method | tau mean | tau min | top right ({args.contexts} contexts) |")
    print("|---|---|---|---|---|")
    for name, population in CONDITIONS.items():
        outcome = evaluate(population, methods, n_contexts=args.contexts, seed=args.seed)
        for method in methods:
            tau, top = np.array(outcome[method]["tau"]), np.array(outcome[method]["top"])
            print(f"| {name} | {method} | {tau.mean():.2f} | {tau.min():.2f} | {top.sum()}/{len(top)} |")


if __name__ == "__main__":
    main()
