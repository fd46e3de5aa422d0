"""What a ranking reads: each context's `rank_context` arguments as of a watermark (reads only).

A one-task ranking reads the whole round once (`round_inputs`). A fanned-out ranking reads what the contexts
share once (`RoundReads`: placed values and merges), hands each part its own share (`pack_part`), and each part
reads its own context's votes (`context_inputs`) through the revisions' (context, id) index (decision 46) and
counts its own context's impressions through the assignments' (story, id) index (decision 51). Both assemble a
context the same way (`_context_data`), so a part's arguments are those of the one-task path, vote for vote.
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from deliberation.models import Context, Round
from moral_graph import selectors
from moral_graph.selectors import ContextVotes

EMPTY = ContextVotes(
    voter=np.zeros(0, np.int64), src=np.zeros(0, np.int64), dst=np.zeros(0, np.int64), answer=np.zeros(0, np.int8)
)


@dataclass
class RoundReads:
    """What the contexts of a round share, read once: impressions and placed values per context, and merges."""

    impressions: dict[int, list[tuple[int, int, int]] | np.ndarray]
    values_of: dict[int, list[int]]
    resolution: dict[int, int]


def round_reads(
    *, round_id: int, assignment_watermark: int, stories: np.ndarray | None = None, impressions: bool = True
) -> RoundReads:
    """What the contexts share; impressions=False leaves the impressions to each part (decision 51)."""
    return RoundReads(
        impressions=selectors.impressions_at(
            round_id=round_id, assignment_watermark=assignment_watermark, stories=stories
        )
        if impressions
        else {},
        values_of=selectors.context_value_ids(round_id=round_id),
        resolution=selectors.value_resolution(round_id=round_id),
    )


def round_contexts(*, round_: Round):
    """The round's contexts in report order."""
    return Context.objects.filter(question__round=round_).order_by("question__order", "order", "id")


def round_inputs(*, round_: Round, watermark: int, assignment_watermark: int) -> Iterator[tuple[Context, dict]]:
    """Yield (context, rank_context's data arguments) for every context of the round, as of the watermark."""
    stories = selectors.round_stories(round_id=round_.pk)
    per_context = selectors.votes_at_watermark(round_id=round_.pk, watermark=watermark, stories=stories)
    shared = round_reads(round_id=round_.pk, assignment_watermark=assignment_watermark, stories=stories)
    groups = selectors.participant_groups(round_id=round_.pk)
    for context in round_contexts(round_=round_):
        yield context, _context_data(round_, context.pk, per_context.get(context.pk, EMPTY), shared, groups)


# The grouping answers read for the fan-out a worker process last ranked a part of (by the fan-out's token, unique
# to it): the process's other parts of that fan-out reuse them.
_fan_out_groups: dict[str, dict] = {}


def context_inputs(*, round_: Round, context_id: int, watermark: int, spec: "PartSpec") -> dict:
    """One context's arguments as of the watermark, its votes read alone (a part of a fanned-out ranking).

    The round's grouping answers are read once per fan-out and process (a process ranks several parts of it)."""
    stories = selectors.round_stories(round_id=round_.pk, context_id=context_id)
    votes = selectors.votes_at_watermark(
        round_id=round_.pk, watermark=watermark, stories=stories, context_id=context_id
    ).get(context_id, EMPTY)
    if spec.assignment_watermark is not None:
        # The part counts its own context's impressions (decision 51; parts packed before it carry theirs).
        spec.shared.impressions = selectors.impressions_at(
            round_id=round_.pk, assignment_watermark=spec.assignment_watermark, stories=stories
        )
    groups = _fan_out_groups.get(spec.token)
    if groups is None:
        groups = selectors.participant_groups(round_id=round_.pk)
        _fan_out_groups.clear()
        _fan_out_groups[spec.token] = groups
    return _context_data(round_, context_id, votes, spec.shared, groups)


