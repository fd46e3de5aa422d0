"""Bradley–Terry fit of wiser votes with a weak Gaussian prior, and its bootstrap over many reweightings.

Parameters are one wisdom level per value plus, optionally, one acquiescence term: the pull towards
answering "wiser" whatever the story. For a story src -> dst the log-odds of "wiser" are
wisdom[dst] - wisdom[src] + acquiescence; "wiser" is a win for the story, "not wiser" a loss.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import reverse_cuthill_mckee

ENVELOPE_FACTOR = 16
CG_TOL = 1e-11
CG_MAX_ITER = 5000
BOOTSTRAP_BLOCK = 50
EXACT_LIMIT = 50
NEWTON_TOL = 1e-10
BOOTSTRAP_TOL = 1e-7
NEWTON_MAX_ITER = 100
APPROXIMATE_STEPS = 5


@dataclass(frozen=True)
class Design:
    """The stories of one context as indices into the parameter vector."""

    n_values: int
    src: np.ndarray
    dst: np.ndarray
    acquiescence: bool

    @property
    def n_params(self) -> int:
        """Wisdom levels, plus one when the acquiescence term is fitted."""
        return self.n_values + int(self.acquiescence)

    def _entries(self) -> tuple[list[np.ndarray], list[float]]:
        n = len(self.src)
        columns = [self.dst, self.src] + ([np.full(n, self.n_values)] if self.acquiescence else [])
        signs = [1.0, -1.0] + ([1.0] if self.acquiescence else [])
        return columns, signs

    def matrix(self) -> sp.csr_matrix:
        """Stories x parameters: +1 on the destination, -1 on the source, +1 on acquiescence."""
        columns, signs = self._entries()
        n = len(self.src)
        values = np.concatenate([np.full(n, sign) for sign in signs])
        rows = np.tile(np.arange(n), len(columns))
        return sp.csr_matrix((values, (rows, np.concatenate(columns))), shape=(n, self.n_params))

    def hessian_entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each story's a a' as (flat parameter-pair index, story, sign) triples."""
        columns, signs = self._entries()
        p, n = self.n_params, len(self.src)
        flat, story, sign = [], [], []
        for ci, si in zip(columns, signs, strict=True):
            for cj, sj in zip(columns, signs, strict=True):
                flat.append(ci * p + cj)
                story.append(np.arange(n))
                sign.append(np.full(n, si * sj))
        return np.concatenate(flat), np.concatenate(story), np.concatenate(sign)

    def outer_products(self) -> sp.csr_matrix:
        """(parameter pairs) x stories: each story's a a' flattened, to build many Hessians at once."""
        flat, story, sign = self.hessian_entries()
        p = self.n_params
        return sp.csr_matrix((sign, (flat, story)), shape=(p * p, len(self.src)))

    def log_odds(self, theta: np.ndarray) -> np.ndarray:
        """Log-odds of "wiser" per story (rows), for one or many parameter columns."""
        delta = theta[self.dst] - theta[self.src]
        return delta + theta[self.n_values] if self.acquiescence else delta


