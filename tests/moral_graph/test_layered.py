"""The layered drawing of a moral graph: wiser values above, cycles broken by score, 60 values readable (pure)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from moral_graph.layered import MAX_PER_ROW, WIDTH, kept_edges, layers_of, layout_table, wiser_layout


def _nodes(n: int) -> list[dict]:
    return [{"id": i, "title": f"Value {i}", "rank": i + 1, "score": 1.0 / (i + 1)} for i in range(n)]


def test_a_chain_is_drawn_top_down_and_an_unvoted_value_goes_to_the_bottom_band():
    nodes = _nodes(4)
    edges = [{"source": 2, "target": 1, "share": 0.9}, {"source": 1, "target": 0, "share": 0.8}]
    layout = wiser_layout(nodes, edges)
    placed = {n["id"]: n for n in layout["nodes"]}
    assert placed[0]["y"] < placed[1]["y"] < placed[2]["y"]
    assert placed[3]["layer"] is None and placed[3]["y"] > placed[2]["y"]
    assert [b["kind"] for b in layout["bands"]] == ["layer", "layer", "layer", "unlinked"]


def test_a_cycle_is_broken_against_the_ranking():
    scores = {1: 0.5, 2: 0.3, 3: 0.2}
    edges = [
        {"source": 3, "target": 2, "share": 0.6},
        {"source": 2, "target": 1, "share": 0.6},
        {"source": 1, "target": 3, "share": 1.0},  # against the scores: dropped although its share is highest
    ]
    assert sorted(kept_edges(scores, edges)) == [(2, 1), (3, 2)]


def test_an_edge_most_people_did_not_call_wiser_does_not_decide_layers_but_is_drawn():
    layout = wiser_layout(_nodes(2), [{"source": 1, "target": 0, "share": 0.3}])
    assert all(n["layer"] is None for n in layout["nodes"])
    assert len(layout["edges"]) == 1 and not layout["edges"][0]["kept"]


def test_sixty_values_wrap_into_rows_without_overlap_and_the_table_has_the_same_data():
    nodes = _nodes(60)
    edges = [{"source": i, "target": i // 3, "share": 0.8} for i in range(1, 60)]
    layout = wiser_layout(nodes, edges)
    positions = {(n["x"], n["y"]) for n in layout["nodes"]}
    assert len(positions) == 60
    rows: dict[int, int] = {}
    for n in layout["nodes"]:
        rows[n["row"]] = rows.get(n["row"], 0) + 1
        assert 0 < n["x"] < WIDTH and 0 < n["y"] < layout["height"]
    assert max(rows.values()) <= MAX_PER_ROW
    table = layout_table(layout, {n["id"]: n["title"] for n in nodes})
    assert [r["id"] for r in table] == [n["id"] for n in layout["nodes"]]
    row = next(r for r in table if r["id"] == 1)
    assert row["lessWiseThan"] == ["Value 0"] and sorted(row["wiserThan"]) == ["Value 3", "Value 4", "Value 5"]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=25).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(
                    st.integers(0, n - 1), st.integers(0, n - 1), st.floats(0, 1, allow_nan=False)
                ),
                max_size=60,
            ),
        )
    )
)
def test_every_kept_edge_points_up_and_every_value_is_placed_once(case):
    n, raw = case
    nodes = _nodes(n)
    edges = [{"source": s, "target": t, "share": share} for s, t, share in raw]
    layout = wiser_layout(nodes, edges)
    placed = {p["id"]: p for p in layout["nodes"]}
    assert sorted(placed) == list(range(n))
    kept = kept_edges({x["id"]: x["score"] for x in nodes}, edges)
    layer = layers_of(list(range(n)), kept)
    for source, target in kept:
        assert layer[target] < layer[source]
        assert placed[target]["y"] < placed[source]["y"]
