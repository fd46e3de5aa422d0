"""Unit tests of the pure ranking code: edge statistics, aggregation, rank_context's output, bridging, bootstrap."""

import gc
import math

import numpy as np
import pytest
from scipy.stats import rankdata

from moral_graph import bradley_terry, bridging, digest, numeric, ranking
from moral_graph.ranking import (
    METHODS,
    NOT_WISER,
    UNSURE,
    WISER,
    edge_counts,
    edge_statistics,
    rank_context,
)

Z = 1.959963984540054


def _wilson_lower(wiser: int, n: int) -> float:
    p = wiser / n
    return (p + Z**2 / (2 * n) - Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))) / (1 + Z**2 / n)


def _stats(w, n, u, less, shown=None):
    result = edge_statistics([w], [n], [u], [less], None if shown is None else [shown])
    return {key: value[0] for key, value in result.items()}


def test_wiser_likelihood_is_wiser_minus_less_wise_over_all_four_counts():
    assert _stats(3, 1, 0, 1)["wiserLikelihood"] == pytest.approx(0.4)
    assert _stats(2, 0, 4, 0)["wiserLikelihood"] == pytest.approx(1 / 3)
    assert _stats(0, 0, 0, 2)["wiserLikelihood"] == pytest.approx(-1.0)
    assert _stats(0, 0, 0, 0)["wiserLikelihood"] == 0.0


def test_entropy_is_in_bits_over_the_four_counts():
    assert _stats(2, 2, 0, 0)["entropy"] == pytest.approx(1.0)
    assert _stats(1, 1, 1, 1)["entropy"] == pytest.approx(2.0)
    assert _stats(5, 0, 0, 0)["entropy"] == 0.0
    assert _stats(0, 0, 0, 0)["entropy"] == 0.0


def test_mai_entropy_adds_impressions_as_a_fifth_count():
    # {2, 2, 4} of 8: -(1/4 log2 1/4 + 1/4 log2 1/4 + 1/2 log2 1/2) = 1.5 bits
    assert _stats(2, 0, 2, 0, shown=4)["maiEntropy"] == pytest.approx(1.5)
    assert _stats(2, 0, 2, 0)["maiEntropy"] == pytest.approx(1.5)
    assert _stats(3, 0, 0, 0, shown=6)["maiEntropy"] == pytest.approx(
        -(1 / 3) * math.log2(1 / 3) - (2 / 3) * math.log2(2 / 3)
    )


def test_wilson_lower_bound_on_the_wiser_share():
    assert _stats(8, 2, 0, 0)["wilsonLower"] == pytest.approx(0.4901625, abs=1e-6)
    assert _stats(8, 2, 0, 0)["wilsonLower"] == pytest.approx(_wilson_lower(8, 10))
    assert _stats(5, 0, 0, 7)["wilsonLower"] == pytest.approx(_wilson_lower(5, 5))
    assert _stats(3, 1, 2, 0)["wilsonLower"] == pytest.approx(_wilson_lower(3, 6))
    assert _stats(0, 4, 0, 0)["wilsonLower"] == pytest.approx(0.0, abs=1e-12)
    assert _stats(0, 0, 0, 3)["wilsonLower"] == 0.0


@pytest.mark.parametrize(
    ("counts", "kept"),
    [
        ((2, 0, 0, 0, 2), True),  # W = 2, likelihood 1, entropy 1 bit
        ((1, 0, 0, 0, 1), False),  # fewer than 2 wiser votes
        ((2, 0, 4, 0, 6), True),  # likelihood exactly 1/3 passes 0.33; entropy 1.459
        ((2, 0, 5, 0, 7), False),  # likelihood 2/7 < 0.33
        ((3, 2, 2, 0, 7), False),  # likelihood 3/7 but entropy 1.78 > 1.69
        ((4, 0, 0, 2, 4), True),  # likelihood 1/3; entropy of {4, 2, 4} 1.52
        ((4, 0, 0, 3, 4), False),  # likelihood 1/7
    ],
)
def test_mai_keeps_an_edge_by_its_three_thresholds(counts, kept):
    assert bool(_stats(*counts)["maiKept"]) is kept