def _column_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum over rows of a * b, per column (a plain sum for vectors)."""
    return np.einsum("i...,i...->...", a, b)


class Problem:
    """Wins out of trials per story (one column per reweighting), with a Gaussian prior of given precision."""

    def __init__(self, design: Design, wins: np.ndarray, trials: np.ndarray, prior: np.ndarray):
        self.design = design
        self.wins = wins
        self.trials = trials
        self.prior = np.asarray(prior, dtype=np.float64)

    def columns(self, block: slice) -> "Problem":
        """The same problem restricted to some columns (reweightings), sharing the design's cached matrices."""
        # Contiguous copies: every evaluation reads them several times, and strided column views cost about
        # twice as much per pass.
        part = Problem(
            self.design,
            np.ascontiguousarray(self.wins[:, block]),
            np.ascontiguousarray(self.trials[:, block]),
            self.prior,
        )
        for name in ("matrix", "transposed", "pattern"):
            if name in self.__dict__:
                part.__dict__[name] = self.__dict__[name]
        return part

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """The design matrix."""
        return self.design.matrix()

    @cached_property
    def transposed(self) -> sp.csr_matrix:
        """The design matrix, transposed, in row-major form."""
        return self.matrix.T.tocsr()

    def _prior(self, theta: np.ndarray) -> np.ndarray:
        return self.prior.reshape((-1,) + (1,) * (theta.ndim - 1))

    def evaluate(
        self, theta: np.ndarray, columns=None, curvature: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Log posterior, its gradient and each story's curvature trials * p * (1 - p), per column of theta.

        columns says which reweightings (columns of wins and trials) theta holds; None for all. With
        curvature=False the third item is None (the chord steps need no Hessian).
        """
        wins, trials = (
            (self.wins, self.trials) if columns is None else (self.wins[:, columns], self.trials[:, columns])
        )
        delta = self.design.log_odds(theta)
        # In place where possible: at 200 resamples these arrays are megabytes, and fresh temporaries
        # cost more than the arithmetic.
        small = np.abs(delta)
        np.negative(small, out=small)
        np.exp(small, out=small)
        softplus = np.maximum(delta, 0.0)
        softplus += np.log1p(small)
        prior = self._prior(theta)
        value = (
            _column_dot(wins, delta) - _column_dot(trials, softplus) - 0.5 * (prior * theta**2).sum(axis=0)
        )
        denominator = small + 1.0
        # The numerator of p: 1 where delta >= 0 (small <= 1 there), small elsewhere; a maximum, exactly that,
        # instead of a masked copy (which branches per element on a mask that is as good as random).
        np.maximum(small, delta >= 0, out=small)
        p = np.divide(small, denominator, out=small)
        residual = np.multiply(trials, p, out=softplus)
        np.subtract(wins, residual, out=residual)
        grad = self.transposed @ residual - prior * theta
        if not curvature:
            return value, grad, None
        np.subtract(1.0, p, out=denominator)
        denominator *= p
        denominator *= trials
        return value, grad, denominator

    @cached_property
    def pattern(self) -> "Pattern":
        """Where each story's curvature goes in the sparse Hessian, in a bandwidth-reducing order."""
        return Pattern.of(self.design)

    def hessian(self, curvature: np.ndarray) -> sp.csr_matrix:
        """Negative Hessian for one column, A' diag(curvature) A + diag(prior), sparse, rows and columns in
        pattern.order: a weighted Laplacian of the comparison graph plus a diagonal (plus the acquiescence row)."""
        pattern = self.pattern
        data = np.bincount(
            pattern.slot, weights=pattern.sign * curvature[pattern.story], minlength=len(pattern.indices)
        )
        data[pattern.diagonal] += self.prior[pattern.order]
        p = self.design.n_params
        return sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=(p, p))


@dataclass(frozen=True)
class Pattern:
    """The sparsity pattern of a design's Hessian: one nonzero per compared pair (twice) and per parameter.

    order is reverse Cuthill-McKee on the comparison graph (the acquiescence term last, its row being full);
    direct says whether the Hessian's envelope in that order (the most a Cholesky factor can fill) is at most
    ENVELOPE_FACTOR times its nonzeros, so that a sparse factorisation costs in proportion to the pairs.
    """

    order: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    slot: np.ndarray
    story: np.ndarray
    sign: np.ndarray
    diagonal: np.ndarray
    direct: bool

    @classmethod
    def of(cls, design: Design) -> "Pattern":
        """The pattern of design's Hessians, its order and whether to factorise it."""
        p, n = design.n_params, design.n_values
        ends = np.concatenate([design.src, design.dst])
        graph = sp.csr_matrix(
            (np.ones(len(ends)), (ends, np.concatenate([design.dst, design.src]))), shape=(n, n)
        )
        order = reverse_cuthill_mckee(graph, symmetric_mode=True).astype(np.int64)
        if design.acquiescence:
            order = np.append(order, n)
        position = np.empty(p, dtype=np.int64)
        position[order] = np.arange(p)
        flat, story, sign = design.hessian_entries()
        code = np.concatenate([position[flat // p] * p + position[flat % p], np.arange(p) * (p + 1)])
        codes, slot = np.unique(code, return_inverse=True)
        rows, indices = codes // p, codes % p
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=p))])
        envelope = int((np.arange(p) - indices[indptr[:-1]]).sum()) if p else 0
        return cls(
            order=order,
            indptr=indptr,
            indices=indices,
            slot=slot[: len(flat)],
            story=story,
            sign=sign,
            diagonal=slot[len(flat) :],
            direct=envelope <= ENVELOPE_FACTOR * len(codes),
        )


