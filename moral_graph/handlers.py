"""What moral_graph does when a lower app announces a change (core.events; subscribed in apps.py)."""

from core.queue import enqueue_on_commit
from deliberation.models import Stage
from moral_graph.services import mark_ranking_dirty
from moral_graph.tasks import generate_stories, rank_round


def on_round_stage_changed(*, round_id: int, stage: str, previous: str) -> None:
    """Voting needs stories; a closed round gets its final ranking."""
    if stage == Stage.VOTING:
        enqueue_on_commit(generate_stories, round_id)
    if stage == Stage.CLOSED:
        enqueue_on_commit(rank_round, round_id)


def on_value_founded(*, round_id: int, value_id: int) -> None:
    """A value founded while voting is open gets stories (cards emits this only during voting)."""
    enqueue_on_commit(generate_stories, round_id)


def on_merges_changed(*, round_id: int) -> None:
    """Cards moved between values: the graph's structure changed, so the ranking is stale."""
    mark_ranking_dirty(round_id, structural=True)
