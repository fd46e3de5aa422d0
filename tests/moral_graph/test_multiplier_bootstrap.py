"""The multiplier bootstrap of large contexts (decision 50) against the voters' bootstrap it stands in for."""

from dataclasses import replace

import numpy as np
import pytest

from moral_graph import ranking, simulate
from moral_graph.ranking import rank_context

# Big enough for both bootstraps to be close (each row of the design has a dozen votes or more), small enough to
# rank in a fraction of a second.
POPULATION = replace(
    simulate.LARGE, n_values=80, n_voters=6000, stories_per_value=6.0, wisdom_sd=1.5, unsure=0.3
)


def _context(seed: int, **changes) -> dict:
    return simulate.simulate_context(replace(POPULATION, **changes), np.random.default_rng(seed)).votes


def _widths(result: dict) -> dict[int, float]:
    return {row["valueId"]: row["scoreInterval"][1] - row["scoreInterval"][0] for row in result["values"]}


@pytest.mark.parametrize("method", ["bt", "bt_unsure_tie", "bt_acquiescence"])
@pytest.mark.parametrize("votes_per_voter", [1, 3])
def test_the_multiplier_spreads_the_scores_as_resampling_voters_does(method, votes_per_voter):
    # The bootstrap alone (no posterior draws), 400 resamples: each value's 95% score interval, one bootstrap
    # against the other. Both estimate the spread of the fit over populations of voters; a wrong variance per
    # row (a count for its square root, a vote's gradient for another's, voters with several votes left out)
    # moves these ratios far from 1.
    context = _context(5, votes_per_voter=votes_per_voter, n_voters=6000 // votes_per_voter)
    kwargs = {"method": method, "n_boot": 400, "seed": 4, "interval": "bootstrap"}
    voters = rank_context(**context, bootstrap="voters", **kwargs)
    multiplier = rank_context(**context, bootstrap="multiplier", **kwargs)
    assert multiplier["parameters"]["bootstrap"] == "multiplier"
    assert voters["parameters"]["bootstrap"] == "5 chord steps"
    assert [(r["valueId"], r["score"]) for r in multiplier["values"]] == [
        (r["valueId"], r["score"]) for r in voters["values"]
    ]
    ours, theirs = _widths(multiplier), _widths(voters)
    ratios = np.array([ours[v] / theirs[v] for v in ours if theirs[v] > 0])
    assert len(ratios) >= 70
    assert 0.9 < np.median(ratios) < 1.1
    assert 0.75 < np.percentile(ratios, 10) and np.percentile(ratios, 90) < 1.3


def test_auto_takes_the_multiplier_from_the_voter_minimum_on(monkeypatch):
    context = _context(6)
    n_voters = len(np.unique(context["voter"]))
    monkeypatch.setattr(ranking, "MULTIPLIER_MIN_VOTERS", n_voters)
    at = rank_context(**context, n_boot=20, seed=1)
    monkeypatch.setattr(ranking, "MULTIPLIER_MIN_VOTERS", n_voters + 1)
    below = rank_context(**context, n_boot=20, seed=1)
    assert at["parameters"]["bootstrap"] == "multiplier" and below["parameters"]["bootstrap"] == "5 chord steps"
    assert at == rank_context(**context, n_boot=20, seed=1, bootstrap="multiplier")
    assert below == rank_context(**context, n_boot=20, seed=1, bootstrap="voters")
    with pytest.raises(ValueError, match="unknown bootstrap"):
        rank_context(**context, n_boot=4, bootstrap="wild")


@pytest.mark.parametrize("votes_per_voter", [1, 2])
def test_the_multiplier_draws_follow_the_voters_not_the_vote_order_or_value_ids(votes_per_voter):
    context = _context(7, votes_per_voter=votes_per_voter, n_voters=6000 // votes_per_voter)
    result = rank_context(**context, n_boot=50, seed=2, bootstrap="multiplier")
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(len(context["voter"]))
    again = rank_context(
        **{**context, **{key: context[key][shuffled] for key in ("voter", "src", "dst", "answer")}},
        n_boot=50,
        seed=2,
        bootstrap="multiplier",
    )
    assert again == result
    # New ids in another order: every value keeps its scores and intervals (to rounding), its rank interval too.
    new_id = dict(zip(context["value_ids"], rng.permutation(10**6)[: len(context["value_ids"])].tolist(), strict=True))
    renamed = rank_context(
        value_ids=sorted(new_id.values()),
        voter=context["voter"],
        src=np.array([new_id[v] for v in context["src"].tolist()]),
        dst=np.array([new_id[v] for v in context["dst"].tolist()]),
        answer=context["answer"],
        n_boot=50,
        seed=2,
        bootstrap="multiplier",
    )
    rows = {row["valueId"]: row for row in renamed["values"]}
    for row in result["values"]:
        other = rows[new_id[row["valueId"]]]
        assert other["scoreInterval"] == pytest.approx(row["scoreInterval"], rel=1e-8, abs=1e-15)
        assert other["rankInterval"] == row["rankInterval"] and other["pTop"] == row["pTop"]


def test_a_stored_result_names_the_bootstrap_that_recomputes_it():
    assert ranking.bootstrap_of({"bootstrap": "multiplier"}) == "multiplier"
    assert ranking.bootstrap_of({"bootstrap": "5 chord steps"}) == "voters"
    assert ranking.bootstrap_of({"bootstrap": "newton"}) == "voters"
    assert ranking.bootstrap_of({}) == "voters"  # mai_pagerank, and every result before decision 50


@pytest.mark.parametrize("tie", [0.0, 0.5])
def test_a_votes_gradient_is_the_derivative_of_its_log_likelihood(tie):
    # A vote adds (wins, decisive) = (1, 1), (0, 1) or (tie, 2 tie) to its row: w * eta - d * log(1 + e^eta).
    eta = np.linspace(-4.0, 4.0, 9)
    h = 1e-6
    gradients = ranking._vote_gradients(1.0 / (1.0 + np.exp(-eta)), tie)
    for block, (wins, decisive) in enumerate([(1.0, 1.0), (0.0, 1.0), (tie, 2.0 * tie)]):

        def log_likelihood(x, wins=wins, decisive=decisive):
            return wins * x - decisive * np.logaddexp(0.0, x)

        numeric = (log_likelihood(eta + h) - log_likelihood(eta - h)) / (2 * h)
        assert gradients[block] == pytest.approx(numeric, abs=1e-7)


def test_each_rows_multiplier_score_has_the_variance_of_its_voters_weights():
    # Voters with one vote and with several (two on one row, one on each of two rows, one cast twice): a row's
    # score is the sum over its votes of the voter's N(0, 1) weight times the vote's coefficient, so its variance
    # is the sum over voters of (their coefficients on the row, added)^2, and rows that share a voter covary.
    value_ids = [10, 20, 30]
    rows = [  # (voter, src, dst, answer)
        *[(v, 10, 20, 0) for v in range(1, 9)],
        *[(v, 20, 10, 1) for v in range(9, 13)],
        *[(v, 20, 30, 2) for v in range(13, 16)],
        (20, 10, 20, 0), (20, 20, 10, 0),
        (21, 10, 20, 1), (21, 20, 30, 0),
        (22, 20, 30, 0), (22, 20, 30, 0),
    ]
    voter, src, dst, answer = (np.array(column) for column in zip(*rows, strict=True))
    votes = ranking._prepare(value_ids, voter, src, dst, answer)
    n_stories = len(votes.counts)
    # Rows: one per story here; blocks: wiser, not wiser, not sure.
    category = np.concatenate([np.arange(n_stories) + block * n_stories for block in range(3)])
    coefficient = np.array([[0.7, -0.2, 0.4, 1.1], [-0.3, 0.8, -0.6, -0.5], [0.05, -0.1, 0.2, 0.3]])[:, :n_stories]
    scores = ranking._multiplier_scores(votes, 20_000, 3, category, coefficient, np.ones(n_stories))
    per_voter = votes.per_voter.toarray()  # (answer, story) cells x voters
    loadings = np.stack([(coefficient.ravel()[:, None] * per_voter)[category % n_stories == r].sum(axis=0)
                         for r in range(n_stories)])
    expected = loadings @ loadings.T
    assert np.cov(scores) == pytest.approx(expected, rel=0.05, abs=0.05)
    assert np.abs(scores.mean(axis=1)).max() < 0.05


def test_the_large_context_comparison_tallies_both_bootstraps_on_the_same_contexts():
    comparison = simulate.BootstrapComparison()
    population = replace(POPULATION, n_values=30, n_voters=1500)
    simulate.compare_bootstraps(population, n_contexts=2, seed=3, into=comparison)
    for name in ("voters", "multiplier"):
        tally = comparison.tallies[name]
        assert tally.contexts == 2 and tally.values == 60 and 0.5 < tally.coverage <= 1.0
        assert len(comparison.widths[name]) == 60 and comparison.seconds[name] > 0
    # Two ends per value and context, against the voters' bootstrap with the same seed.
    assert all(len(ends) == 120 for ends in comparison.ends.values())
    assert max(comparison.ends["multiplier"]) > 0
    assert all(0 <= n <= 2 for n in comparison.same_label.values())
    assert all(len(gaps) == 2 for gaps in comparison.top_gap.values())


def _sandwich_check(method: str) -> float:
    """Largest difference (relative to the largest entry) between the multiplier's covariance of log-score
    differences and H^-1 (sum over voters of g g') H^-1, with each voter's gradient g of the log-likelihood
    computed here vote by vote from the model (voters with one vote and with several; not sure votes)."""
    rng = np.random.default_rng(1)
    k = 7
    ids = np.array([50, 3, 17, 99, 8, 23, 61])
    strength = rng.normal(size=k)
    rows, voter_id = [], 0
    for v in range(600):
        voter_id += int(rng.integers(1, 4))
        for _ in range(1 if v < 400 else int(rng.integers(2, 4))):
            a, b = rng.choice(k, 2, replace=False)
            p = 1 / (1 + np.exp(-(strength[b] - strength[a] + 0.3)))
            answer = 2 if rng.random() < 0.2 else (0 if rng.random() < p else 1)
            rows.append((voter_id, ids[a], ids[b], answer))
    voter, src, dst, answer = (np.array(column) for column in zip(*rows, strict=True))
    votes = ranking._prepare(ids, voter, src, dst, answer)
    point, boot, parameters, _ = ranking._bt_scores(
        votes, 40_000, 3, interval="bootstrap", bootstrap="multiplier", **ranking._BT_VARIANTS[method]
    )
    theta = np.log(point) - np.log(point).mean()
    alpha = parameters.get("acquiescence", 0.0)
    acquiescence, tie = method == "bt_acquiescence", 0.5 if method == "bt_unsure_tie" else 0.0
    n = k + int(acquiescence)
    position = {int(x): i for i, x in enumerate(np.sort(ids))}
    gradient, hessian = {}, 0.1 * np.eye(n)
    for v, s, d, a in rows:
        x = np.zeros(n)
        x[position[int(d)]], x[position[int(s)]] = 1.0, -1.0
        if acquiescence:
            x[k] = 1.0
        p = 1 / (1 + np.exp(-(x[:k] @ theta + (alpha if acquiescence else 0.0))))
        c = {0: 1 - p, 1: -p, 2: tie * (1 - 2 * p)}[int(a)]
        gradient[v] = gradient.get(v, np.zeros(n)) + c * x
        if a != 2 or tie:
            hessian += p * (1 - p) * np.outer(x, x)
    g = np.array(list(gradient.values()))
    inverse = np.linalg.inv(hessian)
    covariance = inverse @ (g.T @ g) @ inverse
    differences = np.zeros((k - 1, n))
    differences[:, 0], differences[np.arange(k - 1), np.arange(1, k)] = -1.0, 1.0
    expected = differences @ covariance @ differences.T
    drawn = np.cov(np.log(boot[1:]) - np.log(boot[0]))
    return float(np.max(np.abs(drawn - expected)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("method", ["bt", "bt_unsure_tie", "bt_acquiescence"])
def test_the_multiplier_spread_is_the_sandwich_covariance_of_the_voters_gradients(method):
    # 40,000 resamples: the Monte Carlo error is about 1%.
    assert _sandwich_check(method) < 0.03


def test_voters_with_several_votes_are_weighted_by_blocks_with_the_same_draws(monkeypatch):
    # Blocks of voters draw the same normals in the same order as one draw of them all: the result is the same up to
    # the order of floating-point sums.
    context = _context(8, votes_per_voter=3, n_voters=2000)
    whole = rank_context(**context, n_boot=30, seed=4, bootstrap="multiplier")
    monkeypatch.setattr(ranking, "MULTIPLIER_VOTER_BLOCK", 77)
    blocks = rank_context(**context, n_boot=30, seed=4, bootstrap="multiplier")
    for a, b in zip(whole["values"], blocks["values"], strict=True):
        assert a["valueId"] == b["valueId"] and a["rankInterval"] == b["rankInterval"]
        assert a["scoreInterval"] == pytest.approx(b["scoreInterval"], rel=1e-9)
