"""A layered drawing of one context's moral graph: wiser values above the values people moved away from (pure).

The edges a majority called wiser ("kept" edges) form a directed graph from the value left to the value
reached. Cycles are broken by score: kept edges that agree with the ranking go in first, then the others by
their share of "wiser" answers, each only if it does not close a cycle. Each value then sits on the layer of
the longest chain of kept edges above it (longest-path layering: a value nothing is wiser than is on layer 0,
at the top). Values no kept edge touches go in a band of their own at the bottom. Within a layer, values are
ordered by the mean position of their neighbours (barycentre sweeps, best rank first on ties), and a long
layer wraps onto several rows, so 60 values stay readable.
"""

import math
from collections import defaultdict
from typing import Any

import networkx as nx

COLUMN_WIDTH = 150
MAX_PER_ROW = 6
ROW_HEIGHT = 132
MARGIN_X = 30
MARGIN_TOP = 44
NODE_MIN, NODE_MAX = 8.0, 24.0
EDGE_MIN, EDGE_MAX = 1.0, 7.0
LINE_HEIGHT = 15
WIDTH = 2 * MARGIN_X + COLUMN_WIDTH * MAX_PER_ROW
KEEP_SHARE = 0.5
SWEEPS = 3


def kept_edges(scores: dict[int, float], edges: list[dict]) -> list[tuple[int, int]]:
    """The majority-wiser edges as an acyclic set: score-consistent ones first, then by share; none closes a cycle."""
    candidates = [
        e
        for e in edges
        if e["source"] in scores
        and e["target"] in scores
        and e["source"] != e["target"]
        and (e.get("share") or 0.0) >= KEEP_SHARE
    ]
    candidates.sort(
        key=lambda e: (scores[e["target"]] < scores[e["source"]], -(e.get("share") or 0.0), e["source"], e["target"])
    )
    dag = nx.DiGraph()
    dag.add_nodes_from(scores)
    kept = []
    for e in candidates:
        source, target = e["source"], e["target"]
        if dag.has_edge(source, target) or nx.has_path(dag, target, source):
            continue
        dag.add_edge(source, target)
        kept.append((source, target))
    return kept


def layers_of(node_ids: list[int], kept: list[tuple[int, int]]) -> dict[int, int | None]:
    """Longest-path layer of each value (0 = nothing kept is wiser than it); None for values no kept edge touches."""
    wiser: dict[int, list[int]] = defaultdict(list)
    touched = set()
    for source, target in kept:
        wiser[source].append(target)
        touched.update((source, target))
    dag = nx.DiGraph(kept)
    layer: dict[int, int | None] = {n: None for n in node_ids}
    for node in reversed(list(nx.topological_sort(dag))):
        layer[node] = 1 + max((layer[w] for w in wiser[node]), default=-1)
    return {n: (layer[n] if n in touched else None) for n in node_ids}


def _order_layers(
    groups: list[list[int]], neighbours: dict[int, set[int]], rank: dict[int, tuple], *, last_fixed: bool
) -> list[list[int]]:
    """Barycentre sweeps: each value moves towards the mean position of its neighbours in the other layers."""
    groups = [sorted(g, key=lambda n: rank[n]) for g in groups]
    for _sweep in range(SWEEPS):
        position = {n: (i + 0.5) / len(g) for g in groups for i, n in enumerate(g)}
        for index, group in enumerate(groups):
            if last_fixed and index == len(groups) - 1:
                continue  # the unlinked band has no neighbours: it stays in rank order

            groups[index] = sorted(group, key=lambda n, at=position: _barycentre(n, at, neighbours, rank))
            position.update({n: (i + 0.5) / len(groups[index]) for i, n in enumerate(groups[index])})
    return groups


def _barycentre(node: int, position: dict[int, float], neighbours: dict[int, set[int]], rank: dict) -> tuple:
    near = [position[m] for m in neighbours[node] if m in position]
    return (sum(near) / len(near) if near else position[node], rank[node])


