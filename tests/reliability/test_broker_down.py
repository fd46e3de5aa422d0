"""Redis down while participants vote: votes are still accepted; once Redis is back the sweeper catches up."""

import logging

import pytest
from rest_framework.test import APIClient

from deliberation.auth import participant_token
from deliberation.models import Round
from moral_graph import selectors, services
from moral_graph.models import RankingRun
from operations.tasks import sweep_pending_work
from tests.factories import voting_round
from tests.reliability.conftest import broker, wait_for
from tests.reliability.invariants import (
    assert_current_ranking_is_up_to_date,
    assert_snapshots_reproduce,
    assert_votes_stored_once,
    cast_votes,
)

pytestmark = [
    pytest.mark.needs_worker,
    pytest.mark.needs_redis,
    pytest.mark.needs_postgres,
    pytest.mark.django_db(transaction=True),
]


def test_votes_are_accepted_while_redis_is_down_and_the_ranking_catches_up(
    private_redis, start_worker, sweeper_now, caplog
):
    round_, people = voting_round("redis-down")
    expected = cast_votes(people[:3])
    first = services.ranking_compute(round_id=round_.pk)
    with broker(private_redis.url):
        worker = start_worker("w")
        private_redis.stop()
        with caplog.at_level(logging.ERROR, logger="core.queue"):
            for person in people[3:]:
                client = APIClient()
                client.credentials(HTTP_AUTHORIZATION=f"Participant {participant_token(person)}")
                stories = client.post(f"/api/v1/rounds/{round_.slug}/stories/assigned/")
                assert stories.status_code == 200
                for story in stories.json():
                    answer = "wiser" if story["to_value"]["id"] > story["from_value"]["id"] else "not_wiser"
                    response = client.post(
                        f"/api/v1/stories/{story['id']}/vote/", {"answer": answer}, format="json"
                    )
                    assert response.status_code == 201, response.content
                    expected[(person.pk, story["id"])] = answer
        assert "could not enqueue moral_graph.tasks.rank_round" in caplog.text
        assert_votes_stored_once(round_, expected)
        assert Round.objects.get(pk=round_.pk).ranking_dirty_since is not None
        assert RankingRun.objects.filter(round=round_).count() == 1

        private_redis.start()  # same port: the worker reconnects by itself
        assert sweep_pending_work()["rounds"] == 1
        wait_for(
            lambda: RankingRun.objects.filter(
                round=round_, watermark=selectors.round_watermark(round_id=round_.pk)
            ).exists(),
            timeout=90,
            what="the ranking to catch up",
            workers=[worker],
        )
    run = assert_current_ranking_is_up_to_date(round_)
    assert run.pk != first.pk
    assert_votes_stored_once(round_, expected)
    assert_snapshots_reproduce(round_)