def test_edge_counts_pairs_each_story_with_its_reverse():
    pairs = edge_counts(
        src=[1, 1, 1, 2, 2, 3],
        dst=[2, 2, 2, 1, 3, 2],
        answer=[WISER, WISER, UNSURE, WISER, NOT_WISER, WISER],
        impressions_src=[1, 3, 3],
        impressions_dst=[2, 1, 2],
        impressions_count=[2, 5, 1],
    )
    rows = {
        (s, d): (w, n, u, less, shown)
        for s, d, w, n, u, less, shown in zip(
            *(pairs[key].tolist() for key in ("src", "dst", "W", "N", "U", "L", "impressions")), strict=True
        )
    }
    assert rows == {
        (1, 2): (2, 0, 1, 1, 3),  # impressions never fewer than the story's votes
        (2, 1): (1, 0, 0, 2, 1),
        (2, 3): (0, 1, 0, 1, 1),
        (3, 1): (0, 0, 0, 0, 5),  # shown, never answered
        (3, 2): (1, 0, 0, 0, 1),  # impressions given as 1 and 1 vote
    }
    assert list(zip(pairs["src"].tolist(), pairs["dst"].tolist(), strict=True)) == sorted(rows)


@pytest.mark.parametrize("outside", [False, True])
def test_rank_context_counts_pairs_as_edge_counts_does(outside):
    # rank_context counts pairs from its prepared stories; edge_counts is the reference, with impressions on
    # stories nobody answered and (outside=True) on a value that is not one of the context's values.
    rng = np.random.default_rng(21)
    ids = np.arange(40) * 5 + 3
    src = rng.choice(ids, 600)
    dst = (src + 5 * rng.integers(1, 6, 600) - 3) % 200 + 3
    answer = rng.integers(0, 3, 600)
    shown = np.column_stack([rng.choice(ids, 90), rng.choice(ids, 90), rng.integers(0, 9, 90)])
    shown = shown[shown[:, 0] != shown[:, 1]]
    if outside:
        shown[0, 0] = 999
    votes = ranking._prepare(ids, np.arange(600), src, dst, answer)
    got = ranking._prepared_edge_counts(votes, shown)
    expected = edge_counts(
        src=src,
        dst=dst,
        answer=answer,
        impressions_src=shown[:, 0],
        impressions_dst=shown[:, 1],
        impressions_count=shown[:, 2],
    )
    assert got.keys() == expected.keys()
    for key, column in expected.items():
        assert got[key].tolist() == column.tolist(), key
    assert (999 in got["src"].tolist()) is outside


def _context(votes, value_ids=(10, 20, 30, 40), **kwargs):
    voter, src, dst, answer = (np.array(column, dtype=np.int64) for column in zip(*votes, strict=True))
    return rank_context(value_ids=list(value_ids), voter=voter, src=src, dst=dst, answer=answer, **kwargs)


def _unanimous(winner, others, voters_per_story=10):
    votes, voter = [], 0
    for other in others:
        for _ in range(voters_per_story):
            votes.append((voter, other, winner, WISER))
            votes.append((voter, winner, other, NOT_WISER))
            voter += 1
    return votes


def test_result_shape_and_unvoted_values_last_with_wide_intervals():
    result = _context(_unanimous(30, [10, 20]), n_boot=50)
    assert result["method"] == "bt" and result["nVotes"] == 40 and result["nVoters"] == 20
    assert [row["valueId"] for row in result["values"]][0] == 30
    last = result["values"][-1]
    assert last == {
        "valueId": 40,
        "score": 0.0,
        "scoreInterval": [0.0, 1.0],
        "rank": 4,
        "rankInterval": [1, 4],
        "pTop": 0.0,
        "nVotes": 0,
    }
    assert {(e["sourceValueId"], e["wiserValueId"]) for e in result["edges"]} == {
        (10, 30),
        (30, 10),
        (20, 30),
        (30, 20),
    }
    edge = next(e for e in result["edges"] if (e["sourceValueId"], e["wiserValueId"]) == (10, 30))
    assert edge["counts"] == {
        "markedWiser": 10,
        "markedNotWiser": 0,
        "markedUnsure": 0,
        "markedLessWise": 0,
        "impressions": 10,
    }
    assert edge["maiKept"] is True and edge["groups"] == {} and edge["bridging"] is None
    assert result["bridging"] == {}
    assert set(result["parameters"]) >= {"nBoot", "seed", "prior"}


def test_a_unanimous_winner_is_broadly_supported():
    result = _context(_unanimous(30, [10, 20, 40]))
    assert result["values"][0]["valueId"] == 30
    assert result["support"] == "broadly supported"
    assert result["pTop"] == 1.0 and result["values"][0]["rankInterval"] == [1, 1]


