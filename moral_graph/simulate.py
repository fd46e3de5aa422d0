"""Simulated wiser votes with a planted wisdom order, to measure how well each ranking method recovers it.

Run `python -m moral_graph.simulate` to print the comparison table of docs/ranking.md, and
`python -m moral_graph.simulate calibrate` for the calibration of intervals and support labels on small rounds
(10, 40 and 200 voters): rank-interval coverage, how often "broadly supported" winners are the planted top, and
the minimum number of voters behind a "broadly supported" label. `python -m moral_graph.simulate large` compares
the two bootstraps of large contexts (decision 50) on contexts of thousands of voters.
"""

import argparse
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import kendalltau

from moral_graph.ranking import (
    ALL_METHODS,
    DEFAULT_BOOTSTRAP,
    DEFAULT_INTERVAL,
    DEFAULT_METHOD,
    MIN_BROAD_VOTERS,
    NOT_WISER,
    UNSURE,
    WISER,
    rank_context,
)


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
    def votes(self) -> dict:
        """rank_context's arguments for these votes."""
        return {"value_ids": self.value_ids, "voter": self.voter, "src": self.src, "dst": self.dst, "answer": self.answer}

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
            result = rank_context(**context.votes, method=method, n_boot=n_boot, seed=seed)
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


# Small rounds, as a policy team runs them: few values per context, each voter judging a few of its stories.
# The shapes the voter minimum was chosen on, and held-out shapes (with other seeds) for the reported figures.
SMALL = Population(n_values=6, n_voters=40, votes_per_voter=4, wisdom_step=0.5, stories_per_value=3.0)
TUNING_SHAPES = {
    "6 values, evenly spaced 0.5 apart": SMALL,
    "8 values, wisdom N(0, 1)": replace(SMALL, n_values=8, wisdom_step=0.0),
    "5 values, near-unanimous voters": replace(
        SMALL, n_values=5, idiosyncrasy=0.1, discrimination=4.0, random_voters=0.0, unsure=0.05
    ),
    "6 values, noisy voters (noise 0.8, 20% random)": replace(
        SMALL, idiosyncrasy=0.8, random_voters=0.2, discrimination_sd=0.6
    ),
    "4 values, unanimous voters, 2 votes each": replace(
        SMALL,
        n_values=4,
        votes_per_voter=2,
        idiosyncrasy=0.05,
        discrimination=6.0,
        random_voters=0.0,
        unsure=0.0,
        acquiescence=0.0,
    ),
    "12 values 0.35 apart, 5 votes each": replace(SMALL, n_values=12, wisdom_step=0.35, votes_per_voter=5),
}
HELD_OUT_SHAPES = {
    "4 values, 3 votes each, top 1 logit ahead": replace(SMALL, n_values=4, votes_per_voter=3, top_gap=1.0),
    "10 values, stories between random pairs": replace(SMALL, n_values=10, story_locality=0.0),
    "6 values close together (0.25 apart), yes-bias 2.0": replace(SMALL, wisdom_step=0.25, acquiescence=2.0),
    "7 values, MAI-like exposure (reverse stories 20%)": replace(SMALL, n_values=7, reverse_share=0.2),
    "5 values, near-unanimous, 2 votes each": replace(
        SMALL, n_values=5, votes_per_voter=2, idiosyncrasy=0.1, discrimination=4.0, random_voters=0.0
    ),
    "8 values, wisdom N(0, 0.5), 10% reversed voters": replace(
        SMALL, n_values=8, wisdom_step=0.0, wisdom_sd=0.5, reversed_voters=0.1
    ),
}
VOTER_COUNTS = (10, 40, 200)
TUNING_SEEDS = (11, 12)
HELD_OUT_SEEDS = (101, 102, 103)


def true_ranks(wisdom: np.ndarray) -> np.ndarray:
    """Rank 1 for the wisest planted value (distinct wisdom levels)."""
    return (np.argsort(np.argsort(-wisdom, kind="stable"), kind="stable") + 1).astype(np.int64)


@dataclass
class Calibration:
    """Per context: how many values' rank intervals held their true rank, the winner's label, its distinct
    voters, whether it is the planted top."""

    values: int = 0
    covered: int = 0
    contexts: int = 0
    labels: list = None
    winner_voters: list = None
    winner_right: list = None

    def __post_init__(self):
        self.labels, self.winner_voters, self.winner_right = [], [], []

    @property
    def coverage(self) -> float:
        return self.covered / self.values if self.values else float("nan")

    def add(self, result: dict, context: SimulatedContext) -> list[int]:
        """Tally one ranked context; returns each value's rank-interval width."""
        truth = dict(zip(context.value_ids, true_ranks(context.wisdom).tolist(), strict=True))
        widths = []
        for row in result["values"]:
            low, high = row["rankInterval"]
            self.values += 1
            self.covered += int(low <= truth[row["valueId"]] <= high)
            widths.append(high - low)
        self.contexts += 1
        self.labels.append(result["support"])
        self.winner_voters.append(result["winnerVoters"])
        self.winner_right.append([row["valueId"] for row in result["values"] if row["rank"] == 1] == [context.planted_top])
        return widths

    def broad(self, min_voters: int) -> tuple[int, int]:
        """Winners that would be called broadly supported with this voter minimum: (right, all)."""
        chosen = [
            right
            for label, voters, right in zip(self.labels, self.winner_voters, self.winner_right, strict=True)
            if label == "broadly supported" and voters >= min_voters
        ]
        return sum(chosen), len(chosen)


