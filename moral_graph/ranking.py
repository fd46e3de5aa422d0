"""Ranking the values of one context from its wiser votes, with bootstrap uncertainty and bridging.

Pure: plain arrays in, JSON-serialisable data out. The methods, the simulation that chose the default
and the rules for support levels and bridging are described in docs/ranking.md.
"""

import functools
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.special import expit, xlogy

from moral_graph import bradley_terry, bridging
from moral_graph.bradley_terry import normal_draws
from moral_graph.numeric import distinct, distinct_inverse, positions, significant
from moral_graph.pagerank import DAMPING, TOL, pagerank_batch

WISER, NOT_WISER, UNSURE = 0, 1, 2
MAI_MIN_WISER = 2
MAI_MIN_LIKELIHOOD = 0.33
MAI_MAX_ENTROPY = 1.69
WILSON_Z = 1.959963984540054
TIE_DECIMALS = 12
# Above this many parameters the posterior draws use the Hessian's diagonal only (a dense Cholesky costs n^3 / 3).
POSTERIOR_DENSE_LIMIT = 2000
# Up to this many parameters the posterior draws are importance-resampled from POSTERIOR_OVERSAMPLING times as
# many normal proposals (exact in the limit); above, the normal approximation is used as it is.
POSTERIOR_EXACT_LIMIT = 60
POSTERIOR_OVERSAMPLING = 8
# "Broadly supported" needs at least this many distinct voters on the winner's stories; chosen from the simulation
# (`python -m moral_graph.simulate calibrate`, docs/ranking.md "Small rounds: intervals and the voter minimum").
MIN_BROAD_VOTERS = 20
TOO_FEW_VOTERS = "too few voters to call"
# How rank and score intervals are drawn: the voter bootstrap alone, or with draws from the Bradley–Terry
# posterior added to each refit (the default: the bootstrap alone covers too little with few voters).
INTERVALS = ("bootstrap", "bootstrap+posterior")
DEFAULT_INTERVAL = "bootstrap+posterior"
# How the normal posterior draws above POSTERIOR_EXACT_LIMIT parameters get H^-1/2: "factor", through the Hessian's
# sparse factor where it stays sparse (issue 16, decision 47), or "dense", the dense Cholesky factor up to
# POSTERIOR_DENSE_LIMIT and the diagonal above, as every run before it (results name it in
# parameters.posteriorRoot; those without the key were "dense", and verify_export recomputes them so).
POSTERIOR_ROOTS = ("factor", "dense")
DEFAULT_POSTERIOR_ROOT = "factor"


def posterior_root_of(parameters: dict) -> str:
    """The posterior root a stored result was drawn with: named since decision 47, "dense" before it."""
    return parameters.get("posteriorRoot", "dense")


# How the Bradley-Terry bootstrap perturbs the votes (decision 50): "voters" draws the context's voters with
# replacement and refits each resample; "multiplier" gives every voter a standard normal weight and takes the
# one linear step that this reweighting makes from the fit (the score or multiplier bootstrap), with one
# normal per compared pair for the voters who cast one vote in the context. "auto" (the default) uses the
# multiplier from MULTIPLIER_MIN_VOTERS voters in a context, where it costs a fraction and agrees with the
# voters' resampling (docs/ranking.md, "Large contexts: the multiplier bootstrap"), and the voters below.
BOOTSTRAPS = ("auto", "voters", "multiplier")
DEFAULT_BOOTSTRAP = "auto"
MULTIPLIER_MIN_VOTERS = 20_000
MULTIPLIER_VOTER_BLOCK = 16_384


def bootstrap_of(parameters: dict) -> str:
    """The bootstrap a stored result was drawn with, to recompute it: "multiplier" when it says so (decision 50),
    else the voters' resampling (every result before it, and every mai_pagerank result)."""
    return "multiplier" if parameters.get("bootstrap") == "multiplier" else "voters"


_BT_VARIANTS = {
    "bt": {"acquiescence": False, "unsure": "ignore", "prior": 0.1},
    "bt_acquiescence": {"acquiescence": True, "unsure": "ignore", "prior": 0.1},
    "bt_unsure_tie": {"acquiescence": False, "unsure": "tie", "prior": 0.1},
}
METHODS: tuple[str, ...] = ("bt", "mai_pagerank")
ALL_METHODS: tuple[str, ...] = tuple(_BT_VARIANTS) + ("mai_pagerank",)
DEFAULT_METHOD = "bt"


def edge_statistics(W, N, U, L, impressions=None) -> dict:
    """MAI's edge statistics, elementwise: wiserLikelihood, entropy (bits), maiEntropy, wilsonLower, maiKept.

    entropy is over {W, N, U, L}; maiEntropy adds impressions (W + N + U when not given) as a fifth
    count, as MAI's published graph does, and is the one their 1.69 threshold applies to.
    """
    W, N, U, L = (np.asarray(x, dtype=np.float64) for x in (W, N, U, L))
    shown = W + N + U if impressions is None else np.asarray(impressions, dtype=np.float64)
    likelihood, mai_entropy, kept = _mai_filter(W, N, U, L, shown)
    answered = W + N + U
    n = np.where(answered > 0, answered, 1.0)
    share = W / n
    z2 = WILSON_Z**2
    margin = WILSON_Z * np.sqrt(share * (1 - share) / n + z2 / (4 * n**2))
    wilson = np.where(answered > 0, np.maximum(0.0, (share + z2 / (2 * n) - margin) / (1 + z2 / n)), 0.0)
    return {
        "wiserLikelihood": likelihood,
        "entropy": _entropy_bits(W, N, U, L),
        "maiEntropy": mai_entropy,
        "wilsonLower": wilson,
        "maiKept": kept,
    }


def _mai_filter(W, N, U, L, shown):
    """wiserLikelihood, MAI's entropy (with impressions) and whether MAI keeps the edge."""
    total = W + N + U + L
    with np.errstate(invalid="ignore", divide="ignore"):
        likelihood = np.where(total > 0, (W - L) / total, 0.0)
    mai_entropy = _entropy_bits(W, N, U, L, shown)
    kept = (W >= MAI_MIN_WISER) & (likelihood >= MAI_MIN_LIKELIHOOD) & (mai_entropy <= MAI_MAX_ENTROPY)
    return likelihood, mai_entropy, kept