class Solver:
    """Solves H x = b for one sparse symmetric positive definite H given in pattern order, for many right-hand sides.

    A sparse LU without pivoting (a Cholesky factor in effect) when the pattern says its fill stays small;
    otherwise conjugate gradients with the Jacobi preconditioner, which converge in few iterations on the
    well-connected comparison graphs whose factors would fill. Either way each right-hand side costs in
    proportion to the compared pairs.
    """

    def __init__(self, h: sp.csr_matrix, pattern: Pattern):
        self.order = pattern.order
        self.h, self.lu, self.inverse_diagonal = h, None, None
        if pattern.direct:
            self.lu = spla.splu(
                h.tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
            )
        else:
            self.inverse_diagonal = 1.0 / h.diagonal()

    def solve(self, b: np.ndarray) -> np.ndarray:
        """H^-1 b, b in parameter order (a vector or one column per right-hand side)."""
        permuted = b[self.order]
        if self.lu is not None:
            x = self.lu.solve(permuted)
        else:
            x = _conjugate_gradients(self.h, permuted, self.inverse_diagonal)
        solution = np.empty_like(x)
        solution[self.order] = x
        return solution


def normal_draws(design, prior: np.ndarray, curvature: np.ndarray, z: np.ndarray) -> np.ndarray | None:
    """Draws from N(0, H^-1), H = A' diag(curvature) A + diag(prior) the negative Hessian of design's stories
    (anything with n_values, src, dst and acquiescence), one per column of the standard normal z (parameters x
    draws), through a sparse factor; None when the pattern says it would fill.

    With H = L D L' in the pattern's order (SuperLU without pivoting gives L and U = D L'), x = U^-1 D^1/2 z
    = L'^-1 D^-1/2 z has covariance (L D L')^-1 = H^-1. L^-1 (L y) = y turns SuperLU's two triangular solves into
    the one with U; each draw costs in proportion to the factor's nonzeros, not parameters squared.
    """
    problem = Problem(Design(design.n_values, design.src, design.dst, design.acquiescence), None, None, prior)
    pattern = problem.pattern
    if not pattern.direct:
        return None
    lu = Solver(problem.hessian(curvature), pattern).lu
    identity = np.arange(len(pattern.order))
    d = lu.U.diagonal()
    if not (np.array_equal(lu.perm_r, identity) and np.array_equal(lu.perm_c, identity) and np.all(d > 0)):
        return None
    permuted = lu.solve(lu.L @ (np.sqrt(d)[:, None] * z))
    draws = np.empty_like(permuted)
    draws[pattern.order] = permuted
    return draws


def _conjugate_gradients(h: sp.csr_matrix, b: np.ndarray, inverse_diagonal: np.ndarray) -> np.ndarray:
    """H^-1 b by Jacobi-preconditioned conjugate gradients, all columns at once, each to CG_TOL relative residual.

    A column leaves the block when it has converged, so the last iterations cost only what is left.
    """
    block = b.reshape(len(b), -1)
    solution = np.zeros_like(block)
    limit = CG_TOL * np.linalg.norm(block, axis=0)
    active = np.flatnonzero(limit > 0)
    limit = limit[active]
    x = np.zeros((len(b), len(active)))
    r = block[:, active].copy()
    scale = inverse_diagonal[:, None]
    z = scale * r
    d = z.copy()
    rz = _column_dot(r, z)
    for _ in range(CG_MAX_ITER):
        if not len(active):
            break
        hd = h @ d
        alpha = rz / _column_dot(d, hd)
        x += alpha * d
        r -= alpha * hd
        going = np.linalg.norm(r, axis=0) > limit
        if not going.all():
            solution[:, active[~going]] = x[:, ~going]
            active, x, r, d, rz, limit = (part[..., going] for part in (active, x, r, d, rz, limit))
        z = scale * r
        rz_next = _column_dot(r, z)
        d *= rz_next / rz
        d += z
        rz = rz_next
    solution[:, active] = x
    return solution.reshape(b.shape)


def _no_worse(new_value, value):
    """new_value is not below value beyond rounding (so the last, tiny Newton steps are not refused)."""
    return new_value >= value - 1e-12 * np.maximum(1.0, np.abs(value))