def test_evenly_split_votes_are_contested():
    votes = [(v, 10, 20, WISER if v % 2 else NOT_WISER) for v in range(20)]
    votes += [(v, 20, 10, WISER if v % 2 else NOT_WISER) for v in range(20, 40)]
    result = _context(votes, value_ids=(10, 20))
    assert result["values"][0]["rank"] == result["values"][1]["rank"] == 1
    assert result["support"] == "contested"


def test_a_narrow_lead_has_some_support():
    votes = [(v, 10, 20, WISER if v < 13 else NOT_WISER) for v in range(20)]
    result = _context(votes, value_ids=(10, 20))
    assert result["values"][0]["valueId"] == 20
    assert 0.5 <= result["pTop"] < 0.975
    assert result["support"] == "some support"


def test_no_votes_gives_uniform_scores_and_a_contested_context():
    result = rank_context(value_ids=[3, 1, 2], voter=[], src=[], dst=[], answer=[])
    assert [row["score"] for row in result["values"]] == pytest.approx([1 / 3] * 3)
    assert [row["rank"] for row in result["values"]] == [1, 1, 1]
    assert result["support"] == "contested" and result["pTop"] == 0.0 and result["edges"] == []
    empty = rank_context(value_ids=[], voter=[], src=[], dst=[], answer=[])
    assert empty["values"] == [] and empty["support"] == "contested"


def test_impressions_change_mai_entropy_but_not_the_bt_scores():
    votes = _unanimous(30, [10, 20], voters_per_story=3)
    plain = _context(votes)
    shown = _context(votes, impressions=[(10, 30, 30), (20, 30, 3)])
    assert [r["score"] for r in shown["values"]] == [r["score"] for r in plain["values"]]
    edge = {(e["sourceValueId"], e["wiserValueId"]): e for e in shown["edges"]}
    assert edge[(10, 30)]["counts"]["impressions"] == 30
    assert edge[(10, 30)]["summary"]["maiEntropy"] < edge[(20, 30)]["summary"]["maiEntropy"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "pagerank"}, "unknown ranking method"),
        ({"n_boot": 0}, "n_boot"),
        ({"src": [10, 99]}, "one of value_ids"),
        ({"dst": [10, 10]}, "two different values"),
        ({"answer": [0, 3]}, "answer must be"),
        ({"voter": [1]}, "same length"),
        ({"value_ids": [10, 20, 20]}, "distinct"),
    ],
)
def test_invalid_input_is_refused(kwargs, message):
    arguments = {"value_ids": [10, 20], "voter": [1, 2], "src": [10, 20], "dst": [20, 10], "answer": [0, 1]}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        rank_context(**arguments)


def test_public_methods_are_named():
    assert METHODS[0] == "bt" and "mai_pagerank" in METHODS


def test_edge_groups_and_bridging_score():
    # Story 10 -> 30: group "left" 4 of 4 wiser, group "right" 3 of 5, one voter of unknown group.
    votes = [(v, 10, 30, WISER) for v in range(4)]
    votes += [(v, 10, 30, WISER if v < 7 else NOT_WISER) for v in range(4, 9)]
    votes += [(9, 10, 30, WISER)]
    labels = np.array(["left"] * 4 + ["right"] * 5 + [""], dtype=object)
    result = _context(votes, n_boot=10, voter_groups={"party": labels}, min_group_voters=4)
    edge = result["edges"][0]
    assert edge["groups"] == {
        "party": {
            "left": {"wiser": 4, "votes": 4, "share": 1.0},
            "right": {"wiser": 3, "votes": 5, "share": 0.6},
        }
    }
    assert edge["bridging"] == pytest.approx(0.6)
    strict = _context(votes, n_boot=10, voter_groups={"party": labels}, min_group_voters=5)
    assert strict["edges"][0]["bridging"] is None  # only one group has 5 voters


