"""The sparse Bradley-Terry fit against the dense one it replaced (tests/moral_graph/bradley_terry_dense.py)."""

import numpy as np
import pytest

from moral_graph import bradley_terry, ranking
from moral_graph.ranking import NOT_WISER, UNSURE, WISER, rank_context

from . import bradley_terry_dense as dense


def _graph(kind: str, n_values: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Compared pairs: a ring with neighbours up to 3 apart, random pairs, or two rings with no pair between them."""
    if kind == "ring":
        a = np.tile(np.arange(n_values), 3)
        return a, (a + np.repeat([1, 2, 3], n_values)) % n_values
    if kind == "random":
        a = rng.integers(0, n_values, 6 * n_values)
        return a, (a + rng.integers(1, n_values, len(a))) % n_values
    half = n_values // 2
    a = np.tile(np.arange(half), 2)
    b = (a + np.repeat([1, 2], half)) % half
    return np.concatenate([a, a + half]), np.concatenate([b, b + half])


def _problem(kind, n_values, batch, seed, acquiescence, module=bradley_terry):
    rng = np.random.default_rng(seed)
    src, dst = _graph(kind, n_values, rng)
    design = module.Design(n_values, src, dst, acquiescence=acquiescence)
    trials = rng.integers(0, 15, (len(src), batch)).astype(float)
    wins = np.floor(trials * rng.random((len(src), batch)))
    wins[::7] = trials[::7]  # unanimous stories
    wins[3::11] = 0.0
    prior = np.full(design.n_params, 0.1)
    full = module.Problem(design, wins.mean(axis=1), trials.mean(axis=1), prior)
    return module.Problem(design, wins, trials, prior), full


@pytest.mark.parametrize("kind", ["ring", "random", "disconnected"])
@pytest.mark.parametrize("acquiescence", [False, True])
@pytest.mark.parametrize("direct", [True, False])
def test_fit_and_chord_steps_equal_the_dense_ones(monkeypatch, kind, acquiescence, direct):
    # direct=False forces conjugate gradients even where the factor would be cheap.
    monkeypatch.setattr(bradley_terry, "ENVELOPE_FACTOR", 10**9 if direct else -1)
    resampled, full = _problem(kind, 80, 12, seed=3, acquiescence=acquiescence)
    reference_resampled, reference_full = _problem(
        kind, 80, 12, seed=3, acquiescence=acquiescence, module=dense
    )
    theta, solver = bradley_terry.fit(full)
    reference_theta, reference_solver = dense.fit(reference_full)
    assert (solver.lu is not None) is direct
    assert np.abs(theta - reference_theta).max() < 1e-9
    start = np.repeat(theta[:, None], 12, axis=1)
    chord = bradley_terry._chord_steps(resampled, start, solver)
    reference_chord = dense._chord_steps(reference_resampled, start.copy(), reference_solver)
    assert np.abs(chord - reference_chord).max() < 1e-8
    assert np.abs(chord - theta[:, None]).max() > 1e-3  # the resamples did move


def test_a_ring_is_factorised_and_random_pairs_go_to_conjugate_gradients():
    # A small context is factorised whatever its pairs (its envelope is small next to its nonzeros).
    rng = np.random.default_rng(0)
    ring = bradley_terry.Pattern.of(bradley_terry.Design(400, *_graph("ring", 400, rng), acquiescence=True))
    scattered = bradley_terry.Pattern.of(
        bradley_terry.Design(3000, *_graph("random", 3000, rng), acquiescence=False)
    )
    assert ring.direct and not scattered.direct
    assert ring.order[-1] == 400  # the acquiescence term, whose row is full, comes last


@pytest.mark.parametrize("acquiescence", [False, True])
def test_normal_draws_through_the_sparse_factor_have_the_inverse_hessian_as_covariance(acquiescence):
    # With z the identity the draws are the square root S itself: S S' must be H^-1 (the Laplace covariance).
    _, full = _problem("ring", 120, 1, seed=6, acquiescence=acquiescence)
    theta = np.random.default_rng(7).normal(scale=0.5, size=full.design.n_params)
    curvature = full.evaluate(theta)[2]
    root = bradley_terry.normal_draws(full.design, full.prior, curvature, np.eye(full.design.n_params))
    a = full.matrix.toarray()
    inverse = np.linalg.inv(a.T @ np.diag(curvature) @ a + np.diag(full.prior))
    assert np.abs(root @ root.T - inverse).max() < 1e-10 * np.abs(inverse).max()
    assert not np.allclose(root, np.tril(root)) and not np.allclose(
        root, np.triu(root)
    )  # in the values' order


def test_normal_draws_decline_a_pattern_whose_factor_would_fill():
    rng = np.random.default_rng(8)
    design = bradley_terry.Design(3000, *_graph("random", 3000, rng), acquiescence=False)
    prior = np.full(3000, 0.1)
    assert bradley_terry.normal_draws(design, prior, np.ones(len(design.src)), np.ones((3000, 2))) is None


def test_conjugate_gradients_solve_every_column():
    _, full = _problem("random", 60, 1, seed=4, acquiescence=False)
    h = full.hessian(full.evaluate(np.zeros(60))[2])
    rhs = np.random.default_rng(5).normal(size=(60, 9))
    rhs[:, 4] = 0.0
    solution = bradley_terry._conjugate_gradients(h, rhs, 1.0 / h.diagonal())
    assert np.abs(h @ solution - rhs).max() < 1e-9
    assert not solution[:, 4].any()


def _context(kind: str, n_values: int, n_voters: int, seed: int) -> dict:
    """A context on the given graph, voters with a few votes each, answers leaning towards higher ids."""
    rng = np.random.default_rng(seed)
    a, b = _graph(kind, n_values, rng)
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    per_voter = 3
    story = rng.integers(0, len(src), n_voters * per_voter)
    up = dst[story] > src[story]
    draw = rng.random(len(story))
    answer = np.where(draw < np.where(up, 0.65, 0.3), WISER, np.where(draw < 0.85, NOT_WISER, UNSURE))
    unanimous = story % 13 == 0
    answer[unanimous] = WISER
    return {
        "value_ids": (np.arange(n_values) * 3 + 5).tolist(),
        "voter": np.repeat(np.arange(n_voters), per_voter) * 7 + 1,
        "src": src[story] * 3 + 5,
        "dst": dst[story] * 3 + 5,
        "answer": answer,
    }


@pytest.mark.parametrize("method", ["bt", "bt_acquiescence", "bt_unsure_tie"])
@pytest.mark.parametrize("kind", ["ring", "random", "disconnected"])
def test_rank_context_gives_the_dense_fits_results(monkeypatch, method, kind):
    context = _context(kind, 90, 900, seed=11)  # above EXACT_LIMIT: chord steps
    result = rank_context(**context, method=method, n_boot=40, seed=2)
    monkeypatch.setattr(ranking, "bradley_terry", dense)
    reference = rank_context(**context, method=method, n_boot=40, seed=2)
    rows = {row["valueId"]: row for row in result["values"]}
    for expected in reference["values"]:
        row = rows[expected["valueId"]]
        assert row["score"] == pytest.approx(expected["score"], rel=1e-6, abs=1e-12)
        assert row["scoreInterval"] == pytest.approx(expected["scoreInterval"], rel=1e-6, abs=1e-12)
        assert row["pTop"] == pytest.approx(expected["pTop"], abs=1e-9)
    assert [r["valueId"] for r in result["values"]] == [r["valueId"] for r in reference["values"]]
    assert result["support"] == reference["support"]


def test_the_posterior_root_changes_the_draws_not_the_fit_and_is_recorded():
    # 90 values on a ring: above the exact limit, the normal draws go through the sparse factor by default; the
    # dense root reproduces the draws of runs made before it (decision 47).
    context = _context("ring", 90, 900, seed=13)
    factor = rank_context(**context, n_boot=40, seed=3)
    dense_root = rank_context(**context, n_boot=40, seed=3, posterior_root="dense")
    again = rank_context(**context, n_boot=40, seed=3, posterior_root="dense")
    assert (
        factor["parameters"]["posteriorRoot"] == "factor"
        and dense_root["parameters"]["posteriorRoot"] == "dense"
    )
    assert [(r["valueId"], r["score"]) for r in factor["values"]] == [
        (r["valueId"], r["score"]) for r in dense_root["values"]
    ]
    assert [r["scoreInterval"] for r in factor["values"]] != [
        r["scoreInterval"] for r in dense_root["values"]
    ]
    assert again["values"] == dense_root["values"]
    with pytest.raises(ValueError, match="posterior root"):
        rank_context(**context, n_boot=4, posterior_root="cholesky")


def test_a_warm_start_gives_the_same_result_in_fewer_newton_steps(monkeypatch):
    context = _context("ring", 90, 900, seed=12)
    cold = rank_context(**context, n_boot=20, seed=3)
    previous = {row["valueId"]: row["score"] for row in cold["values"]}
    steps = []
    original = bradley_terry.Solver

    def counted(*args, **kwargs):
        steps.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(bradley_terry, "Solver", counted)
    rank_context(**context, n_boot=20, seed=3)
    cold_steps, steps[:] = len(steps), []
    warm = rank_context(**context, n_boot=20, seed=3, initial_scores=previous)
    assert len(steps) < cold_steps
    for expected, row in zip(cold["values"], warm["values"], strict=True):
        assert row["valueId"] == expected["valueId"]
        assert row["score"] == pytest.approx(expected["score"], rel=1e-8)
        assert row["scoreInterval"] == pytest.approx(expected["scoreInterval"], rel=1e-8)


def test_a_warm_start_from_anywhere_reaches_the_same_optimum():
    _, full = _problem("disconnected", 40, 1, seed=6, acquiescence=True)
    theta = bradley_terry.fit(full)[0]
    far = np.random.default_rng(7).normal(0.0, 5.0, full.design.n_params)
    assert np.abs(bradley_terry.fit(full, far)[0] - theta).max() < 1e-9
    with pytest.raises(ValueError, match="finite numbers"):
        bradley_terry.fit(full, np.zeros(3))
