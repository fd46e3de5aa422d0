"""The fast ranking data path agrees with a straightforward ORM computation (on whichever database runs)."""

import random
import struct

import numpy as np
import pytest
from django.db.models import Count
from django.utils import timezone

from cards.models import CanonicalValue
from deliberation.models import Context, Participant, Round, Stage
from moral_graph import ranking, selectors, services
from moral_graph.models import RankingSnapshot, StoryAssignment, TransitionStory, WiserVote, WiserVoteRevision
from moral_graph.selectors import ranking_inputs
from tests.factories import make_round

ANSWERS = ("wiser", "not_wiser", "not_sure")


def _int8_column(values: list[int]) -> bytes:
    """What string_agg(int8send(x), '') returns: each value's 8 big-endian bytes, back to back."""
    return b"".join(struct.pack(">q", v) for v in values)


def test_parse_int8_column_reads_bigints_including_negative_and_large_values():
    values = [1, -2, 3, 2**40, 0, -(2**62), 2**63 - 1]
    parsed = selectors.parse_int8_column(_int8_column(values))
    assert parsed.dtype == np.int64
    assert parsed.tolist() == values
    assert selectors.parse_int8_column(b"").shape == (0,)


def test_parse_int8_column_refuses_truncated_data():
    with pytest.raises(ValueError):
        selectors.parse_int8_column(_int8_column([1, 2, 3])[:-4])
    with pytest.raises(ValueError):
        selectors.parse_int8_column(b"{1,2}")


@pytest.fixture
def busy_round(db):
    """A voting round built row by row: 12 values over 2 contexts, 30 participants, changed answers, a hidden
    story, a merged value, participants without a group, and a second round whose rows interleave with its
    rows (stories, assignments and votes alternate) and must not leak in."""
    rng = random.Random(5)
    rounds = [
        make_round(slug=slug, stories_per_participant=8, min_votes_per_story=1)
        for slug in ("scale", "scale-other")
    ]
    contexts, values = {}, {}
    for r in rounds:
        Round.objects.filter(pk=r.pk).update(stage=Stage.VOTING)
        r.refresh_from_db()
        question = r.questions.get()
        contexts[r.pk] = list(Context.objects.filter(question=question).order_by("order"))
        values[r.pk] = []
        for i in range(12):
            value = CanonicalValue.objects.create(
                round=r,
                question=question,
                title=f"Value {i}",
                description="A value.",
                policies=["MOMENTS a", "b"],
            )
            value.contexts.add(contexts[r.pk][i % 2])
            values[r.pk].append(value)
    for i in range(12):
        for j in range(i % 2, 12, 2):
            for r in rounds:
                if i != j and rng.random() < 0.5:
                    TransitionStory.objects.create(
                        round=r,
                        context=contexts[r.pk][i % 2],
                        from_value=values[r.pk][i],
                        to_value=values[r.pk][j],
                        text="s",
                        origin="template",
                    )
    stories = {r.pk: list(TransitionStory.objects.filter(round=r).order_by("id")) for r in rounds}
    for _ in range(30):
        for r in rounds:
            party = rng.choice(["Left", "Right", "Other", None])
            person = Participant.objects.create(
                round=r, consent_at=timezone.now(), attributes={"party": party} if party else {}
            )
            chosen = rng.sample(stories[r.pk], 8)
            StoryAssignment.objects.bulk_create(
                [StoryAssignment(participant=person, story=s) for s in chosen]
            )
            for story in chosen[: rng.randint(3, 7)]:
                services.vote_cast(participant=person, story_id=story.pk, answer=rng.choice(ANSWERS))
    round_ = rounds[0]
    votes = list(WiserVote.objects.filter(story__round=round_).order_by("id"))
    early_watermark = selectors.round_watermark(round_id=round_.pk)
    for vote in rng.sample(votes, 15):
        services.vote_update(
            participant=vote.participant,
            vote_id=vote.pk,
            answer=rng.choice([a for a in ANSWERS if a != vote.answer]),
        )
    TransitionStory.objects.filter(pk=votes[0].story_id).update(is_hidden=True)
    merged_story = TransitionStory.objects.filter(round=round_, is_hidden=False).exclude(pk=votes[0].story_id)
    merged_story = merged_story.annotate(n=Count("votes")).filter(n__gt=0).first()
    CanonicalValue.objects.filter(pk=merged_story.from_value_id).update(
        merged_into_id=merged_story.to_value_id, is_active=False
    )
    return round_, early_watermark


