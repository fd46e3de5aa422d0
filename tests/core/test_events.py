import pytest
from django.db import transaction

from core import events
from deliberation.services import RANKING_METHODS
from moral_graph import handlers
from moral_graph.ranking import METHODS


@pytest.fixture
def clean_event():
    name = "test.something_happened"
    yield name
    events._handlers.pop(name, None)


def test_emit_calls_each_handler_once_with_the_ids(clean_event):
    seen = []

    def handler(**ids):
        seen.append(ids)

    events.subscribe(clean_event, handler)
    events.subscribe(clean_event, handler)
    events.emit(clean_event, round_id=3)
    assert seen == [{"round_id": 3}]


@pytest.mark.django_db(transaction=True)
def test_emit_on_commit_waits_for_the_commit_and_skips_a_rollback(clean_event):
    seen = []
    events.subscribe(clean_event, lambda **ids: seen.append(ids["n"]))
    with transaction.atomic():
        events.emit_on_commit(clean_event, n=1)
        assert seen == []
    assert seen == [1]
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit_on_commit(clean_event, n=2)
        raise RuntimeError
    assert seen == [1]


def test_moral_graph_subscribes_to_the_lower_apps_events():
    assert handlers.on_round_stage_changed in events.handlers(events.ROUND_STAGE_CHANGED)
    assert handlers.on_value_founded in events.handlers(events.VALUE_FOUNDED)
    assert handlers.on_merges_changed in events.handlers(events.MERGES_CHANGED)
    assert RANKING_METHODS == list(METHODS)