def test_winner_endorsed_only_when_every_group_with_enough_voters_favours_it():
    votes = _unanimous(30, [10, 20], voters_per_story=6)  # voters 0..11, 2 votes each, all favour 30
    labels = np.array(["a" if v % 2 else "b" for v, *_ in votes], dtype=object)
    result = _context(votes, n_boot=10, voter_groups={"party": labels})
    bridging = result["bridging"]["party"]
    assert bridging["winnerEndorsed"] is True
    assert bridging["groupsWithEnoughVoters"] == ["a", "b"]
    assert bridging["groups"]["a"] == {"favour": 12, "against": 0, "voters": 6, "share": 1.0}

    # Group "c" (6 voters) answers against 30 on every story: 30 still wins overall, but is not endorsed.
    against = [(100 + v, 10, 30, NOT_WISER) for v in range(6)]
    labels_c = np.concatenate([labels, np.array(["c"] * 6, dtype=object)])
    split = _context(votes + against, n_boot=10, voter_groups={"party": labels_c})
    assert split["values"][0]["valueId"] == 30
    assert split["bridging"]["party"]["winnerEndorsed"] is False
    assert split["bridging"]["party"]["groups"]["c"]["share"] == 0.0
    assert split["bridging"]["party"]["minShare"] == 0.0

    few = _context(votes + against[:3], n_boot=10, voter_groups={"party": labels_c[: len(votes) + 3]})
    assert few["bridging"]["party"]["groupsWithEnoughVoters"] == ["a", "b"]
    assert few["bridging"]["party"]["winnerEndorsed"] is True


def test_a_voter_with_two_labels_for_one_attribute_is_refused():
    votes = [(1, 10, 20, WISER), (1, 20, 30, WISER)]
    with pytest.raises(ValueError, match="more than one label"):
        _context(votes, voter_groups={"party": np.array(["a", "b"], dtype=object)})


def _bootstrap_problem(n_values, n_stories, batch, seed):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n_values, n_stories)
    dst = (src + rng.integers(1, n_values, n_stories)) % n_values
    design = bradley_terry.Design(n_values, src, dst, acquiescence=True)
    trials = rng.integers(0, 12, (n_stories, batch)).astype(float)
    wins = np.floor(trials * rng.random((n_stories, batch)))
    prior = np.full(design.n_params, 0.1)
    full = bradley_terry.Problem(design, wins.mean(axis=1), trials.mean(axis=1), prior)
    return design, wins, trials, prior, full


def _refit_each(design, wins, trials, prior):
    columns = [
        bradley_terry.fit(bradley_terry.Problem(design, wins[:, b], trials[:, b], prior))[0]
        for b in range(wins.shape[1])
    ]
    return np.stack(columns, axis=1)


def test_batched_bootstrap_equals_refitting_each_resample():
    design, wins, trials, prior, full = _bootstrap_problem(8, 30, 12, seed=1)
    theta, solver = bradley_terry.fit(full)
    batched = bradley_terry.bootstrap(bradley_terry.Problem(design, wins, trials, prior), theta, solver)
    assert batched == pytest.approx(_refit_each(design, wins, trials, prior), abs=1e-6)


def test_chord_bootstrap_for_large_contexts_is_close_to_refitting(monkeypatch):
    monkeypatch.setattr(bradley_terry, "EXACT_LIMIT", 0)
    design, wins, trials, prior, full = _bootstrap_problem(20, 200, 10, seed=2)
    theta, solver = bradley_terry.fit(full)
    chord = bradley_terry.bootstrap(bradley_terry.Problem(design, wins, trials, prior), theta, solver)
    exact = _refit_each(design, wins, trials, prior)
    assert np.abs(chord - exact).max() < 0.02


def _reference_resampled(votes, n_boot, seed):
    """Resampled counts the plain way: per resample, each voter's draw count times the voter's votes."""
    rng = np.random.default_rng(seed)
    columns = []
    for _ in range(n_boot):
        drawn = rng.integers(0, votes.n_voters, votes.n_voters, dtype=np.int32)
        columns.append(votes.per_voter.toarray() @ np.bincount(drawn, minlength=votes.n_voters))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("votes_per_voter, repeated", [(1, False), (3, False), (2, True)])
def test_resampled_counts_are_each_voters_draws_times_their_votes(votes_per_voter, repeated):
    # repeated: each voter casts the same vote twice (two stories that a merge made one), a count of 2.
    rng = np.random.default_rng(4)
    n_voters = 60
    n_distinct = n_voters * (1 if repeated else votes_per_voter)
    src = rng.integers(0, 5, n_distinct)
    dst = (src + rng.integers(1, 5, n_distinct)) % 5
    answer = rng.integers(0, 3, n_distinct)
    if repeated:
        src, dst, answer = (np.repeat(x, votes_per_voter) for x in (src, dst, answer))
    voter = np.repeat(np.arange(n_voters) * 7, votes_per_voter)
    votes = ranking._prepare(list(range(5)), voter, src, dst, answer)
    resampled = ranking._resampled_counts(votes, 25, seed=9)
    assert resampled.shape == (3 * len(votes.counts), 25)
    assert np.array_equal(resampled, _reference_resampled(votes, 25, seed=9))
    assert np.all(resampled.sum(axis=0) == n_voters * votes_per_voter)
    assert not np.array_equal(resampled[:, 0], resampled[:, 1])
    # Merged into categories (several cells each, one left empty), the counts are the cells' counts summed.
    n_cells = 3 * len(votes.counts)
    category = rng.integers(0, 6, n_cells)
    category[category == 5] = 6
    merged = ranking._resampled_counts(votes, 25, seed=9, category=category, n_categories=8)
    expected = np.zeros((8, 25))
    np.add.at(expected, category, resampled)
    assert np.array_equal(merged, expected)