def calibrate(
    population: Population,
    *,
    n_contexts: int,
    seed: int,
    method: str = DEFAULT_METHOD,
    interval: str = DEFAULT_INTERVAL,
    n_boot: int = 200,
    into: Calibration | None = None,
    bootstrap: str = DEFAULT_BOOTSTRAP,
) -> Calibration:
    """Rank n_contexts simulated contexts as Wiser does (200 resamples) and tally interval coverage and the
    support labels the ranking would give with no voter minimum (the minimum is applied afterwards)."""
    rng = np.random.default_rng(seed)
    tally = into or Calibration()
    for i in range(n_contexts):
        context = simulate_context(population, rng)
        result = rank_context(
            **context.votes,
            method=method,
            n_boot=n_boot,
            seed=seed * 1000 + i,
            interval=interval,
            min_broad_voters=0,
            bootstrap=bootstrap,
        )
        tally.add(result, context)
    return tally


def calibration_table(
    shapes: dict[str, Population],
    seeds: tuple[int, ...],
    *,
    n_contexts: int,
    interval: str = DEFAULT_INTERVAL,
    min_voters: int = MIN_BROAD_VOTERS,
) -> list[dict]:
    """Per voter count, pooled over the shapes and seeds: coverage, worst shape's coverage, broad precision."""
    rows = []
    for n_voters in VOTER_COUNTS:
        pooled, worst = Calibration(), 1.0
        for population in shapes.values():
            shape = Calibration()
            for seed in seeds:
                calibrate(
                    replace(population, n_voters=n_voters),
                    n_contexts=n_contexts,
                    seed=seed * 100 + n_voters,
                    interval=interval,
                    into=shape,
                )
            worst = min(worst, shape.coverage)
            pooled.values += shape.values
            pooled.covered += shape.covered
            pooled.contexts += shape.contexts
            pooled.labels += shape.labels
            pooled.winner_voters += shape.winner_voters
            pooled.winner_right += shape.winner_right
        right, broad = pooled.broad(min_voters)
        ungated_right, ungated = pooled.broad(0)
        rows.append(
            {
                "voters": n_voters,
                "contexts": pooled.contexts,
                "coverage": pooled.coverage,
                "worstShapeCoverage": worst,
                "broad": broad,
                "broadRight": right,
                "broadUngated": ungated,
                "broadUngatedRight": ungated_right,
                "tooFew": sum(1 for v in pooled.winner_voters if v < min_voters),
                "pooled": pooled,
            }
        )
    return rows


def _print_calibration(args) -> None:
    shapes, seeds = (HELD_OUT_SHAPES, HELD_OUT_SEEDS) if args.held_out else (TUNING_SHAPES, TUNING_SEEDS)
    for interval in args.intervals.split(","):
        rows = calibration_table(shapes, seeds, n_contexts=args.contexts, interval=interval)
        print(f"\n{'held-out' if args.held_out else 'tuning'} shapes, intervals: {interval}")
        print("| voters | contexts | rank-interval coverage (worst shape) | broadly supported: right / called "
              f"(min {MIN_BROAD_VOTERS} voters) | without the minimum |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(
                f"| {row['voters']} | {row['contexts']} | {row['coverage']:.3f} ({row['worstShapeCoverage']:.3f}) "
                f"| {row['broadRight']} / {row['broad']} | {row['broadUngatedRight']} / {row['broadUngated']} |"
            )
        if not args.held_out:
            pooled = Calibration()
            for row in rows:
                pooled.labels += row["pooled"].labels
                pooled.winner_voters += row["pooled"].winner_voters
                pooled.winner_right += row["pooled"].winner_right
            print("| voter minimum | broadly supported: right / called | precision |")
            print("|---|---|---|")
            for minimum in (0, 5, 10, 15, 20, 25, 30, 40):
                right, called = pooled.broad(minimum)
                print(f"| {minimum} | {right} / {called} | {right / called if called else float('nan'):.3f} |")


# Large contexts (decision 50): hundreds of values, each voter judging one or a few stories of the context, as
# in a round of a million votes; none of these shapes played a part in choosing the small rounds' settings.
LARGE = Population(n_values=300, n_voters=20_000, votes_per_voter=1, wisdom_step=0.0, stories_per_value=10.0)
LARGE_SHAPES = {
    "300 values, wisdom N(0, 1), one vote per voter": LARGE,
    "300 values, skewed exposure (popularity sd 2), 4 stories per value": replace(
        LARGE, coverage_sd=2.0, stories_per_value=4.0
    ),
    "300 values, 3 votes per voter": replace(LARGE, votes_per_voter=3),
    "600 values, neighbours only (locality 0.3), 10% reversed voters": replace(
        LARGE, n_values=600, story_locality=0.3, reversed_voters=0.1
    ),
    "300 values, the top 3 logits ahead, stories between random pairs": replace(LARGE, top_gap=3.0, story_locality=0.0),
}
LARGE_VOTER_COUNTS = (5_000, 20_000, 60_000)
LARGE_SEEDS = (201, 202)