def fit(problem: Problem, initial: np.ndarray | None = None) -> tuple[np.ndarray, Solver]:
    """Maximum a posteriori parameters by Newton's method with backtracking, and the Hessian's solver there.

    initial (optional) is where Newton starts, e.g. the previous run's parameters (a warm start): the
    posterior is strictly concave, so any start reaches the same optimum, a close one in fewer steps.
    The solver returned is the last Newton step's, at an iterate within NEWTON_TOL of the optimum.
    """
    n_params = problem.design.n_params
    theta = np.zeros(n_params) if initial is None else np.array(initial, dtype=np.float64)
    if theta.shape != (n_params,) or not np.all(np.isfinite(theta)):
        raise ValueError(f"initial parameters must be {n_params} finite numbers")
    value, grad, curvature = problem.evaluate(theta)
    for _ in range(NEWTON_MAX_ITER):
        solver = Solver(problem.hessian(curvature), problem.pattern)
        step = solver.solve(grad)
        t = 1.0
        while True:
            new_value, new_grad, new_curvature = problem.evaluate(theta + t * step)
            if _no_worse(new_value, value) or t < 1e-6:
                break
            t *= 0.5
        theta = theta + t * step
        value, grad, curvature = new_value, new_grad, new_curvature
        if np.max(np.abs(t * step), initial=0.0) < NEWTON_TOL:
            break
    return theta, solver


def bootstrap(problem: Problem, theta: np.ndarray, solver: Solver) -> np.ndarray:
    """Refit every column of a reweighted problem, starting from the full-data optimum theta.

    Up to EXACT_LIMIT values each column gets its own Newton iterations to convergence; above,
    APPROXIMATE_STEPS steps along H0^-1 g with H0 the full-data Hessian (one sparse factorisation or
    conjugate-gradient block serves all resamples; the first step alone is the score bootstrap).
    Columns are independent; they go BOOTSTRAP_BLOCK at a time, whose working arrays stay in the
    processor's cache (a third less time than all 200 at once at 7,500 pairs).
    """
    n_columns = problem.wins.shape[1]
    thetas = np.empty((len(theta), n_columns))
    for start in range(0, n_columns, BOOTSTRAP_BLOCK):
        block = slice(start, min(start + BOOTSTRAP_BLOCK, n_columns))
        part = problem.columns(block)
        initial = np.repeat(theta[:, None], block.stop - block.start, axis=1)
        if problem.design.n_values <= EXACT_LIMIT:
            thetas[:, block] = _batched_newton(part, initial)
        else:
            thetas[:, block] = _chord_steps(part, initial, solver)
    return thetas


def _backtrack(problem: Problem, thetas, step, state, columns):
    """Per column, the largest of 1, 1/2, 1/4, ... times step that does not lower the log posterior.

    state is (log posterior, gradient, curvature or None) at thetas; returns thetas, state and t after
    the move (the curvature is kept only when state has one).
    """
    value = state[0]
    curvature = state[2] is not None
    t = np.ones(step.shape[1])
    candidate = thetas + step
    new_state = list(problem.evaluate(candidate, columns, curvature))
    parts = range(3 if curvature else 2)
    for _ in range(30):
        worse = np.flatnonzero(~_no_worse(new_state[0], value))
        if not len(worse):
            break
        t[worse] *= 0.5
        candidate[:, worse] = thetas[:, worse] + t[worse] * step[:, worse]
        update = problem.evaluate(
            candidate[:, worse], worse if columns is None else columns[worse], curvature
        )
        for i in parts:
            new_state[i][..., worse] = update[i]
    failed = np.flatnonzero(~_no_worse(new_state[0], value))
    t[failed] = 0.0
    candidate[:, failed] = thetas[:, failed]
    for i in parts:
        new_state[i][..., failed] = state[i][..., failed]
    return candidate, tuple(new_state), t


def _batched_newton(problem: Problem, thetas: np.ndarray) -> np.ndarray:
    outer = problem.design.outer_products()
    p = problem.design.n_params
    active = np.arange(thetas.shape[1])
    state = problem.evaluate(thetas, active)
    for _ in range(NEWTON_MAX_ITER):
        _, grad, curvature = state
        hessians = (outer @ curvature).T.reshape(-1, p, p)
        hessians[:, np.arange(p), np.arange(p)] += problem.prior
        step = np.linalg.solve(hessians, grad.T[..., None])[..., 0].T
        thetas[:, active], state, t = _backtrack(problem, thetas[:, active], step, state, active)
        going = np.max(np.abs(t * step), axis=0, initial=0.0) >= BOOTSTRAP_TOL
        active = active[going]
        if not len(active):
            break
        state = tuple(part[..., going] for part in state)
    return thetas


def _chord_steps(problem: Problem, thetas: np.ndarray, solver: Solver) -> np.ndarray:
    state = problem.evaluate(thetas, curvature=False)
    for _ in range(APPROXIMATE_STEPS):
        thetas, state, _ = _backtrack(problem, thetas, solver.solve(state[1]), state, None)
    return thetas