def test_gc_paused_turns_the_collector_off_and_restores_it():
    assert gc.isenabled()
    with ranking.gc_paused():
        assert not gc.isenabled()
        with ranking.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with ranking.gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_voter_group_codes_read_string_and_object_labels_alike():
    vote_voter = np.array([0, 1, 1, 2, 3, 0])
    text = np.array(["b", "a", "a", "", "b", "b"])
    with_none = np.array(["b", "a", "a", None, "b", "b"], dtype=object)
    for labels in (text, with_none):
        names, code = bridging.voter_group_codes(labels, vote_voter, 5)
        assert names == ["a", "b"]
        assert code.tolist() == [1, 0, -1, 1, -1]
    with pytest.raises(ValueError, match="more than one label"):
        bridging.voter_group_codes(np.array(["b", "a", "b", "", "b", "a"]), vote_voter, 5)
    # Other labels are named by their text, sorted as text.
    for dtype in (np.int64, object):
        names, code = bridging.voter_group_codes(np.array([7, 10, 10, 7, 7, 7], dtype=dtype), vote_voter, 5)
        assert names == ["10", "7"]
        assert code.tolist() == [1, 0, 1, 1, -1]


def test_factorised_labels_give_what_the_same_labels_as_text_give():
    # bridging.Labels, as selectors.voter_groups passes them: names in any order, some unused here, "" unknown.
    vote_voter = np.array([0, 1, 1, 2, 3, 0])
    labels = bridging.Labels(("b", "", "zz", "a"), np.array([0, 3, 3, 1, 0, 0]))
    assert labels.text().tolist() == ["b", "a", "a", "", "b", "b"]
    assert bridging.voter_group_codes(labels, vote_voter, 5)[0] == ["a", "b"]
    assert bridging.voter_group_codes(labels, vote_voter, 5)[1].tolist() == [1, 0, -1, 1, -1]
    names, codes = bridging.label_codes(labels)
    assert names == ["", "a", "b"] and codes.tolist() == [2, 1, 1, 0, 2, 2]
    text_names, text_codes = bridging.label_codes(labels.text())
    assert names == text_names and codes.tolist() == text_codes.tolist()
    with pytest.raises(ValueError, match="more than one label"):
        bridging.voter_group_codes(bridging.Labels(("a", "b"), np.array([1, 0, 1, 0, 1, 0])), vote_voter, 5)
    with pytest.raises(ValueError, match="one label per vote"):
        bridging.voter_group_codes(labels, vote_voter[:5], 5)
    # A whole ranking: the same result, and the same inputs digest, from either form.
    votes = _unanimous(30, [10, 20], voters_per_story=6) + [(100 + v, 10, 30, NOT_WISER) for v in range(6)]
    text = np.array(["a" if v % 3 else "b" if v < 100 else "" for v, *_ in votes], dtype=object)
    names = ("", "b", "a", "unused")
    factorised = bridging.Labels(names, np.array([names.index(label) for label in text.tolist()]))
    assert _context(votes, n_boot=10, voter_groups={"party": factorised}) == _context(
        votes, n_boot=10, voter_groups={"party": text}
    )
    voter, src, dst, answer = (list(column) for column in zip(*votes, strict=True))
    data = {"value_ids": [10, 20, 30], "voter": voter, "src": src, "dst": dst, "answer": answer, "impressions": []}
    assert digest.inputs_digest({**data, "voter_groups": {"party": factorised}}, method="bt", n_boot=10) == (
        digest.inputs_digest({**data, "voter_groups": {"party": text}}, method="bt", n_boot=10)
    )


def test_evaluate_without_curvature_gives_the_same_value_and_gradient():
    design, wins, trials, prior, full = _bootstrap_problem(9, 40, 5, seed=7)
    problem = bradley_terry.Problem(design, wins, trials, prior)
    thetas = np.random.default_rng(8).normal(size=(design.n_params, 5))
    value, grad, curvature = problem.evaluate(thetas)
    light = problem.evaluate(thetas, curvature=False)
    assert light[2] is None and curvature.shape == wins.shape
    assert np.array_equal(light[0], value) and np.array_equal(light[1], grad)


