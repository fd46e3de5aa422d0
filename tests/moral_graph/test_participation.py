"""Figures count what they say: finished, grouping confirmations and time, built from a known population; the
report and the organizers' console read them from one selector."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cards.models import CardMerge
from cards.services import merge_confirm
from deliberation.models import Participant
from moral_graph import services as graph_services
from moral_graph.selectors.dashboard import dashboard_figures
from moral_graph.selectors.participation import participation_figures
from moral_graph.selectors.report import report_build
from tests.factories import voting_round


@pytest.mark.django_db
def test_finished_confirmations_and_time_count_a_known_population():
    round_, people = voting_round("figures", people=8)
    founders, grouped = people[:4], people[4:]
    for person in grouped:
        merge = CardMerge.objects.get(card__author=person, undone_at__isnull=True)
        assert merge.value.merges.exclude(card__author=person).exists(), "the second card of a family is grouped"
    joined = timezone.now() - timedelta(minutes=30)
    Participant.objects.filter(round=round_).update(joined_at=joined)

    everything, partly, pressed = people[0], people[1], people[2]
    stories = graph_services.assignments_take(participant=everything)
    for story in stories:
        graph_services.vote_cast(participant=everything, story_id=story.pk, answer="wiser")
    partial = graph_services.assignments_take(participant=partly)
    for story in partial[:-1]:
        graph_services.vote_cast(participant=partly, story_id=story.pk, answer="not_wiser")
    Participant.objects.filter(pk=pressed.pk).update(finished_at=joined + timedelta(minutes=10))
    # "Finished": people[0] voted on every story given to them; people[2] pressed Finish; people[1] left one
    # story; the others were given none.

    # Two grouped authors answer: one yes, one no. A founder's "no" is not about a merge and is not counted.
    merge_confirm(participant=grouped[0], card=grouped[0].cards.get(), answer="same")
    merge_confirm(participant=grouped[1], card=grouped[1].cards.get(), answer="different")
    merge_confirm(participant=founders[3], card=founders[3].cards.get(), answer="different")

    figures = participation_figures(round_=round_)
    assert figures["joined"] == 8 and figures["finished"] == 2
    assert figures["votes"] == len(stories) + len(partial) - 1 and figures["voters"] == 2
    assert figures["confirmations"] == 2 and figures["confirmationRate"] == 0.5
    last_vote = everything.votes.order_by("-created_at").first().created_at
    expected = sorted([10.0, (last_vote - joined).total_seconds() / 60])
    assert figures["medianMinutes"] == pytest.approx(sum(expected) / 2, abs=0.01)

    report = report_build(round_=round_)["participation"]
    console = dashboard_figures(round_)
    assert (report["finished"], report["confirmations"], report["confirmationRate"], report["medianMinutes"]) == (
        console["finished"],
        console["confirmations"],
        console["confirmation_rate"],
        console["median_minutes"],
    )
    assert (report["joined"], report["votes"], report["cards"]) == (
        console["participants"],
        console["votes"],
        console["cards"],
    )


@pytest.mark.django_db
def test_the_console_shows_the_same_finished_count_and_grouping_share():
    round_, people = voting_round("figures-page", people=8)
    for story in graph_services.assignments_take(participant=people[0]):
        graph_services.vote_cast(participant=people[0], story_id=story.pk, answer="wiser")
    merge_confirm(participant=people[4], card=people[4].cards.get(), answer="same")
    client = Client()
    client.force_login(round_.roles.get(role="owner").user)
    page = client.get(f"/console/{round_.slug}/live/").content.decode()
    assert "<dt>Finished</dt><dd>1</dd>" in page
    assert "Grouping confirmed: 100% of 1 answers" in page
