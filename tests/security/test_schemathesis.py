"""Property-based API testing with schemathesis against a live server: no 5xx, every response as documented.

The OpenAPI schema is read from the running server (`GET /api/v1/schema/`); schemathesis generates requests
for every operation from it, as the owner (API token) and as a participant (participant token) of a round in
voting, with the path parameters pointing at that round's real objects so requests get past the 404s.
Generation is derandomized (a fixed seed), so a run is reproducible.
"""

import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cards.models import ArticulationSession
from deliberation.auth import participant_token
from moral_graph.models import RankingRun, TransitionStory, WiserVote
from tests.security.conftest import build_world

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# `make test` sends about 1,300 requests; .ci/run runs this test again with WISER_FUZZ_EXAMPLES=50 and
# WISER_FUZZ_MINIMUM=3000 (4,232 requests at 50; see docs/reliability.md).
EXAMPLES_PER_OPERATION = int(os.environ.get("WISER_FUZZ_EXAMPLES", "15"))
MINIMUM_REQUESTS = int(os.environ.get("WISER_FUZZ_MINIMUM", "1000"))
UNLIMITED = dict.fromkeys(
    (
        "guidance",
        "articulation",
        "api_auth",
        "join:ip",
        "card:ip",
        "card:participant",
        "chat:ip",
        "chat:participant",
        "vote:ip",
        "vote:participant",
    ),
    "1000000/m",
)


def _path_values(world) -> dict:
    participant = world.participants[0]
    card = participant.cards.first()
    vote = WiserVote.objects.filter(participant=participant).first()
    open_story = (
        TransitionStory.objects.filter(round=world.round).exclude(votes__participant=participant).first()
    )
    session = ArticulationSession.objects.create(participant=participant, context_id=card.context_id)
    return {
        "slug": world.round.slug,
        "card_id": card.pk,
        "story_id": (open_story or vote.story).pk,
        "vote_id": vote.pk,
        "value_id": card.merges.get(undone_at__isnull=True).value_id,
        "run_id": RankingRun.objects.filter(round=world.round).first().pk,
        "kind": "json",
        "session_id": session.pk,
    }


def _fuzz(schema, *, base_url: str, headers: dict, path_values: dict, failures: list) -> Counter:
    """Send up to EXAMPLES_PER_OPERATION generated requests per operation; count (operation, status) pairs sent."""
    sent: Counter = Counter()
    # The participant's DELETE me/ ends their token, so it runs last.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: (op.method.upper() == "DELETE", op.method, op.path),
    )
    session = requests.Session()
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in path_values.items() if k in names}
        _fuzz_operation(
            operation,
            fixed,
            base_url=base_url,
            headers=headers,
            session=session,
            sent=sent,
            failures=failures,
        )
    return sent


def _fuzz_operation(
    operation, fixed: dict, *, base_url, headers, session, sent: Counter, failures: list
) -> None:
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(path_parameters=fixed))
    def run(case):
        response = case.call(base_url=base_url, headers=headers, session=session)
        sent[(operation.label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            failures.extend(
                f"{case.method} {case.formatted_path} -> {response.status_code}: {type(exc).__name__}: "
                f"{str(exc)[:300]}"
                for exc in group.exceptions
            )

    run()


@pytest.mark.django_db(transaction=True)
def test_generated_requests_get_no_server_error_and_documented_responses(live_server, settings, fake_openai):
    settings.WISER_RATE_LIMITS = UNLIMITED
    world = build_world(slug="fuzz")
    owner_token = Token.objects.create(user=world.users["owner"]).key
    path_values = _path_values(world)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/?format=json")
    operations = {result.ok().label for result in schema.get_all_operations()}
    failures: list[str] = []
    passes = {
        "participant": (
            {"Authorization": f"Participant {participant_token(world.participants[0])}"},
            path_values,
        ),
        "owner": ({"Authorization": f"Token {owner_token}"}, path_values),
        # Anonymous, with generated ids (only the round is real).
        "anonymous": ({}, {"slug": world.round.slug}),
    }
    started = time.monotonic()
    sent = {
        name: _fuzz(schema, base_url=live_server.url, headers=headers, path_values=fixed, failures=failures)
        for name, (headers, fixed) in passes.items()
    }
    total = sum(sum(counts.values()) for counts in sent.values())
    by_role = {name: sum(counts.values()) for name, counts in sent.items()}
    server_errors = sum(n for counts in sent.values() for (_, code), n in counts.items() if code >= 500)
    print(
        f"\nschemathesis: {total} requests {by_role} over {len(operations)} operations in "
        f"{time.monotonic() - started:.0f} s; {server_errors} server errors, {len(failures)} failed checks"
    )
    assert not failures, f"{len(failures)} failed checks in {total} requests:\n" + "\n".join(failures[:40])
    assert total >= MINIMUM_REQUESTS
    for name, counts in sent.items():
        assert {label for label, _ in counts} == operations, f"{name}: every operation was called"
    succeeded = {
        name: {label for (label, code), _ in counts.items() if code < 300} for name, counts in sent.items()
    }
    assert len(succeeded["participant"]) >= 15 and len(succeeded["owner"]) >= 15, succeeded