@dataclass
class BootstrapComparison:
    """Per shape and voter count: the voters' bootstrap and the multiplier bootstrap on the same contexts (each with a
    seed of its own), and the voters' bootstrap with a third seed (how far two runs of one method differ by chance
    alone)."""

    tallies: dict = None
    seconds: dict = None
    widths: dict = None
    ends: dict = None
    same_label: dict = None
    top_gap: dict = None

    def __post_init__(self):
        self.tallies = {name: Calibration() for name in ("voters", "multiplier")}
        self.seconds = {name: 0.0 for name in ("voters", "multiplier")}
        self.widths = {name: [] for name in ("voters", "multiplier")}
        self.ends = {name: [] for name in ("multiplier", "voters, other seed")}
        self.same_label = {name: 0 for name in self.ends}
        self.top_gap = {name: [] for name in self.ends}


def compare_bootstraps(population: Population, *, n_contexts: int, seed: int, into: BootstrapComparison) -> None:
    """Rank n_contexts simulated contexts with each bootstrap (bt, 200 resamples) and tally coverage, support
    labels, time, and how far each value's rank-interval ends move against the voters' bootstrap."""
    rng = np.random.default_rng(seed)
    for i in range(n_contexts):
        context = simulate_context(population, rng)
        results = {}
        for name, bootstrap, run_seed in (
            ("voters", "voters", seed * 1000 + i),
            # Seeds of their own: a run with the voters' seed would share its posterior draws (drawn from the seed).
            ("multiplier", "multiplier", seed * 1000 + i + 250),
            ("voters, other seed", "voters", seed * 1000 + i + 500),
        ):
            started = time.process_time()
            results[name] = rank_context(**context.votes, seed=run_seed, min_broad_voters=0, bootstrap=bootstrap)
            if name in into.seconds:
                into.seconds[name] += time.process_time() - started
        for name, tally in into.tallies.items():
            into.widths[name] += tally.add(results[name], context)
        reference = {row["valueId"]: row["rankInterval"] for row in results["voters"]["values"]}
        for name in into.ends:
            into.same_label[name] += int(results["voters"]["support"] == results[name]["support"])
            into.top_gap[name].append(abs(results["voters"]["pTop"] - results[name]["pTop"]))
            for row in results[name]["values"]:
                low, high = reference[row["valueId"]]
                into.ends[name] += [abs(row["rankInterval"][0] - low), abs(row["rankInterval"][1] - high)]


def _print_large(args) -> None:
    print("| shape | voters | rank-interval coverage: voters / multiplier | mean rank-interval width | rank-interval ends"
          " moved, mean (p99): multiplier / voters with another seed | broadly supported right / called |"
          " same support label: multiplier / other seed | winner's P(top) moved, largest: multiplier / other seed |"
          " CPU per context: voters / multiplier |")
    print("|---|---|---|---|---|---|---|---|---|")
    for shape, population in LARGE_SHAPES.items():
        for n_voters in LARGE_VOTER_COUNTS:
            comparison = BootstrapComparison()
            for seed in LARGE_SEEDS:
                compare_bootstraps(
                    replace(population, n_voters=n_voters), n_contexts=args.contexts, seed=seed, into=comparison
                )
            voters, multiplier = comparison.tallies["voters"], comparison.tallies["multiplier"]
            seconds = " / ".join(
                f"{comparison.seconds[name] / comparison.tallies[name].contexts:.2f} s" for name in comparison.seconds
            )
            moved = " / ".join(
                f"{np.mean(ends):.2f} ({np.percentile(ends, 99):.0f})" for ends in comparison.ends.values()
            )
            broad = "voters {} / {}, multiplier {} / {}".format(*voters.broad(0), *multiplier.broad(0))
            print(
                f"| {shape} | {n_voters:,} | {voters.coverage:.3f} / {multiplier.coverage:.3f} |"
                f" {np.mean(comparison.widths['voters']):.1f} / {np.mean(comparison.widths['multiplier']):.1f} |"
                f" {moved} | {broad} | {' / '.join(str(n) for n in comparison.same_label.values())} of {voters.contexts} |"
                f" {' / '.join(f'{max(gaps):.3f}' for gaps in comparison.top_gap.values())} |"
                f" {seconds} |",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    """Print method x condition: Kendall tau mean/min and top-right rate (or, with `calibrate`, calibration)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["compare", "calibrate", "large"], default="compare")
    parser.add_argument("--contexts", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--methods", default=",".join(ALL_METHODS))
    parser.add_argument("--held-out", action="store_true", help="calibrate: the held-out shapes and seeds")
    parser.add_argument("--intervals", default=DEFAULT_INTERVAL, help="calibrate: comma-separated interval methods")
    args = parser.parse_args(argv)
    if args.mode == "calibrate":
        _print_calibration(args)
        return
    if args.mode == "large":
        _print_large(args)
        return
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
