"""PageRank against networkx, and the moral graph as networkx (one context, pooled, GraphML)."""

import io
import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moral_graph.graph import build_graph, pooled_graph
from moral_graph.pagerank import pagerank, pagerank_batch
from moral_graph.ranking import WISER, rank_context


@st.composite
def weighted_graphs(draw):
    """A small directed graph without parallel edges or self-loops; some nodes dangling or isolated."""
    n = draw(st.integers(1, 12))
    pairs = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    pairs = sorted((s, d) for s, d in pairs if s != d)
    weights = draw(st.lists(st.floats(0.05, 5.0), min_size=len(pairs), max_size=len(pairs)))
    src = np.array([s for s, _ in pairs], dtype=np.int64)
    dst = np.array([d for _, d in pairs], dtype=np.int64)
    return n, src, dst, np.array(weights)


@settings(max_examples=60, deadline=None)
@given(graph=weighted_graphs())
def test_pagerank_agrees_with_networkx_and_sums_to_one(graph):
    n, src, dst, weight = graph
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True))
    expected = nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-10, max_iter=10_000)
    ours = pagerank(n, src, dst, weight)
    assert ours == pytest.approx([expected[i] for i in range(n)], abs=1e-8)
    assert ours.sum() == pytest.approx(1.0, abs=1e-9)


def test_dangling_winners_share_their_score_instead_of_leaking_it():
    # A chain 0 -> 1 -> 2: node 2 (the wisest) has no out-edge.
    scores = pagerank(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 1.0]))
    assert scores.sum() == pytest.approx(1.0)
    assert scores[2] > scores[1] > scores[0]
    # Without redistribution node 2 would keep (1 - d)/n + d * scores[1] only and the total would fall below 1.
    assert scores[0] == pytest.approx((0.15 + 0.85 * scores[2]) / 3)


def test_batch_columns_equal_single_runs_and_inactive_nodes_score_zero():
    src, dst = np.array([0, 1, 2, 3]), np.array([1, 2, 0, 2])
    weights = np.array([[1.0, 0.5], [2.0, 0.0], [0.3, 1.0], [1.0, 0.0]])
    batch = pagerank_batch(4, src, dst, weights)
    for b in range(2):
        assert batch[:, b] == pytest.approx(pagerank(4, src, dst, weights[:, b]), abs=1e-9)
    active = np.array([[True, True], [True, True], [True, True], [True, False]])
    masked = pagerank_batch(4, src, dst, weights, active=active)
    assert masked[3, 1] == 0.0
    assert masked[:3, 1] == pytest.approx(pagerank(3, src[:3], dst[:3], weights[:3, 1]), abs=1e-9)
    assert masked[:, 0] == pytest.approx(batch[:, 0], abs=1e-9)


def _ranked():
    votes = (
        [(v, 1, 3, WISER) for v in range(6)] + [(v, 2, 3, WISER) for v in range(6, 9)] + [(9, 3, 1, WISER)]
    )
    voter, src, dst, answer = (np.array(column) for column in zip(*votes, strict=True))
    groups = {"party": np.array(["a", "b"] * 5, dtype=object)}
    return rank_context(
        value_ids=[1, 2, 3, 4],
        voter=voter,
        src=src,
        dst=dst,
        answer=answer,
        n_boot=20,
        voter_groups=groups,
        min_group_voters=1,
    )


def test_build_graph_has_a_node_per_value_and_an_edge_per_pair():
    result = _ranked()
    graph = build_graph([1, 2, 3, 4], result["edges"], result["values"])
    assert sorted(graph.nodes) == [1, 2, 3, 4]
    assert sorted(graph.edges) == [(1, 3), (2, 3), (3, 1)]
    edge = graph.edges[1, 3]
    assert edge["markedWiser"] == 6 and edge["markedLessWise"] == 1 and edge["impressions"] == 6
    assert edge["wiserLikelihood"] == pytest.approx(5 / 7)
    assert edge["maiKept"] is True
    assert json.loads(edge["groups"]) == {
        "party": {"a": {"share": 1.0, "votes": 3, "wiser": 3}, "b": {"share": 1.0, "votes": 3, "wiser": 3}}
    }
    assert graph.nodes[3]["rank"] == 1 and graph.nodes[4]["nVotes"] == 0
    buffer = io.BytesIO()
    nx.write_graphml(graph, buffer)
    buffer.seek(0)
    back = nx.read_graphml(buffer, node_type=int)
    assert back.edges[1, 3]["markedWiser"] == 6 and back.nodes[3]["score"] == graph.nodes[3]["score"]


def test_pooled_graph_sums_counts_and_recomputes_the_summary():
    first = _ranked()["edges"]
    second = [
        {
            "sourceValueId": 1,
            "wiserValueId": 3,
            "counts": {
                "markedWiser": 0,
                "markedNotWiser": 4,
                "markedUnsure": 0,
                "markedLessWise": 0,
                "impressions": 4,
            },
            "summary": {},
        }
    ]
    graph = pooled_graph({"When in distress": first, "When deciding": second}, value_ids=[7])
    edge = graph.edges[1, 3]
    assert (edge["markedWiser"], edge["markedNotWiser"], edge["markedLessWise"], edge["impressions"]) == (
        6,
        4,
        1,
        10,
    )
    assert edge["wiserLikelihood"] == pytest.approx(5 / 11)
    assert json.loads(edge["contexts"]) == ["When deciding", "When in distress"] and edge["nContexts"] == 2
    assert graph.edges[2, 3]["nContexts"] == 1
    assert 7 in graph.nodes
    nx.write_graphml(graph, io.BytesIO())
