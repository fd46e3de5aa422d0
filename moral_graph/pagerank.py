"""Weighted PageRank by scipy.sparse power iteration, single graph or many weightings at once.

Dangling nodes (no out-edge with positive weight: in a moral graph, the wisest values) give their
score to every node uniformly, as networkx does by default; so the scores always sum to one.
"""

import numpy as np
import scipy.sparse as sp

DAMPING = 0.85
TOL = 1e-10
MAX_ITER = 1000


def pagerank(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    *,
    damping: float = DAMPING,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
) -> np.ndarray:
    """PageRank of n nodes over weighted edges src -> dst, uniform start and teleport; sums to one."""
    w = np.asarray(weight, dtype=np.float64).reshape(-1, 1)
    return pagerank_batch(n, src, dst, w, damping=damping, tol=tol, max_iter=max_iter)[:, 0]


def pagerank_batch(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray,
    *,
    damping: float = DAMPING,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """PageRank of the same edge list under each column of weights (edges x batch); returns n x batch.

    active (n x batch, optional) restricts a column to a subgraph: inactive nodes must have no edge
    of positive weight, get no teleport nor dangling share, and score 0.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    weights = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    n_edges, batch = weights.shape
    if n == 0:
        return np.zeros((0, batch))
    by_source = sp.csr_matrix((np.ones(n_edges), (src, np.arange(n_edges))), shape=(n, n_edges))
    out_weight = by_source @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(weights > 0, weights / out_weight[src], 0.0)
    dangling = (out_weight <= 0).T
    offsets = np.arange(batch, dtype=np.int64) * n
    rows = (offsets[:, None] + dst[None, :]).ravel()
    cols = (offsets[:, None] + src[None, :]).ravel()
    values = share.T.ravel()
    keep = values > 0
    transition = sp.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=(n * batch, n * batch))
    active = np.ones((batch, n)) if active is None else np.asarray(active, dtype=np.float64).T
    teleport = active / np.maximum(active.sum(axis=1, keepdims=True), 1.0)
    x = teleport.copy()
    for _ in range(max_iter):
        leaked = (x * dangling).sum(axis=1, keepdims=True)
        flow = (transition @ x.ravel()).reshape(batch, n)
        x_next = damping * flow + (damping * leaked + 1.0 - damping) * teleport
        change = np.abs(x_next - x).sum(axis=1)
        x = x_next
        if np.all(change < n * tol):
            break
    return (x / np.maximum(x.sum(axis=1, keepdims=True), np.finfo(float).tiny)).T