def _context_data(round_: Round, context_id: int, votes: ContextVotes, shared: RoundReads, groups) -> dict:
    resolution = shared.resolution
    votes = resolve_merged(votes, resolution)
    # (from value, to value, count) rows, merged values resolved; a story that became a loop drops out.
    shown = np.asarray(shared.impressions.get(context_id, []), dtype=np.int64).reshape(-1, 3)
    if resolution and len(shown):
        lookup = _resolver(resolution)
        shown = np.column_stack([lookup(shown[:, 0]), lookup(shown[:, 1]), shown[:, 2]])
        shown = shown[shown[:, 0] != shown[:, 1]]
    placed = np.asarray(shared.values_of.get(context_id, []), dtype=np.int64)
    value_ids = np.union1d(placed, np.union1d(votes.src, votes.dst))
    return {
        "value_ids": value_ids.tolist(),
        "voter": votes.voter,
        "src": votes.src,
        "dst": votes.dst,
        "answer": votes.answer,
        "impressions": shown.tolist(),
        "voter_groups": selectors.voter_groups(round_=round_, voter_ids=votes.voter, groups=groups),
        "initial_scores": None,
    }


def _resolver(resolution: dict[int, int]):
    """A vectorised `resolution.get(id, id)` over an array of value ids."""
    merged = np.fromiter(resolution.keys(), dtype=np.int64, count=len(resolution))
    target = np.fromiter(resolution.values(), dtype=np.int64, count=len(resolution))
    order = np.argsort(merged)
    merged, target = merged[order], target[order]

    def lookup(ids: np.ndarray) -> np.ndarray:
        position = np.minimum(np.searchsorted(merged, ids), len(merged) - 1)
        return np.where(merged[position] == ids, target[position], ids)

    return lookup


def resolve_merged(votes: ContextVotes, resolution: dict[int, int]) -> ContextVotes:
    """Votes on a value merged into another count for that other value; a story that became a loop drops out."""
    if not resolution or len(votes.src) == 0:
        return votes
    lookup = _resolver(resolution)
    src, dst = lookup(votes.src), lookup(votes.dst)
    keep = src != dst
    return ContextVotes(voter=votes.voter[keep], src=src[keep], dst=dst[keep], answer=votes.answer[keep])


@dataclass
class PartSpec:
    """What a part task is handed: its context's share of the round's reads, and the previous run's snapshot of
    the context with the digest of its inputs (copied when the part's inputs have the same digest)."""

    shared: RoundReads
    previous: tuple[int, str] | None
    token: str
    # Set when the part counts its context's impressions itself, at this assignment watermark (decision 51).
    assignment_watermark: int | None = None


def pack_part(
    *,
    context_id: int,
    shared: RoundReads,
    previous: tuple[int, str] | None,
    token: str,
    assignment_watermark: int | None = None,
) -> bytes:
    """A part's spec as one small .npz (no pickles): kilobytes, not the context's votes. With assignment_watermark,
    the part counts its context's impressions itself (decision 51) and the spec has no impressions at all, so a
    worker still running the code before it fails the part loudly instead of ranking without impressions."""
    resolution = np.asarray(sorted(shared.resolution.items()), dtype=np.int64).reshape(-1, 2)
    arrays = {
        "context": np.asarray(context_id, dtype=np.int64),
        "values": np.asarray(shared.values_of.get(context_id, []), dtype=np.int64),
        "resolution": resolution,
        "previous_snapshot": np.asarray(-1 if previous is None else previous[0], dtype=np.int64),
        "previous_digest": np.asarray("" if previous is None else previous[1]),
        "token": np.asarray(token),
    }
    if assignment_watermark is None:
        arrays["impressions"] = np.asarray(shared.impressions.get(context_id, []), dtype=np.int64).reshape(-1, 3)
    else:
        arrays["assignment_watermark"] = np.asarray(assignment_watermark, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def unpack_part(blob: bytes) -> PartSpec:
    """The inverse of `pack_part`."""
    with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as f:
        context_id = int(f["context"])
        resolution = f["resolution"]
        shared = RoundReads(
            impressions={context_id: f["impressions"]} if "impressions" in f.files else {},
            values_of={context_id: f["values"].tolist()},
            resolution=dict(zip(resolution[:, 0].tolist(), resolution[:, 1].tolist(), strict=True)),
        )
        snapshot = int(f["previous_snapshot"])
        previous = None if snapshot < 0 else (snapshot, str(f["previous_digest"]))
        token = str(f["token"])
        watermark = int(f["assignment_watermark"]) if "assignment_watermark" in f.files else -1
    return PartSpec(
        shared=shared, previous=previous, token=token, assignment_watermark=None if watermark < 0 else watermark
    )