def _orm_votes(round_: Round, watermark: int) -> dict[int, list[tuple[int, int, int, int, int]]]:
    """Per context, (vote, voter, src, dst, answer code) by vote id, from the ORM one revision at a time."""
    result: dict[int, list] = {}
    for vote in WiserVote.objects.filter(story__round=round_).select_related("story").order_by("id"):
        revision = WiserVoteRevision.objects.filter(vote=vote, id__lte=watermark).order_by("-id").first()
        if revision is None or vote.story.is_hidden:
            continue
        result.setdefault(vote.story.context_id, []).append(
            (
                vote.pk,
                vote.participant_id,
                vote.story.from_value_id,
                vote.story.to_value_id,
                selectors.ANSWER_CODES[revision.answer],
            )
        )
    return result


def _as_rows(per_context: dict[int, selectors.ContextVotes]) -> dict[int, list[tuple[int, int, int, int]]]:
    return {
        c: list(zip(v.voter.tolist(), v.src.tolist(), v.dst.tolist(), v.answer.tolist(), strict=True))
        for c, v in per_context.items()
    }


@pytest.mark.django_db
def test_votes_at_watermark_match_the_orm_now_and_at_an_earlier_watermark(busy_round):
    round_, early = busy_round
    now = selectors.round_watermark(round_id=round_.pk)
    for watermark in (now, early, early - 3):
        expected = {c: [row[1:] for row in rows] for c, rows in _orm_votes(round_, watermark).items()}
        fast = selectors.votes_at_watermark(round_id=round_.pk, watermark=watermark)
        assert _as_rows(fast) == expected
        assert all(v.answer.dtype == np.int8 and v.voter.dtype == np.int64 for v in fast.values())
    assert _as_rows(selectors.votes_at_watermark(round_id=round_.pk, watermark=now)) != _as_rows(
        selectors.votes_at_watermark(round_id=round_.pk, watermark=early)
    )
    assert selectors.votes_at_watermark(round_id=round_.pk, watermark=0) == {}


@pytest.mark.django_db
def test_impressions_match_the_orm_and_leave_out_hidden_stories(busy_round):
    round_, _ = busy_round
    watermark = selectors.assignment_watermark(round_id=round_.pk)
    expected: dict[int, list] = {}
    for story in TransitionStory.objects.filter(round=round_, is_hidden=False).annotate(
        n=Count("assignments")
    ):
        if story.n:
            expected.setdefault(story.context_id, []).append(
                (story.from_value_id, story.to_value_id, story.n)
            )
    fast = selectors.impressions_at(round_id=round_.pk, assignment_watermark=watermark)
    assert {c: sorted(rows) for c, rows in fast.items()} == {c: sorted(rows) for c, rows in expected.items()}
    first = StoryAssignment.objects.filter(story__round=round_).order_by("id").first()
    early = selectors.impressions_at(round_id=round_.pk, assignment_watermark=first.pk)
    assert sum(n for rows in early.values() for _, _, n in rows) <= 1


@pytest.mark.django_db
def test_voter_groups_give_each_vote_its_voters_answer_or_empty(busy_round):
    round_, _ = busy_round
    per_context = selectors.votes_at_watermark(
        round_id=round_.pk, watermark=selectors.round_watermark(round_id=round_.pk)
    )
    attributes = dict(Participant.objects.filter(round=round_).values_list("id", "attributes"))
    groups = selectors.participant_groups(round_id=round_.pk)
    assert list(groups) == ["party"]
    for votes in per_context.values():
        expected = [str(attributes[v].get("party", "")) for v in votes.voter.tolist()]
        assert selectors.voter_groups(round_=round_, voter_ids=votes.voter)["party"].text().tolist() == expected
        assert (
            selectors.voter_groups(round_=round_, voter_ids=votes.voter, groups=groups)["party"].text().tolist()
            == expected
        )
    unknown = selectors.voter_groups(round_=round_, voter_ids=np.asarray([10**9]))
    assert unknown["party"].text().tolist() == [""]
    assert selectors.voter_groups(round_=round_, voter_ids=np.zeros(0, np.int64)) == {}


def test_resolve_merged_maps_chains_and_drops_loops_without_the_database():
    votes = selectors.ContextVotes(
        voter=np.asarray([1, 2, 3, 4]),
        src=np.asarray([10, 11, 12, 13]),
        dst=np.asarray([11, 12, 10, 14]),
        answer=np.asarray([0, 1, 2, 0], dtype=np.int8),
    )
    resolved = ranking_inputs.resolve_merged(votes, {11: 12, 14: 10})
    assert resolved.voter.tolist() == [1, 3, 4]
    assert resolved.src.tolist() == [10, 12, 13]
    assert resolved.dst.tolist() == [12, 10, 10]
    assert resolved.answer.tolist() == [0, 2, 0]
    assert ranking_inputs.resolve_merged(votes, {}) is votes


