"""Labels match the evidence: no support level from fewer voters than the documented minimum, and rank intervals
that hold the planted truth on small simulated rounds (docs/ranking.md, "Small rounds")."""

import numpy as np
import pytest

from moral_graph import simulate
from moral_graph.ranking import MIN_BROAD_VOTERS, NOT_WISER, TOO_FEW_VOTERS, WISER, rank_context


def _unanimous(winner, others, voters_per_story):
    voter, src, dst, answer = [], [], [], []
    person = 0
    for other in others:
        for _ in range(voters_per_story):
            voter += [person, person]
            src += [other, winner]
            dst += [winner, other]
            answer += [WISER, NOT_WISER]
            person += 1
    return {key: np.array(column) for key, column in zip(("voter", "src", "dst", "answer"),
                                                         (voter, src, dst, answer), strict=True)}


def test_five_unanimous_voters_are_too_few_to_call_and_the_result_says_how_many():
    result = rank_context(value_ids=[1, 2, 3, 4], **_unanimous(4, [1, 2, 3], voters_per_story=2))
    assert result["values"][0]["valueId"] == 4
    assert result["support"] == TOO_FEW_VOTERS
    assert result["winnerVoters"] == 6 and result["minVoters"] == MIN_BROAD_VOTERS


def test_the_same_unanimity_from_enough_voters_is_broadly_supported():
    result = rank_context(value_ids=[1, 2, 3, 4], **_unanimous(4, [1, 2, 3], voters_per_story=8))
    assert result["winnerVoters"] == 24 >= MIN_BROAD_VOTERS
    assert result["support"] == "broadly supported"


def test_only_voters_on_the_winners_stories_count():
    votes = _unanimous(4, [1, 2, 3], voters_per_story=3)
    # 40 more people vote only between two losing values: the winner still rests on 9 people.
    extra = np.arange(100, 140)
    votes = {
        "voter": np.concatenate([votes["voter"], extra]),
        "src": np.concatenate([votes["src"], np.full(40, 1)]),
        "dst": np.concatenate([votes["dst"], np.full(40, 2)]),
        "answer": np.concatenate([votes["answer"], np.full(40, WISER)]),
    }
    result = rank_context(value_ids=[1, 2, 3, 4], **votes)
    assert result["nVoters"] == 49 and result["winnerVoters"] == 9 and result["support"] == TOO_FEW_VOTERS


def test_the_bootstrap_alone_has_no_spread_over_a_few_agreeing_voters_and_the_posterior_widens_it():
    votes = _unanimous(4, [1, 2, 3], voters_per_story=1)
    votes["answer"][-2:] = [NOT_WISER, WISER]  # the last voter disagrees
    bootstrap = rank_context(value_ids=[1, 2, 3, 4], **votes, interval="bootstrap")
    posterior = rank_context(value_ids=[1, 2, 3, 4], **votes)
    assert posterior["parameters"]["interval"] == "bootstrap+posterior"
    width = {r["valueId"]: r["rankInterval"][1] - r["rankInterval"][0] for r in bootstrap["values"]}
    wider = {r["valueId"]: r["rankInterval"][1] - r["rankInterval"][0] for r in posterior["values"]}
    assert all(wider[v] >= width[v] for v in width) and sum(wider.values()) > sum(width.values())


def test_unknown_interval_methods_are_refused():
    with pytest.raises(ValueError, match="interval"):
        rank_context(value_ids=[1, 2], voter=[1], src=[1], dst=[2], answer=[WISER], interval="guess")


def test_on_held_out_small_rounds_intervals_hold_the_truth_and_clear_winners_are_right():
    """A slice of the held-out calibration of docs/ranking.md (there: 20 contexts per shape and seed)."""
    rows = simulate.calibration_table(simulate.HELD_OUT_SHAPES, simulate.HELD_OUT_SEEDS[:1], n_contexts=3)
    for row in rows:
        assert row["coverage"] >= 0.9, row
        assert row["broadRight"] >= 0.95 * row["broad"], row
    assert [row["voters"] for row in rows] == [10, 40, 200]
    assert rows[0]["broad"] == 0, "nobody is called broadly supported from 10 voters"


def test_guidance_from_too_few_voters_is_held_lightly():
    from moral_graph.guidance import GuidanceContext, GuidanceValue, guidance_block

    value = GuidanceValue(value_id=1, title="Space to say no", description="", policies=["BOUNDARIES she states"],
                          score=1.0, score_interval=[0.5, 1.0], rank=1, rank_interval=[1, 1], p_top=1.0, n_votes=6)
    block = guidance_block(GuidanceContext(context_id=1, name="In distress", support=TOO_FEW_VOTERS), [value])
    assert "Too few people judged these values" in block
