"""Published means frozen: a re-rank never changes what readers of a published round see; another run reaches them
only when an organizer publishes it, with a reason the report states, and the earlier version stays readable."""

import pytest
from rest_framework.test import APIClient

from deliberation.models import AuditEvent, Participant, Round, Stage
from moral_graph import services as graph_services
from moral_graph.models import RankingRun
from tests.factories import join, make_round, submit


def _published_round(slug: str) -> tuple[Round, APIClient]:
    round_ = make_round(slug=slug, stories_per_participant=4, min_votes_per_story=1)
    for party, family in zip(("Left", "Right", "Left", "Other"), ("autonomy", "safety", "honesty", "community"),
                             strict=True):
        submit(join(round_, party=party), family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    for person in Participant.objects.filter(round=round_).select_related("round"):
        for i, story in enumerate(graph_services.assignments_take(participant=person)):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer=["wiser", "not_wiser"][i % 2])
    graph_services.ranking_compute(round_id=round_.pk)
    client = APIClient()
    client.force_login(round_.roles.get(role="owner").user)
    for stage in ("closed", "published"):
        assert client.post(f"/api/v1/rounds/{slug}/stage/", {"stage": stage}, format="json").status_code == 200
    round_.refresh_from_db()
    return round_, client


def _public_report(slug: str) -> dict:
    response = APIClient().get(f"/api/v1/rounds/{slug}/report/?values=all")
    assert response.status_code == 200
    return response.json()


def _rankings(report: dict) -> list:
    return [(c["id"], c["support"], [(v["valueId"], v["score"]) for v in c["values"]])
            for q in report["questions"] for c in q["contexts"]]


@pytest.mark.django_db
def test_a_rerank_of_a_published_round_leaves_the_public_report_as_published(django_capture_on_commit_callbacks):
    round_, owner = _published_round("frozen")
    Round.objects.filter(pk=round_.pk).update(report_visibility="public")
    before = _public_report("frozen")
    published_run = before["ranking"]["runId"]
    assert before["ranking"]["method"] == "bt" and before["ranking"]["version"] == "published"
    assert not before["ranking"]["revised"]

    assert owner.patch("/api/v1/rounds/frozen/", {"ranking_method": "mai_pagerank"}, format="json").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post("/api/v1/rounds/frozen/rank/", {"method": "mai_pagerank"}, format="json").status_code == 202
    newest = RankingRun.objects.filter(round=round_).latest("id")
    assert newest.method == "mai_pagerank" and newest.pk != published_run, "the re-rank made a new run"

    after = _public_report("frozen")
    assert after["ranking"]["runId"] == published_run and after["ranking"]["method"] == "bt"
    assert _rankings(after) == _rankings(before), "readers still see the published run"
    assert after["methodology"]["runId"] == published_run
    guidance_run = APIClient().get("/api/v1/rounds/frozen/exports/json/").json()["parameters"]["runId"]
    assert guidance_run == published_run, "exports follow the published run too"

    actions = list(AuditEvent.objects.filter(round=round_).values_list("action", flat=True))
    assert "ranking.rank" in actions and "round.update" in actions
    update = AuditEvent.objects.get(round=round_, action="round.update")
    assert update.data["changes"]["ranking_method"] == {"from": "bt", "to": "mai_pagerank"}
    publish = AuditEvent.objects.filter(round=round_, action="round.stage", data__to="published").get()
    assert publish.data["run"] == published_run


@pytest.mark.django_db
def test_publishing_another_run_needs_a_reason_is_logged_and_the_report_says_it_was_revised():
    round_, owner = _published_round("revised")
    Round.objects.filter(pk=round_.pk).update(report_visibility="public")
    first = round_.published_ranking_id
    newer = graph_services.ranking_compute(round_id=round_.pk, method="mai_pagerank")
    assert newer.pk != first

    url = f"/api/v1/rounds/revised/rankings/{newer.pk}/publish/"
    missing = owner.post(url, {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    assert APIClient().post(url, {"reason": "x"}, format="json").status_code in (401, 403)
    preview = owner.get(f"/api/v1/rounds/revised/report/?run={newer.pk}").json()
    assert preview["ranking"]["version"] == "unpublished" and preview["ranking"]["publicRunId"] == first
    assert APIClient().get(f"/api/v1/rounds/revised/report/?run={newer.pk}").status_code == 404, (
        "an unpublished run is not for readers"
    )

    done = owner.post(url, {"reason": "A duplicate value was merged after publication."}, format="json")
    assert done.status_code == 200
    assert owner.post(url, {"reason": "again"}, format="json").status_code == 409

    report = _public_report("revised")
    assert report["ranking"]["runId"] == newer.pk and report["ranking"]["method"] == "mai_pagerank"
    revision = report["ranking"]["revision"]
    assert report["ranking"]["revised"] and revision["previousRunId"] == first
    assert revision["reason"] == "A duplicate value was merged after publication." and revision["revisedAt"]
    event = AuditEvent.objects.get(round=round_, action="ranking.publish")
    assert event.data["run"] == newer.pk and event.data["previous"] == first and event.data["reason"]

    earlier = APIClient().get(f"/api/v1/rounds/revised/report/?run={first}").json()
    assert earlier["ranking"]["runId"] == first and earlier["ranking"]["version"] == "earlier"
    exported = APIClient().get(f"/api/v1/rounds/revised/exports/json/?run={first}")
    assert exported.status_code == 200 and exported.json()["parameters"]["runId"] == first

    page = APIClient().get("/r/revised/report/").content.decode()
    assert "Revised on" in page and "A duplicate value was merged after publication." in page
    assert f"?run={first}" in page
    old_page = APIClient().get(f"/r/revised/report/?run={first}").content.decode()
    assert "earlier version" in old_page


@pytest.mark.django_db
def test_a_round_published_again_after_a_step_back_keeps_what_readers_saw():
    round_, owner = _published_round("again")
    first = round_.published_ranking_id
    graph_services.ranking_compute(round_id=round_.pk, method="mai_pagerank")
    for stage in ("closed", "published"):
        assert owner.post("/api/v1/rounds/again/stage/", {"stage": stage}, format="json").status_code == 200
    round_.refresh_from_db()
    assert round_.published_ranking_id == first
