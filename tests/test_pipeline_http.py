"""The whole pipeline through HTTP: join -> card -> stories -> votes -> ranking -> report."""
import random

import pytest
from rest_framework.test import APIClient

from cards.models import CanonicalValue, CardMerge, ValuesCard
from deliberation.models import Round
from moral_graph.models import RankingRun, WiserVote
from tests.factories import CONTEXTS, FAMILIES, PLANTED_ORDER, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _participant_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Participant {token}")
    return client


def _create_round(organizer) -> dict:
    client = APIClient()
    client.force_authenticate(organizer)
    response = client.post(
        "/api/v1/rounds/",
        {
            "slug": "pipeline",
            "title": "Pipeline round",
            "question": "How should an AI assistant answer a girl who is considering an abortion?",
            "contexts": CONTEXTS,
            "attributes": [{"key": "party", "label": "Party", "choices": ["Left", "Right"], "grouping": True}],
            "stories_per_participant": 6,
            "min_votes_per_story": 3,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert client.post("/api/v1/rounds/pipeline/stage/", {"stage": "articulation"}, format="json").status_code == 200
    return {"client": client, "round": response.json()}


def test_the_whole_pipeline_through_http():
    organizer = UserFactory(username="owner")
    created = _create_round(organizer)
    organizer_client, round_data = created["client"], created["round"]
    contexts = round_data["questions"][0]["contexts"]
    assert [c["name"] for c in contexts] == CONTEXTS
    join_token = Round.objects.get(slug="pipeline").join_token

    # Twelve participants join by the open link and each submits a card: 4 values, 3 articulations each.
    anonymous = APIClient()
    participants = []
    for index, (family, variants) in enumerate(
        (family, variant) for family in FAMILIES for variant in range(3)
    ):
        joined = anonymous.post(
            "/api/v1/rounds/pipeline/join/",
            {"token": join_token, "consent": True, "attributes": {"party": ["Left", "Right"][index % 2]}},
            format="json",
        )
        assert joined.status_code == 201, joined.content
        client = _participant_client(joined.json()["token"])
        title, description, policies = FAMILIES[family][variants]
        card = client.post(
            "/api/v1/rounds/pipeline/cards/",
            {"context": contexts[index % 2]["id"], "title": title, "description": description, "policies": policies},
            format="json",
        )
        assert card.status_code == 201, card.content
        participants.append((family, client))

    # Deduplication merged paraphrases: fewer canonical values than cards, every card placed, none deleted.
    assert ValuesCard.objects.count() == 12
    assert CardMerge.objects.filter(undone_at__isnull=True).count() == 12
    values = organizer_client.get("/api/v1/rounds/pipeline/values/").json()["results"]
    assert 4 <= len(values) < 12
    family_of_value = {}
    for merge in CardMerge.objects.filter(undone_at__isnull=True).select_related("card"):
        family = next(f for f, variants in FAMILIES.items() if any(v[0] == merge.card.title for v in variants))
        family_of_value.setdefault(merge.value_id, set()).add(family)
    assert all(len(families) == 1 for families in family_of_value.values()), family_of_value

    # Each participant confirms their value.
    for _, client in participants:
        card = client.get("/api/v1/rounds/pipeline/cards/").json()["results"][0]
        assert card["value"] is not None
        confirmed = client.post(f"/api/v1/cards/{card['id']}/confirm/", {"answer": "same"}, format="json")
        assert confirmed.status_code == 200, confirmed.content

    # Voting: stories are generated, assigned, and voted on following the planted order.
    assert organizer_client.post("/api/v1/rounds/pipeline/stage/", {"stage": "voting"}, format="json").status_code == 200
    rng = random.Random(3)
    rank = {family: i for i, family in enumerate(PLANTED_ORDER)}
    n_votes = 0
    for _, client in participants:
        stories = client.post("/api/v1/rounds/pipeline/stories/assigned/").json()
        assert stories, "every participant gets stories"
        assert len({s["id"] for s in stories}) == len(stories)
        for story in stories:
            if story["vote"] is not None:
                continue
            src = next(iter(family_of_value[story["from_value"]["id"]]))
            dst = next(iter(family_of_value[story["to_value"]["id"]]))
            wiser = rank[dst] < rank[src]
            # One answer in ten is "not sure"; none contradicts the planted order. With three votes per story,
            # contradicting noise made the top two families swap in about one ordering of ids in sixteen.
            # Rankings under noise are tested by the simulations in tests/moral_graph/test_soundness.py.
            answer = "not_sure" if rng.random() < 0.1 else ("wiser" if wiser else "not_wiser")
            response = client.post(f"/api/v1/stories/{story['id']}/vote/", {"answer": answer}, format="json")
            assert response.status_code == 201, response.content
            n_votes += 1
    assert WiserVote.objects.count() == n_votes > 0

    # Ranking (a Celery task, in-process here) and the report.
    assert organizer_client.post("/api/v1/rounds/pipeline/rank/", {}, format="json").status_code == 202
    assert RankingRun.objects.filter(status="published").count() == 1
    report = organizer_client.get("/api/v1/rounds/pipeline/report/").json()
    assert report["ranking"]["watermark"] > 0
    ranked_contexts = report["questions"][0]["contexts"]
    assert [c["name"] for c in ranked_contexts] == CONTEXTS
    for ctx in ranked_contexts:
        assert ctx["values"], ctx
        scores = [v["score"] for v in ctx["values"]]
        assert scores == sorted(scores, reverse=True)
        assert abs(sum(scores) - 1) < 1e-6
        for v in ctx["values"]:
            assert v["scoreInterval"][0] <= v["score"] <= v["scoreInterval"][1] + 1e-9
            assert CanonicalValue.objects.filter(pk=v["valueId"]).exists()
        # The best-placed family that appears in this context wins it.
        present = [next(iter(family_of_value[v["valueId"]])) for v in ctx["values"]]
        assert present[0] == min(present, key=rank.get), present
