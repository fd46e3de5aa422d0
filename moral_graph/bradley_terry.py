"""Bradley–Terry fit of wiser votes with a weak Gaussian prior, and its bootstrap over many reweightings.

Parameters are one wisdom level per value plus, optionally, one acquiescence term: the pull towards
answering "wiser" whatever the story. A story src -> dst is a row of the design matrix with +1 on dst,
-1 on src and +1 on the acquiescence term; "wiser" is a win for that row, "not wiser" a loss.
"""

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

DENSE_LIMIT = 3000
NEWTON_TOL = 1e-10
NEWTON_MAX_ITER = 100
DELTA_CLIP = 500.0


def design(n_values: int, src: np.ndarray, dst: np.ndarray, *, acquiescence: bool) -> sp.csr_matrix:
    """Sparse stories x parameters matrix: +1 on the destination, -1 on the source, +1 on acquiescence."""
    n_stories = len(src)
    rows = np.arange(n_stories)
    parts_rows, parts_cols, parts_vals = [rows, rows], [dst, src], [np.ones(n_stories), -np.ones(n_stories)]
    if acquiescence:
        parts_rows.append(rows)
        parts_cols.append(np.full(n_stories, n_values))
        parts_vals.append(np.ones(n_stories))
    n_params = n_values + int(acquiescence)
    return sp.csr_matrix(
        (np.concatenate(parts_vals), (np.concatenate(parts_rows), np.concatenate(parts_cols))),
        shape=(n_stories, n_params),
    )


def log_posterior(
    a: sp.csr_matrix, wins: np.ndarray, trials: np.ndarray, prior: np.ndarray, theta: np.ndarray
):
    """Penalised log-likelihood of theta (params, or params x batch) given wins out of trials per story."""
    delta = np.clip(a @ theta, -DELTA_CLIP, DELTA_CLIP)
    loglik = wins * delta - trials * np.logaddexp(0.0, delta)
    prior_term = 0.5 * (prior.reshape((-1,) + (1,) * (theta.ndim - 1)) * theta**2)
    return loglik.sum(axis=0) - prior_term.sum(axis=0)


def _gradient_and_curvature(a, wins, trials, prior, theta):
    delta = np.clip(a @ theta, -DELTA_CLIP, DELTA_CLIP)
    p = 0.5 * (1.0 + np.tanh(0.5 * delta))
    prior_b = prior.reshape((-1,) + (1,) * (theta.ndim - 1))
    grad = a.T @ (wins - trials * p) - prior_b * theta
    return grad, trials * p * (1.0 - p)


def hessian(a: sp.csr_matrix, curvature: np.ndarray, prior: np.ndarray) -> sp.csr_matrix:
    """Negative Hessian of the log posterior: A' diag(curvature) A + diag(prior), sparse."""
    return (a.T @ sp.diags(curvature) @ a + sp.diags(prior)).tocsr()


class Solver:
    """Solves H x = b for a fixed symmetric positive definite H, for one or many right-hand sides."""

    def __init__(self, h: sp.csr_matrix):
        self.dense = h.shape[0] <= DENSE_LIMIT
        if self.dense:
            self.inverse = sla.cho_solve(sla.cho_factor(h.toarray()), np.eye(h.shape[0]))
        else:
            self.lu = spla.splu(h.tocsc())
        self.diagonal = h.diagonal()

    def solve(self, b: np.ndarray) -> np.ndarray:
        """H^-1 b."""
        if self.dense:
            return self.inverse @ b
        return self.lu.solve(b)


def fit(
    a: sp.csr_matrix, wins: np.ndarray, trials: np.ndarray, prior: np.ndarray
) -> tuple[np.ndarray, Solver]:
    """Maximum a posteriori parameters by damped Newton, and a solver for the Hessian at the optimum."""
    theta = np.zeros(a.shape[1])
    value = log_posterior(a, wins, trials, prior, theta)
    for _ in range(NEWTON_MAX_ITER):
        grad, curvature = _gradient_and_curvature(a, wins, trials, prior, theta)
        h = hessian(a, curvature, prior)
        step = (
            spla.spsolve(h.tocsc(), grad)
            if h.shape[0] > DENSE_LIMIT
            else sla.solve(h.toarray(), grad, assume_a="pos")
        )
        t = 1.0
        while True:
            candidate = theta + t * step
            new_value = log_posterior(a, wins, trials, prior, candidate)
            if new_value >= value or t < 1e-6:
                break
            t *= 0.5
        theta, value = candidate, new_value
        if np.max(np.abs(t * step), initial=0.0) < NEWTON_TOL:
            break
    _, curvature = _gradient_and_curvature(a, wins, trials, prior, theta)
    return theta, Solver(hessian(a, curvature, prior))


def bootstrap(
    a: sp.csr_matrix,
    wins: np.ndarray,
    trials: np.ndarray,
    prior: np.ndarray,
    theta: np.ndarray,
    solver: Solver,
    *,
    steps: int = 3,
) -> np.ndarray:
    """Refit under each column of reweighted wins/trials (stories x batch), starting from theta.

    Each step is a Newton step whose Hessian is the full-data one rescaled, per resample, by the
    ratio of its diagonal to the full-data diagonal: one dense solve serves every resample, and the
    rescaling absorbs most of the difference between resamples (values whose voters were drawn
    twice or not at all). The first step alone is the score bootstrap.
    """
    batch = wins.shape[1]
    thetas = np.repeat(theta[:, None], batch, axis=1)
    for _ in range(steps):
        grad, _ = _gradient_and_curvature(a, wins, trials, prior, thetas)
        step = solver.solve(grad)
        thetas = thetas + step
        if np.max(np.abs(step), initial=0.0) < NEWTON_TOL:
            break
    return thetas
