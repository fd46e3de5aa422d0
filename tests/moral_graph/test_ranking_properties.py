"""Property tests of rank_context: invariants that must hold for any votes, for every method."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moral_graph.ranking import ALL_METHODS, WISER, rank_context

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def contexts(draw, max_values=6, max_votes=40):
    """A context: distinct value ids and per-vote arrays over them."""
    k = draw(st.integers(2, max_values))
    value_ids = draw(st.lists(st.integers(1, 10_000), min_size=k, max_size=k, unique=True))
    n = draw(st.integers(0, max_votes))
    votes = draw(
        st.lists(
            st.tuples(st.integers(0, 12), st.integers(0, k - 1), st.integers(1, k - 1), st.integers(0, 2)),
            min_size=n,
            max_size=n,
        )
    )
    voter = np.array([v for v, _, _, _ in votes], dtype=np.int64)
    src_index = np.array([s for _, s, _, _ in votes], dtype=np.int64)
    dst_index = (src_index + np.array([d for _, _, d, _ in votes], dtype=np.int64)) % k
    ids = np.array(value_ids, dtype=np.int64)
    return {
        "value_ids": value_ids,
        "voter": voter,
        "src": ids[src_index] if n else np.zeros(0, np.int64),
        "dst": ids[dst_index] if n else np.zeros(0, np.int64),
        "answer": np.array([a for _, _, _, a in votes], dtype=np.int64),
    }


def _rank(context, method, **kwargs):
    return rank_context(**context, method=method, n_boot=kwargs.pop("n_boot", 10), **kwargs)


@pytest.mark.parametrize("method", ALL_METHODS)
@SETTINGS
@given(context=contexts())
def test_scores_are_finite_non_negative_and_sum_to_one(method, context):
    result = _rank(context, method)
    scores = np.array([row["score"] for row in result["values"]])
    assert np.all(np.isfinite(scores)) and np.all(scores >= 0)
    assert scores.sum() == pytest.approx(1.0, abs=1e-8)
    for row in result["values"]:
        low, high = row["scoreInterval"]
        assert 0.0 <= low <= row["score"] <= high <= 1.0 + 1e-9
        assert (
            1 <= row["rankInterval"][0] <= row["rank"] <= row["rankInterval"][1] <= len(context["value_ids"])
        )
        assert 0.0 <= row["pTop"] <= 1.0
    assert [row["rank"] for row in result["values"]] == sorted(row["rank"] for row in result["values"])
    assert sum(row["pTop"] for row in result["values"]) == pytest.approx(
        1.0 if len(context["answer"]) else 0.0
    )


@pytest.mark.parametrize("method", ["bt", "bt_unsure_tie"])
@SETTINGS
@given(context=contexts(), target=st.integers(0, 5), origin=st.integers(0, 5), extra=st.integers(1, 5))
def test_unanimous_wiser_votes_never_lower_the_destination(method, context, target, origin, extra):
    ids = context["value_ids"]
    b = ids[target % len(ids)]
    voted = sorted(set(context["src"].tolist()) | set(context["dst"].tolist()))
    # A value's first vote brings it into the pool of shares; X must already be in it to isolate the effect.
    origins = [v for v in (voted or ids) if v != b]
    x = origins[origin % len(origins)]
    before = {row["valueId"]: row["score"] for row in _rank(context, method, n_boot=1)["values"]}
    more = dict(context)
    more["voter"] = np.concatenate([context["voter"], np.arange(1000, 1000 + extra)])
    more["src"] = np.concatenate([context["src"], np.full(extra, x)])
    more["dst"] = np.concatenate([context["dst"], np.full(extra, b)])
    more["answer"] = np.concatenate([context["answer"], np.full(extra, WISER)])
    after = {row["valueId"]: row["score"] for row in _rank(more, method, n_boot=1)["values"]}
    assert after[b] >= before[b] - 1e-9


def _by_value(result: dict) -> dict[int, dict]:
    return {row["valueId"]: row for row in result["values"]}


@pytest.mark.parametrize("method", ALL_METHODS)
@SETTINGS
@given(context=contexts(), order_seed=st.integers(0, 2**32 - 1))
def test_the_order_of_votes_does_not_matter(method, context, order_seed):
    order = np.random.default_rng(order_seed).permutation(len(context["answer"]))
    shuffled = {key: (value[order] if key != "value_ids" else value[::-1]) for key, value in context.items()}
    groups = {"g": np.where(context["voter"] % 2 == 0, "even", "odd").astype(object)}
    shuffled_groups = {"g": groups["g"][order]}
    result = _rank(context, method, voter_groups=groups, min_group_voters=1)
    again = _rank(shuffled, method, voter_groups=shuffled_groups, min_group_voters=1)
    assert again == result


@pytest.mark.parametrize("method", ALL_METHODS)
@SETTINGS
@given(context=contexts(), relabel_seed=st.integers(0, 2**32 - 1))
def test_relabelling_values_changes_nothing_but_the_labels(method, context, relabel_seed):
    """Scores for any relabelling. Intervals and P(top) exactly only for a relabelling that keeps the values' order:
    the seeded resamples and posterior draws are assigned in the values' order, so another order gives other
    draws (the same distribution, not the same numbers; found by Hypothesis with bt_acquiescence)."""
    ids = context["value_ids"]
    new_ids = np.random.default_rng(relabel_seed).choice(50_000, size=len(ids), replace=False) + 20_000
    mapping = dict(zip(ids, new_ids.tolist(), strict=True))
    _check_relabelled(method, context, mapping, draws_kept=False)
    # The same new labels given in the old labels' order.
    mapping = dict(zip(sorted(ids), sorted(new_ids.tolist()), strict=True))
    _check_relabelled(method, context, mapping, draws_kept=True)


def _check_relabelled(method, context, mapping, *, draws_kept):
    ids = context["value_ids"]
    relabel = np.vectorize(mapping.get, otypes=[np.int64])
    relabelled = dict(context, value_ids=[mapping[v] for v in ids])
    if len(context["answer"]):
        relabelled.update(src=relabel(context["src"]), dst=relabel(context["dst"]))
    original = _by_value(_rank(context, method))
    renamed = _by_value(_rank(relabelled, method))
    for value_id, row in original.items():
        other = renamed[mapping[value_id]]
        assert other["score"] == pytest.approx(row["score"], abs=1e-8)
        assert other["nVotes"] == row["nVotes"]
        if draws_kept:
            assert other["pTop"] == pytest.approx(row["pTop"], abs=1e-9)
            assert other["scoreInterval"] == pytest.approx(row["scoreInterval"], abs=1e-8)


@pytest.mark.parametrize("method", ["bt", "mai_pagerank"])
@SETTINGS
@given(context=contexts(), seed=st.integers(0, 2**31))
def test_same_inputs_and_seed_give_an_identical_result(method, context, seed):
    assert _rank(context, method, seed=seed) == _rank(context, method, seed=seed)