@pytest.mark.parametrize("shape", [(40, 30), (1, 5), (0, 4), (9,), (1,)])
def test_competition_ranks_are_scipys_minimum_ranks_of_the_rounded_scores(shape):
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(shape) * 6) / 6  # many ties
    if scores.size > 2:
        scores.flat[1] = scores.flat[0] + 1e-14  # equal once rounded to TIE_DECIMALS
    expected = rankdata(-np.round(scores, ranking.TIE_DECIMALS), method="min", axis=0)
    assert np.array_equal(ranking._competition_ranks(scores), expected)


@pytest.mark.parametrize(
    "keys",
    [[3, 4, 5, 9], [2, 2, 5, 7, 7, 7], [-4, 0, 10**9], [-3, -1], [5], list(range(0, 40000, 3))],
)
def test_lookup_gives_each_querys_first_position_or_minus_one(keys):
    keys = np.array(keys, dtype=np.int64)
    rng = np.random.default_rng(2)
    query = np.concatenate([keys, rng.integers(keys[0] - 5, keys[-1] + 6, 500), [keys[0] - 1, keys[-1] + 1]])
    position = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    expected = np.where(keys[position] == query, position, -1)
    assert np.array_equal(numeric.positions(keys, query), expected)


def test_values_the_votes_cannot_tell_apart_share_their_intervals_and_p_top():
    # Every voter judges 0 -> 1 and 0 -> 2 alike: 1 and 2 are exchangeable, though their posterior draws differ.
    rng = np.random.default_rng(6)
    n_voters = 30
    answer = np.repeat(np.where(rng.random(n_voters) < 0.7, 0, 1), 2)
    result = ranking.rank_context(
        value_ids=[10, 11, 12, 13],
        voter=np.repeat(np.arange(n_voters), 2),
        src=np.full(2 * n_voters, 10),
        dst=np.tile([11, 12], n_voters),
        answer=answer,
        seed=3,
    )
    rows = {row["valueId"]: row for row in result["values"]}
    twins = [rows[11], rows[12]]
    for key in ("score", "scoreInterval", "rankInterval", "pTop", "rank"):
        assert twins[0][key] == twins[1][key], key
    assert rows[10]["pTop"] != rows[11]["pTop"]


@pytest.mark.parametrize("span", [1, 7, 5000, numeric.DENSE_SPAN, numeric.DENSE_SPAN + 1])
def test_distinct_inverse_is_numpys_unique_with_inverse(span):
    values = np.random.default_rng(1).integers(0, span, 3000) if span > 1 else np.zeros(4, dtype=np.int64)
    values[:2] = span - 1
    found, inverse = numeric.distinct_inverse(values, span)
    expected, expected_inverse = np.unique(values, return_inverse=True)
    assert np.array_equal(found, expected) and found.dtype == expected.dtype
    assert np.array_equal(inverse, expected_inverse)


@pytest.mark.parametrize("n, size", [(2, 7), (148_343, 148_343), (1001, 1000), (2**31 - 2**29 + 7, 999)])
def test_voter_draws_are_numpys_integers_and_leave_the_generator_as_numpy_does(n, size):
    # The last range skips a quarter of the halves; odd sizes leave a half over for the next call.
    ours, theirs = np.random.default_rng(5), np.random.default_rng(5)
    draws = ranking._VoterDraws(ours, n, size, fast=True)
    for _ in range(4):
        assert np.array_equal(draws.draw(), theirs.integers(0, n, size, dtype=np.int32))
        mine, numpys = ours.bit_generator.state, theirs.bit_generator.state
        assert mine["state"] == numpys["state"] and mine["has_uint32"] == numpys["has_uint32"]
    assert ours.random() == theirs.random()


def test_voter_draws_fall_back_to_numpy_when_it_draws_otherwise(monkeypatch):
    assert ranking._VoterDraws(np.random.default_rng(1), 1000).fast, "this numpy draws as _VoterDraws expects"
    monkeypatch.setattr(ranking, "_draws_match_numpy", lambda: False)
    draws = ranking._VoterDraws(np.random.default_rng(1), 1000)
    assert not draws.fast
    assert np.array_equal(draws.draw(), np.random.default_rng(1).integers(0, 1000, 1000, dtype=np.int32))
