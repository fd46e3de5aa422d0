"""The moral graph as a networkx DiGraph: a node per value, an edge per directed pair (for GraphML export).

Attributes are flat scalars (GraphML holds no lists, dicts or None): an edge carries its counts,
MAI's summary, maiKept and, when known, its bridging score; a node carries its ranking when given.
"""

import json
from collections.abc import Iterable

import networkx as nx
import numpy as np

from moral_graph.numeric import significant
from moral_graph.ranking import edge_statistics

COUNT_KEYS = ("markedWiser", "markedNotWiser", "markedUnsure", "markedLessWise", "impressions")
SUMMARY_KEYS = ("wiserLikelihood", "entropy", "maiEntropy", "wilsonLower")


def _node_attributes(row: dict) -> dict:
    return {
        "score": row["score"],
        "scoreLow": row["scoreInterval"][0],
        "scoreHigh": row["scoreInterval"][1],
        "rank": row["rank"],
        "rankLow": row["rankInterval"][0],
        "rankHigh": row["rankInterval"][1],
        "pTop": row["pTop"],
        "nVotes": row["nVotes"],
    }


def _edge_attributes(edge: dict) -> dict:
    attributes = {key: int(edge["counts"][key]) for key in COUNT_KEYS}
    attributes.update({key: float(edge["summary"][key]) for key in SUMMARY_KEYS if key in edge["summary"]})
    attributes["maiKept"] = bool(edge.get("maiKept", False))
    if edge.get("bridging") is not None:
        attributes["bridging"] = float(edge["bridging"])
    if edge.get("groups"):
        attributes["groups"] = json.dumps(edge["groups"], sort_keys=True)
    return attributes


def build_graph(value_ids: Iterable[int], edges: list[dict], values: list[dict] | None = None) -> nx.DiGraph:
    """One context's moral graph from rank_context's edges (and, optionally, its ranked values)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted({int(v) for v in value_ids}))
    for row in sorted(values or [], key=lambda r: r["valueId"]):
        graph.add_node(int(row["valueId"]), **_node_attributes(row))
    for edge in sorted(edges, key=lambda e: (e["sourceValueId"], e["wiserValueId"])):
        graph.add_edge(int(edge["sourceValueId"]), int(edge["wiserValueId"]), **_edge_attributes(edge))
    return graph


def pooled_graph(per_context: dict[str, list[dict]], value_ids: Iterable[int] = ()) -> nx.DiGraph:
    """One graph over several contexts: counts summed per directed pair, summary recomputed from the sums.

    Each edge lists its contexts (a JSON array, sorted) and how many there are; bridging is not
    pooled, since it needs each group's distinct voters.
    """
    totals: dict[tuple[int, int], list[int]] = {}
    contexts: dict[tuple[int, int], set[str]] = {}
    for context, edges in per_context.items():
        for edge in edges:
            pair = (int(edge["sourceValueId"]), int(edge["wiserValueId"]))
            counts = totals.setdefault(pair, [0] * len(COUNT_KEYS))
            for i, key in enumerate(COUNT_KEYS):
                counts[i] += int(edge["counts"][key])
            contexts.setdefault(pair, set()).add(str(context))
    pairs = sorted(totals)
    counts = np.array([totals[pair] for pair in pairs], dtype=np.int64).reshape(-1, len(COUNT_KEYS))
    stats = edge_statistics(counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3], counts[:, 4])
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted({int(v) for v in value_ids} | {v for pair in pairs for v in pair}))
    for i, pair in enumerate(pairs):
        attributes = {key: int(counts[i, j]) for j, key in enumerate(COUNT_KEYS)}
        attributes.update({key: significant(stats[key][i]) for key in SUMMARY_KEYS})
        attributes["maiKept"] = bool(stats["maiKept"][i])
        attributes["contexts"] = json.dumps(sorted(contexts[pair]))
        attributes["nContexts"] = len(contexts[pair])
        graph.add_edge(*pair, **attributes)
    return graph