@pytest.mark.django_db
def test_ranking_results_equal_ranking_the_orm_inputs(busy_round):
    round_, _ = busy_round
    watermark = selectors.round_watermark(round_id=round_.pk)
    assignment_wm = selectors.assignment_watermark(round_id=round_.pk)
    resolution = selectors.value_resolution(round_id=round_.pk)
    assert resolution
    attributes = dict(Participant.objects.filter(round=round_).values_list("id", "attributes"))
    orm = _orm_votes(round_, watermark)
    results = services.ranking_results(
        round_=round_, watermark=watermark, assignment_watermark=assignment_wm, method="bt"
    )
    assert len(results) == Context.objects.filter(question__round=round_).count()
    for entry in results:
        context_id = entry["context_id"]
        rows = [
            (voter, resolution.get(src, src), resolution.get(dst, dst), answer)
            for _, voter, src, dst, answer in orm.get(context_id, [])
            if resolution.get(src, src) != resolution.get(dst, dst)
        ]
        shown = {}
        for story in TransitionStory.objects.filter(context_id=context_id, is_hidden=False).annotate(
            n=Count("assignments")
        ):
            key = (
                resolution.get(story.from_value_id, story.from_value_id),
                resolution.get(story.to_value_id, story.to_value_id),
            )
            if story.n and key[0] != key[1]:
                shown[key] = shown.get(key, 0) + story.n
        placed = CanonicalValue.objects.filter(contexts__id=context_id, is_active=True).values_list(
            "pk", flat=True
        )
        voter, src, dst, answer = (np.asarray([r[i] for r in rows], dtype=np.int64) for i in range(4))
        expected = ranking.rank_context(
            value_ids=sorted(set(placed) | set(src.tolist()) | set(dst.tolist())),
            voter=voter,
            src=src,
            dst=dst,
            answer=answer,
            impressions=[(a, b, n) for (a, b), n in shown.items()],
            method="bt",
            n_boot=200,
            seed=watermark,
            voter_groups={
                "party": np.asarray(
                    [str(attributes[v].get("party", "")) for v in voter.tolist()], dtype=object
                )
            },
        )
        # What the service adds to a result: the digest of its inputs (decision 45).
        digest = entry["result"]["parameters"].pop("inputsDigest")
        assert isinstance(digest, str) and len(digest) == 40
        assert entry["result"] == expected
        assert entry["result"]["nVotes"] == len(rows) > 0


@pytest.mark.django_db
def test_published_snapshots_hold_exactly_the_computed_results(busy_round):
    round_, _ = busy_round
    run = services.ranking_compute(round_id=round_.pk, method="bt")
    expected = services.ranking_results(
        round_=round_,
        watermark=run.watermark,
        assignment_watermark=run.parameters["assignmentWatermark"],
        method="bt",
    )
    stored = {
        s.context_id: (s.question_id, s.round_id, s.results) for s in RankingSnapshot.objects.filter(run=run)
    }
    assert stored == {r["context_id"]: (r["question_id"], round_.pk, r["result"]) for r in expected}
    round_.refresh_from_db()
    assert round_.current_ranking_id == run.pk


@pytest.mark.django_db
@pytest.mark.parametrize("sparse_max", [0, 10**6])
def test_a_contexts_own_impressions_are_its_share_of_the_rounds(busy_round, monkeypatch, sparse_max):
    # What a fanned-out part counts for its context (decision 51), over the stories' id range (sparse_max 0) or,
    # for stories spread over a wide range, by id; every third story, so that the range holds others too.
    monkeypatch.setattr(selectors, "SPARSE_STORIES_MAX", sparse_max)
    round_, _ = busy_round
    watermark = selectors.assignment_watermark(round_id=round_.pk)
    whole = selectors.impressions_at(round_id=round_.pk, assignment_watermark=watermark)
    assert len(whole) >= 2
    for context_id, rows in whole.items():
        stories = selectors.round_stories(round_id=round_.pk, context_id=context_id)
        own = selectors.impressions_at(round_id=round_.pk, assignment_watermark=watermark, stories=stories)
        assert {c: sorted(r) for c, r in own.items()} == {context_id: sorted(rows)}
        some = stories[::3]
        pairs = {(int(s[2]), int(s[3])) for s in some if not s[4]}
        part = selectors.impressions_at(round_id=round_.pk, assignment_watermark=watermark, stories=some)
        assert sorted(part.get(context_id, [])) == sorted(r for r in rows if (r[0], r[1]) in pairs)
