"""The dense Bradley–Terry fit that moral_graph.bradley_terry replaced (issue 16), kept as the tests' reference.

The module as it was (fit only gained the initial parameters of the warm start): a dense Hessian up to DENSE_LIMIT parameters, its inverse for the chord steps.
The tests run rank_context with this module in place of the sparse one and compare the results.

Parameters are one wisdom level per value plus, optionally, one acquiescence term: the pull towards
answering "wiser" whatever the story. For a story src -> dst the log-odds of "wiser" are
wisdom[dst] - wisdom[src] + acquiescence; "wiser" is a win for the story, "not wiser" a loss.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

DENSE_LIMIT = 3000
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
        np.copyto(small, 1.0, where=delta >= 0)
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
    def _entries(self):
        return self.design.hessian_entries()

    def hessian(self, curvature: np.ndarray):
        """Negative Hessian for one column, A' diag(curvature) A + diag(prior): dense up to DENSE_LIMIT."""
        p = self.design.n_params
        if p > DENSE_LIMIT:
            return (self.transposed @ sp.diags(curvature) @ self.matrix + sp.diags(self.prior)).tocsc()
        flat, story, sign = self._entries
        h = np.bincount(flat, weights=sign * curvature[story], minlength=p * p).reshape(p, p)
        h[np.arange(p), np.arange(p)] += self.prior
        return h


class Solver:
    """Solves H x = b for one symmetric positive definite H (dense array or sparse), for many right-hand sides."""

    def __init__(self, h):
        if sp.issparse(h):
            self.cholesky, self.lu = None, spla.splu(h.tocsc())
        else:
            self.cholesky, self.lu = sla.cho_factor(h), None

    def solve(self, b: np.ndarray) -> np.ndarray:
        """H^-1 b."""
        return self.lu.solve(b) if self.cholesky is None else sla.cho_solve(self.cholesky, b)

    @cached_property
    def _inverse(self) -> np.ndarray:
        factor, lower = self.cholesky
        inverse, info = sla.lapack.dpotri(factor, lower=lower)
        if info != 0:
            raise np.linalg.LinAlgError("the Hessian's Cholesky factor is singular")
        triangle = np.tril(inverse) if lower else np.triu(inverse)
        return triangle + triangle.T - np.diag(np.diag(triangle))

    def solve_repeatedly(self, b: np.ndarray) -> np.ndarray:
        """H^-1 b, for a solver used several times over many columns: dense H is inverted once.

        OpenBLAS's triangular solves with hundreds of right-hand sides run at a quarter of the speed of
        a matrix product, so five chord steps cost less with the inverse (it agrees to about 1e-15).
        """
        return self.lu.solve(b) if self.cholesky is None else self._inverse @ b


def _no_worse(new_value, value):
    """new_value is not below value beyond rounding (so the last, tiny Newton steps are not refused)."""
    return new_value >= value - 1e-12 * np.maximum(1.0, np.abs(value))


def fit(problem: Problem, initial: np.ndarray | None = None) -> tuple[np.ndarray, Solver]:
    """Maximum a posteriori parameters by Newton's method with backtracking, and the Hessian's solver there.

    The solver returned is the last Newton step's, at an iterate within NEWTON_TOL of the optimum.
    """
    theta = np.zeros(problem.design.n_params) if initial is None else np.array(initial, dtype=np.float64)
    value, grad, curvature = problem.evaluate(theta)
    for _ in range(NEWTON_MAX_ITER):
        solver = Solver(problem.hessian(curvature))
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
    APPROXIMATE_STEPS steps along H0^-1 g with H0 the full-data Hessian (one dense solve serves all
    resamples; the first step alone is the score bootstrap).
    """
    thetas = np.repeat(theta[:, None], problem.wins.shape[1], axis=1)
    if problem.design.n_values <= EXACT_LIMIT:
        return _batched_newton(problem, thetas)
    return _chord_steps(problem, thetas, solver)


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
        thetas, state, _ = _backtrack(problem, thetas, solver.solve_repeatedly(state[1]), state, None)
    return thetas