def wiser_layout(nodes: list[dict], edges: list[dict]) -> dict[str, Any]:
    """Place a context's values in layers, wiser above; every edge is drawn, only kept edges decide the layers."""
    if not nodes:
        return {"width": WIDTH, "height": MARGIN_TOP, "nodes": [], "edges": [], "bands": []}
    scores = {n["id"]: float(n.get("score") or 0.0) for n in nodes}
    rank = {n["id"]: (n.get("rank", 0), n["id"]) for n in nodes}
    kept = kept_edges(scores, edges)
    layer = layers_of([n["id"] for n in nodes], kept)
    depth = max((v for v in layer.values() if v is not None), default=-1) + 1
    groups: list[list[int]] = [[] for _ in range(depth)]
    unlinked = []
    for node_id, value in layer.items():
        (unlinked if value is None else groups[value]).append(node_id)
    neighbours: dict[int, set[int]] = defaultdict(set)
    for source, target in kept:
        neighbours[source].add(target)
        neighbours[target].add(source)
    ordered = _order_layers(
        [*groups, unlinked] if unlinked else groups, neighbours, rank, last_fixed=bool(unlinked)
    )

    top_score = max(scores.values()) or 1.0
    by_id = {n["id"]: n for n in nodes}
    placed: dict[int, dict] = {}
    bands = []
    y: float = MARGIN_TOP
    row_index = 0
    for band_index, group in enumerate(ordered):
        if not group:
            continue
        is_unlinked = bool(unlinked) and band_index == len(ordered) - 1
        bands.append({"y": round(y - 28), "kind": "unlinked" if is_unlinked else "layer", "layer": band_index})
        rows = [group[i : i + MAX_PER_ROW] for i in range(0, len(group), MAX_PER_ROW)]
        for row in rows:
            offset = MARGIN_X + (WIDTH - 2 * MARGIN_X - COLUMN_WIDTH * len(row)) / 2
            for column, node_id in enumerate(row):
                node = by_id[node_id]
                x = offset + COLUMN_WIDTH * (column + 0.5)
                cy = y + NODE_MAX
                r = NODE_MIN + (NODE_MAX - NODE_MIN) * math.sqrt(max(scores[node_id], 0.0) / top_score)
                placed[node_id] = {
                    "id": node_id,
                    "x": round(x, 1),
                    "y": round(cy, 1),
                    "r": round(r, 1),
                    "labelX": round(x, 1),
                    "labelY": round(cy + NODE_MAX + LINE_HEIGHT, 1),
                    "anchor": "middle",
                    "lines": node.get("label") or [node.get("title", "")],
                    "rank": node.get("rank"),
                    "layer": None if is_unlinked else band_index,
                    "row": row_index,
                    "column": column,
                }
            y += ROW_HEIGHT
            row_index += 1
        y += 28  # room for the next band's rule

    kept_set = set(kept)
    laid_edges = []
    for edge in edges:
        a, b = placed.get(edge["source"]), placed.get(edge["target"])
        if a is None or b is None or a is b:
            continue
        dx, dy = b["x"] - a["x"], b["y"] - a["y"]
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        # Two stories between the same pair go in opposite directions: shift each to its own side.
        nx_, ny_ = -uy * 3, ux * 3
        share = edge.get("share") or 0.0
        laid_edges.append(
            {
                "source": edge["source"],
                "target": edge["target"],
                "x1": round(a["x"] + ux * a["r"] + nx_, 1),
                "y1": round(a["y"] + uy * a["r"] + ny_, 1),
                "x2": round(b["x"] - ux * (b["r"] + 4) + nx_, 1),
                "y2": round(b["y"] - uy * (b["r"] + 4) + ny_, 1),
                "width": round(EDGE_MIN + (EDGE_MAX - EDGE_MIN) * share, 1),
                "share": share,
                "strong": share >= KEEP_SHARE,
                "kept": (edge["source"], edge["target"]) in kept_set,
            }
        )
    laid_edges.sort(key=lambda e: e["share"])
    reading = sorted(placed.values(), key=lambda n: (n["row"], n["column"]))
    return {"width": WIDTH, "height": round(y - 28 + 8), "nodes": reading, "edges": laid_edges, "bands": bands}


def layout_table(layout: dict[str, Any], titles: dict[int, str]) -> list[dict[str, Any]]:
    """The same drawing as rows: each value's level, and the values it was judged wiser or less wise than."""
    wiser_than: dict[int, list[str]] = defaultdict(list)
    less_wise_than: dict[int, list[str]] = defaultdict(list)
    for edge in layout["edges"]:
        if edge["strong"]:
            wiser_than[edge["target"]].append(titles.get(edge["source"], "?"))
            less_wise_than[edge["source"]].append(titles.get(edge["target"], "?"))
    return [
        {
            "id": n["id"],
            "title": titles.get(n["id"], ""),
            "rank": n["rank"],
            "level": None if n["layer"] is None else n["layer"] + 1,
            "wiserThan": sorted(wiser_than[n["id"]]),
            "lessWiseThan": sorted(less_wise_than[n["id"]]),
        }
        for n in layout["nodes"]
    ]