def _entropy_bits(*counts) -> np.ndarray:
    """Shannon entropy in bits of the distribution given by the counts (elementwise); 0 when all are 0."""
    total = sum(np.asarray(c, dtype=np.float64) for c in counts)
    plogp = sum(xlogy(c, c) for c in counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        bits = (xlogy(total, total) - plogp) / (np.log(2.0) * total)
    return np.where(total > 0, np.maximum(bits, 0.0), 0.0) + 0.0


def edge_counts(
    *, src, dst, answer, impressions_src=None, impressions_dst=None, impressions_count=None
) -> dict:
    """Per directed pair (sorted by src, dst): W, N, U, L (wiser on the reverse pair) and impressions.

    Pairs with votes or impressions appear. Impressions default to the pair's W + N + U and are never
    fewer (everyone who voted on a story was shown it).
    """
    src, dst, answer = (np.asarray(x, dtype=np.int64) for x in (src, dst, answer))
    shown_src = np.asarray([] if impressions_src is None else impressions_src, dtype=np.int64)
    shown_dst = np.asarray([] if impressions_dst is None else impressions_dst, dtype=np.int64)
    shown_count = np.asarray([] if impressions_count is None else impressions_count, dtype=np.int64)
    ids = distinct(np.concatenate([src, dst, shown_src, shown_dst]))
    n = max(len(ids), 1)
    vote_code = np.searchsorted(ids, src) * n + np.searchsorted(ids, dst)
    shown_code = np.searchsorted(ids, shown_src) * n + np.searchsorted(ids, shown_dst)
    codes = distinct(np.concatenate([vote_code, shown_code]))
    story = np.searchsorted(codes, vote_code)
    counts = np.bincount(story * 3 + answer, minlength=3 * len(codes)).reshape(-1, 3)
    answered = counts.sum(axis=1)
    shown = np.bincount(np.searchsorted(codes, shown_code), weights=shown_count, minlength=len(codes))
    shown = np.where(np.isin(codes, shown_code), np.maximum(shown, answered), answered).astype(np.int64)
    reverse = positions(codes, (codes % n) * n + codes // n)
    less_wise = np.where(reverse >= 0, counts[reverse, WISER], 0)
    return {
        "src": ids[codes // n],
        "dst": ids[codes % n],
        "W": counts[:, WISER],
        "N": counts[:, NOT_WISER],
        "U": counts[:, UNSURE],
        "L": less_wise,
        "impressions": shown,
    }


def _prepared_edge_counts(votes: "_Votes", shown: np.ndarray) -> dict:
    """edge_counts of a context's prepared votes and impressions (src, dst, count rows): the same dict, from the
    stories _prepare already found instead of searching every vote's ends again. Impressions of a value outside
    the context's values (which edge_counts keeps as pairs) go the general way."""
    k = votes.n_values
    shown_src, shown_dst = positions(votes.ids, shown[:, 0]), positions(votes.ids, shown[:, 1])
    if np.any(shown_src < 0) or np.any(shown_dst < 0):
        return edge_counts(
            src=votes.ids[votes.vote_src],
            dst=votes.ids[votes.vote_dst],
            answer=votes.answer,
            impressions_src=shown[:, 0],
            impressions_dst=shown[:, 1],
            impressions_count=shown[:, 2],
        )
    story_code = votes.story_src * k + votes.story_dst
    shown_code = shown_src * k + shown_dst
    codes = distinct(np.concatenate([story_code, shown_code]))
    counts = np.zeros((len(codes), 3), dtype=votes.counts.dtype)
    counts[np.searchsorted(codes, story_code)] = votes.counts
    answered = counts.sum(axis=1)
    shown_at = np.searchsorted(codes, shown_code)
    total = np.bincount(shown_at, weights=shown[:, 2], minlength=len(codes))
    was_shown = np.zeros(len(codes), dtype=bool)
    was_shown[shown_at] = True
    reverse = positions(codes, (codes % max(k, 1)) * k + codes // max(k, 1))
    return {
        "src": votes.ids[codes // max(k, 1)],
        "dst": votes.ids[codes % max(k, 1)],
        "W": counts[:, WISER],
        "N": counts[:, NOT_WISER],
        "U": counts[:, UNSURE],
        "L": np.where(reverse >= 0, counts[reverse, WISER], 0),
        "impressions": np.where(was_shown, np.maximum(total, answered), answered).astype(np.int64),
    }


@dataclass(frozen=True)
class _Votes:
    """One context's votes, indexed: values sorted by id, stories (directed pairs with votes) by (src, dst).

    per_voter has a row per (answer, story) and a column per voter, so that bootstrap weights on voters
    turn into reweighted counts with one sparse product.
    """

    ids: np.ndarray
    vote_src: np.ndarray
    vote_dst: np.ndarray
    vote_voter: np.ndarray
    vote_story: np.ndarray
    answer: np.ndarray
    n_voters: int
    story_src: np.ndarray
    story_dst: np.ndarray
    counts: np.ndarray
    reverse: np.ndarray
    per_voter: sp.csr_matrix
    voted: np.ndarray

    @property
    def n_values(self) -> int:
        return len(self.ids)


def _prepare(value_ids, voter, src, dst, answer) -> _Votes:
    ids = np.asarray(value_ids, dtype=np.int64).ravel()
    order = np.sort(ids)
    if len(distinct(order)) != len(order):
        raise ValueError("value_ids must be distinct")
    voter, src, dst, answer = (np.asarray(x, dtype=np.int64).ravel() for x in (voter, src, dst, answer))
    if not len(voter) == len(src) == len(dst) == len(answer):
        raise ValueError("voter, src, dst and answer must have the same length")
    if np.any((answer < WISER) | (answer > UNSURE)):
        raise ValueError("answer must be 0 (wiser), 1 (not wiser) or 2 (not sure)")
    k = len(order)
    vote_src, vote_dst = positions(order, src), positions(order, dst)
    if np.any(vote_src < 0) or np.any(vote_dst < 0):
        raise ValueError("every src and dst must be one of value_ids")
    if np.any(src == dst):
        raise ValueError("a story must join two different values")
    voters, vote_voter = np.unique(voter, return_inverse=True)
    code = vote_src * k + vote_dst
    codes, vote_story = distinct_inverse(code, k * k)
    n_stories = len(codes)
    counts = np.bincount(vote_story * 3 + answer, minlength=3 * n_stories).reshape(n_stories, 3)
    reverse = positions(codes, (codes % max(k, 1)) * k + codes // max(k, 1))
    per_voter = sp.csr_matrix(
        (np.ones(len(answer)), (answer * n_stories + vote_story, vote_voter)),
        shape=(3 * n_stories, len(voters)),
    )
    voted = np.zeros(k, dtype=bool)
    voted[vote_src] = True
    voted[vote_dst] = True
    return _Votes(
        ids=order,
        vote_src=vote_src,
        vote_dst=vote_dst,
        vote_voter=vote_voter,
        vote_story=vote_story,
        answer=answer,
        n_voters=len(voters),
        story_src=codes // max(k, 1),
        story_dst=codes % max(k, 1),
        counts=counts,
        reverse=reverse,
        per_voter=per_voter,
        voted=voted,
    )


class _VoterDraws:
    """Each call: size integers in [0, n) (size n by default), the very numbers that
    rng.integers(0, n, size, dtype=np.int32) would give, leaving the generator as it would (decision 49).

    numpy draws them one at a time by Lemire's method on 32-bit halves of PCG64's 64-bit outputs (low half
    first; a half left over waits in the generator's state): the next half u gives (u * n) >> 32, unless
    (u * n) mod 2**32 falls below (2**32 - n) mod n, when u is skipped. Here whole arrays of halves are
    scaled and the few skipped ones (about n * size / 2**32 per call) cut out, into reused arrays. When
    _draws_match_numpy() finds this numpy drawing otherwise, the draws are numpy's own.
    """

    def __init__(self, rng: np.random.Generator, n: int, size: int | None = None, *, fast: bool | None = None):
        self.rng, self.n, self.size = rng, n, n if size is None else size
        if fast is None:
            fast = n > 1 and type(rng.bit_generator) is np.random.PCG64 and _draws_match_numpy()
        self.fast = fast
        if fast:
            self.n32, self.threshold = np.uint32(n), np.uint32((2**32 - n) % n)
            self.scaled, self.skipped = np.empty(self.size + 1, dtype=np.uint32), np.empty(self.size + 1, dtype=bool)
            self.out = np.empty(self.size, dtype=np.int64)

    def draw(self) -> np.ndarray:
        """The next integers (an array that the next call reuses)."""
        if not self.fast:
            return self.rng.integers(0, self.n, self.size, dtype=np.int32)
        size, out = self.size, self.out
        bits = self.rng.bit_generator
        state = bits.state
        halves = bits.random_raw(-(-(size - state["has_uint32"]) // 2)).view(np.uint32)
        if state["has_uint32"]:
            halves = np.concatenate([np.array([state["uinteger"]], dtype=np.uint32), halves])
        filled = 0
        while True:
            m = len(halves)
            np.multiply(halves, self.n32, out=self.scaled[:m])
            np.less(self.scaled[:m], self.threshold, out=self.skipped[:m])
            start, used = 0, m
            for stop in np.flatnonzero(self.skipped[:m]).tolist() + [m]:
                k = min(stop - start, size - filled)
                np.multiply(halves[start : start + k], np.int64(self.n), out=out[filled : filled + k])
                filled += k
                if filled == size:
                    used = start + k
                    break
                start = stop + 1
            if filled == size:
                break
            halves = bits.random_raw(-(-(size - filled) // 2)).view(np.uint32)
        # What is left is at most the high half of the last output, which numpy keeps for its next draw.
        state = bits.state
        state["has_uint32"] = m - used
        if m > used:
            state["uinteger"] = int(halves[used])
        bits.state = state
        out >>= 32
        return out


@functools.cache
def _draws_match_numpy() -> bool:
    """Whether _VoterDraws gives this numpy's integers: odd-sized draws (a half left over each time) from ranges
    where many halves are skipped and where few are, against Generator.integers and its state after each."""
    for n in (3, 2**31 - 2**29 + 7, 148_343):
        ours, theirs = np.random.default_rng(n), np.random.default_rng(n)
        draws = _VoterDraws(ours, n, 1001, fast=True)
        for _ in range(3):
            if not np.array_equal(draws.draw(), theirs.integers(0, n, 1001, dtype=np.int32)):
                return False
            mine, numpys = ours.bit_generator.state, theirs.bit_generator.state
            if (mine["state"], mine["has_uint32"]) != (numpys["state"], numpys["has_uint32"]):
                return False
            if mine["has_uint32"] and mine["uinteger"] != numpys["uinteger"]:
                return False
    return True


def _resampled_counts(
    votes: _Votes, n_boot: int, seed: int, category: np.ndarray | None = None, n_categories: int = 0
) -> np.ndarray:
    """Counts in a bootstrap over voters, one column per resample: the wiser, not wiser and not sure counts
    per story, stacked (3 x stories rows), or per category when category (one per such row, into
    n_categories) merges them, e.g. into the pairs' rows that the Bradley-Terry fit needs.

    Each resample draws n_voters voters with replacement (voters sorted by id; default_rng(seed)'s 32-bit
    integers, computed by _VoterDraws). The draws go one resample at a time into a column, so
    no voters x resamples matrix is ever built; when every voter cast one vote, a drawn voter's category is
    looked up and counted instead of multiplied. Counting categories as they are drawn keeps only their
    rows (and a bincount over them is cheaper than folding the stories' counts by a sparse product).
    """
    n_cells, n_voters = 3 * len(votes.counts), votes.n_voters
    draws = _VoterDraws(np.random.default_rng(seed), n_voters)
    if category is None:
        category, n_categories = np.arange(n_cells), n_cells
    resampled = np.empty((n_categories, n_boot))
    by_voter = votes.per_voter.tocsc()
    single = bool(np.all(np.diff(by_voter.indptr) == 1) and np.all(by_voter.data == 1))
    if single:
        # As 32-bit integers: at 500,000 voters per context a 64-bit table made each lookup-and-count twice as slow.
        voter_category = category[by_voter.indices].astype(np.int32)
        for b in range(n_boot):
            drawn = draws.draw()
            resampled[:, b] = np.bincount(np.take(voter_category, drawn), minlength=n_categories)
        return resampled
    # Voters with several votes: each voter's column already merged into categories, so one product per
    # resample.
    merge = sp.csr_matrix((np.ones(n_cells), (category, np.arange(n_cells))), shape=(n_categories, n_cells))
    per_voter = (merge @ votes.per_voter).tocsr()
    for b in range(n_boot):
        resampled[:, b] = per_voter @ np.bincount(draws.draw(), minlength=n_voters)
    return resampled


def _vote_gradients(p: np.ndarray, tie: float) -> np.ndarray:
    """One vote's gradient of the log-likelihood in its row's log-odds, per block (3 x rows), p the rows' fitted
    probability of a win: a row's log-likelihood is wins * eta - decisive * log(1 + e^eta), and a vote adds to
    wins and decisive 1 and 1 in the first block, 0 and 1 in the second, tie and 2 * tie (not sure) in the third.
    """
    return np.stack([1.0 - p, -p, tie * (1.0 - 2.0 * p)])


def _multiplier_scores(
    votes: _Votes, n_boot: int, seed: int, category: np.ndarray, coefficient: np.ndarray, story_sign: np.ndarray
) -> np.ndarray:
    """The multiplier bootstrap's reweighted gradient (decision 50): per row of the design and resample, the sum
    over the row's votes of the voter's standard normal weight times the vote's coefficient (rows x n_boot).

    category maps each (answer, story) cell to a block of a row (block * rows + row), as in _resampled_counts;
    coefficient (3 x rows) is a vote's gradient in the row's log-odds, per block. A voter with one vote in the
    context weighs on one row only, so the m_b such voters of a row's block b together add a normal of
    variance sum_b coefficient_b^2 m_b: one draw per row, made in the order of the row's first such voter
    (voters sorted by id) and signed as that voter's story runs (story_sign: +1 where a wiser vote on the story
    is a win of its row, -1 where it is a loss), so that neither the values' ids, which decide a pair's
    orientation, nor the order of the votes change what a row draws. Voters with several votes get one weight
    each, in voter-id order, spread over their rows.
    """
    n_rows = coefficient.shape[1]
    rng = np.random.default_rng([seed, 0x4D554C54])
    by_voter = votes.per_voter.tocsc()
    starts = by_voter.indptr[:-1]
    single = (np.diff(by_voter.indptr) == 1) & (by_voter.data[np.minimum(starts, len(by_voter.data) - 1)] == 1)
    single_cell = by_voter.indices[starts[single]]
    single_category = category[single_cell]
    cast = np.bincount(single_category, minlength=3 * n_rows).reshape(3, n_rows)
    sd = np.sqrt((coefficient**2 * cast).sum(axis=0))
    first = np.full(n_rows, len(single_cell))
    np.minimum.at(first, single_category % n_rows, np.arange(len(single_cell)))
    rows = np.flatnonzero(first < len(single_cell))
    rows = rows[np.argsort(first[rows])]
    signed_sd = sd[rows] * story_sign[single_cell[first[rows]] % len(story_sign)]
    score = np.empty((n_rows, n_boot))
    score[first == len(single_cell)] = 0.0
    score[rows] = signed_sd[:, None] * rng.standard_normal((len(rows), n_boot))
    several = np.flatnonzero(~single)
    if len(several):
        n_cells = len(category)
        weights = sp.csr_matrix(
            (coefficient.ravel()[category], (category % n_rows, np.arange(n_cells))), shape=(n_rows, n_cells)
        )
        per_voter = (weights @ by_voter[:, several]).tocsc()
        # Their weights by blocks of voters, in voter order (the same normals as all at once): never a voters x
        # resamples matrix, which at 500,000 such voters would be 800 MB.
        for start in range(0, len(several), MULTIPLIER_VOTER_BLOCK):
            block = slice(start, min(start + MULTIPLIER_VOTER_BLOCK, len(several)))
            score += per_voter[:, block] @ rng.standard_normal((block.stop - block.start, n_boot))
    return score


def _softmax(theta: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Shares exp(theta) / sum exp(theta) per column, over the present rows only (others get 0)."""
    present = np.ones(theta.shape, dtype=bool) if present is None else present
    shifted = np.where(present, np.exp(theta - np.where(present, theta, -np.inf).max(axis=0)), 0.0)
    return shifted / shifted.sum(axis=0)


def _present(row_src, row_dst, n_voted: int, has_votes: np.ndarray) -> np.ndarray:
    """Which voted values still have a vote in each resample (voted values x resamples), from whether each
    story or pair (row_src -> row_dst) has one (rows x resamples)."""
    n_rows = len(row_src)
    incidence = sp.csr_matrix(
        (np.ones(2 * n_rows), (np.concatenate([row_src, row_dst]), np.tile(np.arange(n_rows), 2))),
        shape=(n_voted, n_rows),
    )
    return (incidence @ has_votes) > 0


def _posterior_draws(
    problem, theta: np.ndarray, n_draws: int, seed: int, root: str = DEFAULT_POSTERIOR_ROOT
) -> np.ndarray:
    """Draws (parameters x n_draws) from the Bradley–Terry posterior, minus the fitted theta.

    The proposal is the Laplace approximation N(theta, H^-1), H the negative Hessian of the log posterior at the
    fit. When one value beats another unanimously the posterior is skewed (a smaller gap is far less likely than
    the symmetric normal says), so up to POSTERIOR_EXACT_LIMIT parameters the draws are resampled by importance
    weights (posterior / proposal); above, the votes are many and the normal is close. Added to the voter
    bootstrap's refits, they carry the uncertainty the bootstrap misses with few voters: a resample of 10 voters
    who agree has no spread, yet 10 votes cannot pin a value's strength down.
    """
    design = problem.design
    n = design.n_params
    rows = np.arange(len(design.src))
    columns = [design.dst, design.src] + ([np.full(len(rows), design.n_values)] if design.acquiescence else [])
    signs = [1.0, -1.0] + ([1.0] if design.acquiescence else [])
    matrix = sp.csr_matrix(
        (
            np.concatenate([np.full(len(rows), sign) for sign in signs]),
            (np.tile(rows, len(columns)), np.concatenate(columns)),
        ),
        shape=(len(rows), n),
    )
    wins, trials = np.asarray(problem.wins, dtype=np.float64), np.asarray(problem.trials, dtype=np.float64)
    prior = np.broadcast_to(np.asarray(problem.prior, dtype=np.float64), (n,))
    p = expit(matrix @ theta)
    curvature = trials * p * (1.0 - p)
    rng = np.random.default_rng([seed, 0x504F5354])
    exact = n <= POSTERIOR_EXACT_LIMIT
    if not exact:
        # Many votes: the normal as it is, through the Hessian's sparse factor when its fill stays small (a
        # cost that follows the compared pairs), else densely up to POSTERIOR_DENSE_LIMIT parameters and by
        # its diagonal above.
        z = rng.standard_normal((n, n_draws))
        sparse = normal_draws(design, prior, curvature, z) if root == "factor" else None
        if sparse is not None:
            return sparse
        if n > POSTERIOR_DENSE_LIMIT:
            diagonal = np.asarray(matrix.multiply(matrix).T @ curvature).ravel() + prior
            return z / np.sqrt(diagonal)[:, None]
    hessian = (matrix.T @ sp.diags(curvature) @ matrix).toarray()
    hessian[np.arange(n), np.arange(n)] += prior
    upper = np.linalg.cholesky(hessian).T
    if exact:
        z = rng.standard_normal((n, n_draws * POSTERIOR_OVERSAMPLING))
    offsets = scipy.linalg.solve_triangular(upper, z, lower=False)
    if not exact:
        return offsets

    def log_posterior(thetas: np.ndarray) -> np.ndarray:
        delta = matrix @ thetas
        return wins @ delta - trials @ np.logaddexp(0.0, delta) - 0.5 * (prior[:, None] * thetas**2).sum(axis=0)

    n_proposed = z.shape[1]
    log_weight = log_posterior(theta[:, None] + offsets) + 0.5 * (z**2).sum(axis=0)
    weight = np.exp(log_weight - log_weight.max())
    weight /= weight.sum()
    if 1.0 / np.sum(weight**2) < n_draws:  # too few effective draws: keep the normal
        return offsets[:, :n_draws]
    return offsets[:, rng.choice(n_proposed, size=n_draws, p=weight)]


def _canonical_order(votes: _Votes, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order of the voted values that does not depend on their ids, and groups of values it cannot tell apart.

    Values are ordered by fitted strength, then by a fingerprint of their votes (who voted, in which role, what);
    posterior draws are made in this order, so renaming values never changes which draw a value gets. Values
    equal in both are exchangeable as far as the votes go: their intervals and P(top) are pooled afterwards.
    """
    n_voted = len(theta)
    voted_index = np.cumsum(votes.voted) - 1
    fingerprint = np.zeros(n_voted, dtype=np.uint64)
    for role, column in ((1, votes.vote_src), (2, votes.vote_dst)):
        code = (votes.vote_voter.astype(np.uint64) << np.uint64(4)) + np.uint64(role * 4) + votes.answer.astype(
            np.uint64
        )
        np.add.at(fingerprint, voted_index[column], _mix64(code))
    strength = np.round(theta - theta.max(initial=0.0), 8)
    order = np.lexsort((fingerprint, strength))
    new_group = np.ones(n_voted, dtype=bool)
    new_group[1:] = (strength[order][1:] != strength[order][:-1]) | (fingerprint[order][1:] != fingerprint[order][:-1])
    groups = np.empty(n_voted, dtype=np.int64)
    groups[order] = np.cumsum(new_group) - 1
    return order, groups


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fixed pseudo-random 64-bit hash of each integer (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class _Permuted:
    """A Bradley–Terry problem with its parameters renumbered: parameter order[i] becomes i."""

    def __init__(self, problem, order: np.ndarray):
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        design = problem.design
        self.design = bradley_terry.Design(
            design.n_values, position[design.src], position[design.dst], design.acquiescence
        )
        self.wins, self.trials = problem.wins, problem.trials
        self.prior = np.broadcast_to(np.asarray(problem.prior, dtype=np.float64), (design.n_params,))[order]


def _bt_scores(
    votes: _Votes,
    n_boot: int,
    seed: int,
    *,
    acquiescence: bool,
    unsure: str,
    prior: float,
    initial_scores=None,
    interval: str = "bootstrap+posterior",
    posterior_root: str = DEFAULT_POSTERIOR_ROOT,
    bootstrap: str = DEFAULT_BOOTSTRAP,
):
    voted_index = np.cumsum(votes.voted) - 1
    n_voted = int(votes.voted.sum())
    src, dst = voted_index[votes.story_src], voted_index[votes.story_dst]
    n_stories = len(src)
    tie = 0.5 if unsure == "tie" else 0.0
    story = np.arange(n_stories)
    if acquiescence:
        design = bradley_terry.Design(n_voted, src, dst, acquiescence=True)
        n_rows, wins_cell, row_of_story = n_stories, story, story
    else:
        # Without acquiescence "wiser" on A -> B and "not wiser" on B -> A are the same event, B over A:
        # each unordered pair becomes one row, the higher-indexed value's wins out of all decisive votes.
        low, high = np.minimum(src, dst), np.maximum(src, dst)
        pairs, row_of_story = np.unique(low * n_voted + high, return_inverse=True)
        design = bradley_terry.Design(n_voted, pairs // n_voted, pairs % n_voted, acquiescence=False)
        n_rows, wins_cell = len(pairs), np.where(dst == high, story, n_stories + story)
    # Counts per story, stacked as wiser / not wiser / not sure, merged per row of the design (a story, or an
    # unordered pair) into three blocks: the votes for the row's winning side (wiser on the story, or for the
    # higher-indexed value), those for the other side, and the not sure ones. Wins are the first block,
    # decisive votes the first two.
    category = np.empty(3 * n_stories, dtype=np.int64)
    category[wins_cell] = row_of_story
    category[(wins_cell + n_stories) % (2 * n_stories)] = n_rows + row_of_story
    category[2 * n_stories + story] = 2 * n_rows + row_of_story
    priors = np.full(design.n_params, prior)

    def problem(merged):
        wins, u = merged[:n_rows], merged[2 * n_rows :]
        decisive = wins + merged[n_rows : 2 * n_rows]
        if tie:
            wins, decisive = wins + tie * u, decisive + 2 * tie * u
        return bradley_terry.Problem(design, wins, decisive, priors)

    initial = None if initial_scores is None else _initial_theta(votes, initial_scores, design.n_params)
    point_problem = problem(
        np.bincount(category, weights=votes.counts.T.ravel().astype(np.float64), minlength=3 * n_rows)
    )
    theta, solver = bradley_terry.fit(point_problem, initial)
    multiplier = bootstrap == "multiplier" or (bootstrap == "auto" and votes.n_voters >= MULTIPLIER_MIN_VOTERS)
    if multiplier:
        # One step from the fit: H^-1 times the reweighted votes' gradient there. No value loses its votes.
        gradients = _vote_gradients(expit(design.log_odds(theta)), tie)
        story_sign = np.where(wins_cell < n_stories, 1.0, -1.0)
        score = _multiplier_scores(votes, n_boot, seed, category, gradients, story_sign)
        boot_theta = theta[:, None] + solver.solve(point_problem.transposed @ score)
        present = None
    else:
        resampled = _resampled_counts(votes, n_boot, seed, category, 3 * n_rows)
        present = _present(design.src, design.dst, n_voted, resampled.reshape(3, n_rows, n_boot).sum(axis=0) > 0)
        boot_theta = bradley_terry.bootstrap(problem(resampled), theta, solver)
    if interval == "bootstrap+posterior":
        order, ties = _canonical_order(votes, theta[:n_voted])
        if acquiescence:
            order = np.append(order, n_voted)
        draws = np.empty_like(boot_theta)
        draws[order] = _posterior_draws(
            _Permuted(point_problem, order), theta[order], boot_theta.shape[1], seed, posterior_root
        )
        boot_theta = boot_theta + draws
        tie_groups = ties
    else:
        tie_groups = None
    exact = n_voted <= bradley_terry.EXACT_LIMIT
    parameters = {
        "prior": prior,
        "unsure": unsure,
        "interval": interval,
        "bootstrap": (
            "multiplier" if multiplier else "newton" if exact else f"{bradley_terry.APPROXIMATE_STEPS} chord steps"
        ),
    }
    if interval == "bootstrap+posterior":
        parameters["posteriorRoot"] = posterior_root
    if acquiescence:
        parameters["acquiescence"] = float(theta[-1])
    return _softmax(theta[:n_voted]), _softmax(boot_theta[:n_voted], present), parameters, tie_groups


def _initial_theta(votes: _Votes, initial_scores: dict, n_params: int) -> np.ndarray:
    """Newton's start from a previous run's scores (value id -> score): log scores of the voted values.

    A value without a positive previous score starts at the mean of the others; an acquiescence term at 0.
    Any start reaches the same optimum; a close one saves Newton steps.
    """
    voted = votes.ids[votes.voted]
    previous = np.array([float(initial_scores.get(int(v), 0.0)) for v in voted])
    known = np.isfinite(previous) & (previous > 0)
    logs = np.log(previous, where=known, out=np.zeros(len(voted)))
    start = np.zeros(n_params)
    start[: len(voted)] = np.where(known, logs - logs[known].mean(), 0.0) if known.any() else 0.0
    return start


def _mai_scores(votes: _Votes, n_boot: int, seed: int, *, impressions: np.ndarray):
    voted_index = np.cumsum(votes.voted) - 1
    n_voted = int(votes.voted.sum())
    src, dst = voted_index[votes.story_src], voted_index[votes.story_dst]

    def scores(w, n, u, shown, present=None):
        less_wise = np.where(votes.reverse[:, None] >= 0, w[votes.reverse], 0.0)
        likelihood, _, kept = _mai_filter(w, n, u, less_wise, shown)
        edge_weight = np.where(kept, likelihood, 0.0)
        return pagerank_batch(n_voted, src, dst, edge_weight, damping=DAMPING, tol=TOL, active=present)

    w, n, u = (votes.counts[:, j, None].astype(np.float64) for j in range(3))
    point = scores(w, n, u, impressions[:, None])[:, 0]
    n_stories = len(src)
    resampled = _resampled_counts(votes, n_boot, seed)
    w, n, u = resampled[:n_stories], resampled[n_stories : 2 * n_stories], resampled[2 * n_stories :]
    answered = w + n + u
    present = _present(src, dst, n_voted, answered > 0)
    not_answering = (impressions - votes.counts.sum(axis=1))[:, None]
    boot = scores(w, n, u, not_answering + answered, present)
    parameters = {
        "damping": DAMPING,
        "tol": TOL,
        "dangling": "uniform",
        "minWiser": MAI_MIN_WISER,
        "minWiserLikelihood": MAI_MIN_LIKELIHOOD,
        "maxEntropy": MAI_MAX_ENTROPY,
    }
    return point, boot, parameters, None


def _competition_ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest score; equal scores (to TIE_DECIMALS) share the best rank.

    Along the first axis, each column on its own (as scipy's rankdata(method="min", axis=0), a third faster).
    """
    if np.ndim(scores) == 1:
        return _competition_ranks(np.asarray(scores)[:, None])[:, 0]
    rows = np.ascontiguousarray(-np.round(scores, TIE_DECIMALS).T)
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    # In sorted order, each place's rank is the place of the first score equal to it.
    first = np.empty(ordered.shape, dtype=np.int64)
    first[:] = np.arange(1, rows.shape[1] + 1)
    first[:, 1:][ordered[:, 1:] == ordered[:, :-1]] = 0
    np.maximum.accumulate(first, axis=1, out=first)
    ranks = np.empty_like(first)
    np.put_along_axis(ranks, order, first, axis=1)
    return ranks.T


def _support(p_top: float, rank_interval: list[int], has_winner: bool, winner_voters: int, min_voters: int) -> str:
    """The support level of a context from its winner's P(top), 95% rank interval and the number of distinct
    voters on the winner's stories (docs/ranking.md): no level is claimed from fewer than `min_voters`."""
    if has_winner and winner_voters < min_voters:
        return TOO_FEW_VOTERS
    if has_winner and p_top >= 0.9 and rank_interval == [1, 1]:
        return "broadly supported"
    if has_winner and p_top >= 0.5:
        return "some support"
    return "contested"


def _scores(
    votes: _Votes,
    method: str,
    n_boot: int,
    seed: int,
    story_impressions: np.ndarray,
    interval: str,
    initial_scores=None,
    posterior_root: str = DEFAULT_POSTERIOR_ROOT,
    bootstrap: str = DEFAULT_BOOTSTRAP,
):
    """Point scores (values) and bootstrap scores (values x resamples) of every value, and parameters."""
    k, n_voted = votes.n_values, int(votes.voted.sum())
    point, boot = np.zeros(k), np.zeros((k, n_boot))
    parameters: dict = {"nBoot": n_boot, "seed": seed}
    if n_voted == 0:
        point[:] = 1.0 / max(k, 1)
        return point, boot, parameters, None
    if method == "mai_pagerank":
        voted_point, voted_boot, extra, ties = _mai_scores(votes, n_boot, seed, impressions=story_impressions)
    else:
        voted_point, voted_boot, extra, ties = _bt_scores(
            votes,
            n_boot,
            seed,
            **_BT_VARIANTS[method],
            initial_scores=initial_scores,
            interval=interval,
            posterior_root=posterior_root,
            bootstrap=bootstrap,
        )
    point[votes.voted], boot[votes.voted] = voted_point, voted_boot
    parameters.update(extra)
    groups = None
    if ties is not None:
        groups = np.full(k, -1, dtype=np.int64)
        groups[votes.voted] = ties
    return point, boot, parameters, groups


def _value_rows(votes: _Votes, point: np.ndarray, boot: np.ndarray, ties: np.ndarray | None = None) -> list[dict]:
    """Values best first, with score and rank intervals and P(top)."""
    k = votes.n_values
    if k == 0:
        return []
    ranks = _competition_ranks(point)
    boot_ranks = _competition_ranks(boot)
    at_top = boot_ranks == 1
    p_top = (at_top / np.maximum(at_top.sum(axis=0), 1)).mean(axis=1)
    score_low = np.minimum(np.quantile(boot, 0.025, axis=1), point)
    score_high = np.maximum(np.quantile(boot, 0.975, axis=1), point)
    rank_low = np.minimum(np.quantile(boot_ranks, 0.025, axis=1, method="lower"), ranks)
    rank_high = np.maximum(np.quantile(boot_ranks, 0.975, axis=1, method="higher"), ranks)
    unvoted = ~votes.voted
    score_low[unvoted], score_high[unvoted], p_top[unvoted] = 0.0, 1.0, 0.0
    rank_low[unvoted], rank_high[unvoted] = 1, k
    if ties is not None:
        # Values the votes cannot tell apart share their intervals and P(top) (docs/ranking.md).
        # Only groups of two or more change (a loop over every value took 7 ms per context of 1,500 values).
        sizes = np.bincount(ties[ties >= 0])
        for group in np.flatnonzero(sizes > 1).tolist():
            members = np.flatnonzero(ties == group)
            p_top[members] = p_top[members].mean()
            score_low[members], score_high[members] = score_low[members].min(), score_high[members].max()
            rank_low[members], rank_high[members] = rank_low[members].min(), rank_high[members].max()
    n_votes = np.bincount(votes.vote_src, minlength=k) + np.bincount(votes.vote_dst, minlength=k)
    columns = zip(
        votes.ids.tolist(),
        significant(point).tolist(),
        significant(score_low).tolist(),
        significant(score_high).tolist(),
        ranks.tolist(),
        rank_low.astype(np.int64).tolist(),
        rank_high.astype(np.int64).tolist(),
        significant(p_top).tolist(),
        n_votes.tolist(),
        strict=True,
    )
    rows = [
        {
            "valueId": value_id,
            "score": score,
            "scoreInterval": [low, high],
            "rank": rank,
            "rankInterval": [rank_lo, rank_hi],
            "pTop": top,
            "nVotes": n,
        }
        for value_id, score, low, high, rank, rank_lo, rank_hi, top, n in columns
    ]
    order = np.lexsort((votes.ids, ranks))
    return [rows[i] for i in order]


def _edge_rows(pairs: dict, groups: list[dict], bridging_score: np.ndarray) -> list[dict]:
    """One row per directed pair with its counts, MAI's summary, group shares and bridging score."""
    stats = edge_statistics(pairs["W"], pairs["N"], pairs["U"], pairs["L"], pairs["impressions"])
    bridging_list = [None if np.isnan(b) else b for b in significant(bridging_score).tolist()]
    columns = zip(
        pairs["src"].tolist(),
        pairs["dst"].tolist(),
        pairs["W"].tolist(),
        pairs["N"].tolist(),
        pairs["U"].tolist(),
        pairs["L"].tolist(),
        pairs["impressions"].tolist(),
        significant(stats["wiserLikelihood"]).tolist(),
        significant(stats["entropy"]).tolist(),
        significant(stats["maiEntropy"]).tolist(),
        significant(stats["wilsonLower"]).tolist(),
        stats["maiKept"].tolist(),
        groups,
        bridging_list,
        strict=True,
    )
    return [
        {
            "sourceValueId": source,
            "wiserValueId": wiser,
            "counts": {
                "markedWiser": w,
                "markedNotWiser": n,
                "markedUnsure": u,
                "markedLessWise": less,
                "impressions": shown,
            },
            "summary": {
                "wiserLikelihood": likelihood,
                "entropy": entropy,
                "maiEntropy": mai,
                "wilsonLower": wilson,
            },
            "maiKept": kept,
            "groups": group,
            "bridging": bridging_value,
        }
        for source, wiser, w, n, u, less, shown, likelihood, entropy, mai, wilson, kept, group, bridging_value in columns
    ]


def rank_context(
    *,
    value_ids: list[int],
    voter: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    answer: np.ndarray,
    impressions: list[tuple[int, int, int]] | None = None,
    method: str = DEFAULT_METHOD,
    n_boot: int = 200,
    seed: int = 0,
    voter_groups: "dict[str, np.ndarray | bridging.Labels] | None" = None,
    min_group_voters: int = 5,
    initial_scores: dict[int, float] | None = None,
    interval: str = DEFAULT_INTERVAL,
    min_broad_voters: int = MIN_BROAD_VOTERS,
    posterior_root: str = DEFAULT_POSTERIOR_ROOT,
    bootstrap: str = DEFAULT_BOOTSTRAP,
) -> dict:
    """Rank one context's values from per-vote arrays; scores, bootstrap intervals, support, edges, bridging.

    initial_scores (value id -> score, e.g. the previous run's) warm-starts the Bradley-Terry fit; the
    result is the same to the fit's tolerance (1e-10 in the parameters), only fewer Newton steps are taken.
    """
    with gc_paused():
        return _rank_context(
            value_ids=value_ids,
            voter=voter,
            src=src,
            dst=dst,
            answer=answer,
            impressions=impressions,
            method=method,
            n_boot=n_boot,
            seed=seed,
            voter_groups=voter_groups,
            min_group_voters=min_group_voters,
            initial_scores=initial_scores,
            interval=interval,
            min_broad_voters=min_broad_voters,
            posterior_root=posterior_root,
            bootstrap=bootstrap,
        )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (restored after), as around building results.

    The results are hundreds of thousands of small dicts and lists without cycles; each allocation
    burst made the collector walk every live object again, 0.6 s of 6 in ranking a million votes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _rank_context(
    *,
    value_ids,
    voter,
    src,
    dst,
    answer,
    impressions,
    method,
    n_boot,
    seed,
    voter_groups,
    min_group_voters,
    initial_scores,
    interval,
    min_broad_voters,
    posterior_root,
    bootstrap,
):
    if method not in ALL_METHODS:
        raise ValueError(f"unknown ranking method {method!r}; choose one of {ALL_METHODS}")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval method {interval!r}; choose one of {INTERVALS}")
    if posterior_root not in POSTERIOR_ROOTS:
        raise ValueError(f"unknown posterior root {posterior_root!r}; choose one of {POSTERIOR_ROOTS}")
    if bootstrap not in BOOTSTRAPS:
        raise ValueError(f"unknown bootstrap {bootstrap!r}; choose one of {BOOTSTRAPS}")
    votes = _prepare(value_ids, voter, src, dst, answer)
    k = votes.n_values
    shown = np.asarray(impressions if impressions else np.zeros((0, 3)), dtype=np.int64).reshape(-1, 3)
    pairs = _prepared_edge_counts(votes, shown)
    story_code = votes.story_src * k + votes.story_dst
    pair_story = positions(
        story_code, np.searchsorted(votes.ids, pairs["src"]) * k + np.searchsorted(votes.ids, pairs["dst"])
    )
    voted_pairs = np.flatnonzero(pair_story >= 0)
    story_impressions = np.zeros(len(story_code), dtype=np.int64)
    story_impressions[pair_story[voted_pairs]] = pairs["impressions"][voted_pairs]

    point, boot, parameters, ties = _scores(
        votes, method, n_boot, seed, story_impressions, interval, initial_scores, posterior_root, bootstrap
    )
    values = _value_rows(votes, point, boot, ties)
    has_winner = bool(values) and votes.voted.any() and (len(values) == 1 or values[1]["rank"] > 1)
    winner_p_top = values[0]["pTop"] if values else 0.0
    winner = int(np.searchsorted(votes.ids, values[0]["valueId"])) if has_winner else None
    winner_voters = (
        len(np.unique(votes.vote_voter[(votes.vote_src == winner) | (votes.vote_dst == winner)]))
        if winner is not None
        else 0
    )
    support = _support(
        winner_p_top, values[0]["rankInterval"] if values else [], has_winner, winner_voters, min_broad_voters
    )

    edge_groups: list[dict] = [{} for _ in range(len(pair_story))]
    edge_bridging = np.full(len(pair_story), np.nan)
    context_bridging = {}
    for attribute in sorted(voter_groups or {}):
        names, voter_group = bridging.voter_group_codes(
            voter_groups[attribute], votes.vote_voter, votes.n_voters
        )
        per_story, story_bridging = bridging.edge_groups(
            names,
            voter_group,
            votes.vote_voter,
            votes.vote_story,
            votes.answer,
            len(story_code),
            min_group_voters,
        )
        for e, story in zip(voted_pairs.tolist(), pair_story[voted_pairs].tolist(), strict=True):
            edge_groups[e][attribute] = per_story[story]
        edge_bridging[voted_pairs] = np.fmin(
            edge_bridging[voted_pairs], story_bridging[pair_story[voted_pairs]]
        )
        context_bridging[attribute] = bridging.winner_endorsement(
            names,
            voter_group,
            votes.vote_voter,
            votes.vote_src,
            votes.vote_dst,
            votes.answer,
            winner,
            min_group_voters,
        )
    return {
        "method": method,
        "parameters": {key: significant(v) if isinstance(v, float) else v for key, v in parameters.items()},
        "nVotes": len(votes.answer),
        "nVoters": votes.n_voters,
        "values": values,
        "support": support,
        "pTop": winner_p_top,
        "winnerVoters": winner_voters,
        "minVoters": min_broad_voters,
        "edges": _edge_rows(pairs, edge_groups, edge_bridging),
        "bridging": context_bridging,
    }
