"""Placing cards into canonical values: the review band, splits, organizer merges, and concurrent placement."""
import threading

import pytest
from django.db import connection

from cards.models import CanonicalValue, CardMerge, MergeConfirmation, ValuesCard
from cards.services import card_reassign, card_submit, dedup_place_card, merge_confirm, value_merge
from core.errors import Forbidden
from deliberation.models import Round, Stage
from moral_graph import services as graph_services
from moral_graph.models import RankingSnapshot
from tests.factories import FAMILIES, UserFactory, grant, join, make_round, submit


@pytest.mark.django_db
def test_paraphrases_merge_and_different_values_stay_apart():
    round_ = make_round(slug="placement")
    for family in FAMILIES:
        for variant in range(3):
            submit(join(round_), family=family, variant=variant)
    assert ValuesCard.objects.count() == 12
    assert CardMerge.objects.filter(undone_at__isnull=True).count() == 12
    members: dict[int, set[str]] = {}
    for merge in CardMerge.objects.filter(undone_at__isnull=True).select_related("card"):
        family = next(f for f, vs in FAMILIES.items() if any(v[0] == merge.card.title for v in vs))
        members.setdefault(merge.value_id, set()).add(family)
    assert all(len(families) == 1 for families in members.values()), members
    assert len(members) < 12


@pytest.mark.django_db
def test_answering_no_splits_the_card_out_and_keeps_it():
    round_ = make_round(slug="split")
    first, second = join(round_), join(round_)
    submit(first, family="autonomy", variant=0)
    card = submit(second, family="autonomy", variant=2)
    merge = CardMerge.objects.get(card=card, undone_at__isnull=True)
    shared_value = merge.value_id
    assert CardMerge.objects.filter(value_id=shared_value, undone_at__isnull=True).count() == 2
    merge_confirm(participant=second, card=card, answer="different")
    assert MergeConfirmation.objects.get(merge=merge).answer == "different"
    now = CardMerge.objects.get(card=card, undone_at__isnull=True)
    assert now.value_id != shared_value and now.origin == CardMerge.Origin.SPLIT
    assert ValuesCard.objects.filter(pk=card.pk).exists()
    with pytest.raises(Forbidden):
        merge_confirm(participant=first, card=card, answer="same")


@pytest.mark.django_db
def test_organizer_merge_and_reassign_conserve_votes():
    round_ = make_round(slug="merge", stories_per_participant=6, min_votes_per_story=1)
    owner = round_.roles.get().user
    people = [join(round_) for _ in range(4)]
    for person, family in zip(people, FAMILIES, strict=True):
        submit(person, family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    for person in people:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    run = graph_services.ranking_compute(round_id=round_.pk)
    context = round_.questions.first().contexts.first()
    before = RankingSnapshot.objects.get(run=run, context=context).results
    total_before = sum(
        sum(e["counts"][k] for k in ("markedWiser", "markedNotWiser", "markedUnsure")) for e in before["edges"]
    )
    values = list(CanonicalValue.objects.filter(round=round_, is_active=True).order_by("id"))
    viewer = UserFactory(username="viewer")
    grant(round_, viewer, "viewer")
    with pytest.raises(Forbidden):
        value_merge(actor=viewer, source=values[1], target=values[0])
    value_merge(actor=owner, source=values[1], target=values[0])
    assert CanonicalValue.objects.get(pk=values[1].pk).is_active is False
    run2 = graph_services.ranking_compute(round_id=round_.pk)
    after = RankingSnapshot.objects.get(run=run2, context=context).results
    ids = {v["valueId"] for v in after["values"]}
    assert values[1].pk not in ids and values[0].pk in ids
    # Votes between the two merged values became loops and drop out; every other vote is still counted.
    dropped = sum(
        sum(e["counts"][k] for k in ("markedWiser", "markedNotWiser", "markedUnsure"))
        for e in before["edges"]
        if {e["sourceValueId"], e["wiserValueId"]} == {values[0].pk, values[1].pk}
    )
    total_after = sum(
        sum(e["counts"][k] for k in ("markedWiser", "markedNotWiser", "markedUnsure")) for e in after["edges"]
    )
    assert total_after == total_before - dropped
    card = ValuesCard.objects.filter(round=round_).first()
    merge = card_reassign(actor=owner, card=card, target=None)
    assert merge.origin == CardMerge.Origin.ORGANIZER
    assert CardMerge.objects.filter(card=card).count() >= 2


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_cards_of_the_same_new_value_placed_at_the_same_moment_end_in_one_value():
    assert connection.vendor == "postgresql"
    round_ = make_round(slug="race")
    cards = []
    for variant in (0, 1):
        person = join(round_)
        title, description, policies = FAMILIES["safety"][variant]
        cards.append(card_submit(participant=person, context_id=round_.questions.first().contexts.first().pk,
                                 title=title, description=description, policies=policies))
    # on_commit already placed them in eager mode: undo that, so both are pending again and race.
    CardMerge.objects.all().delete()
    CanonicalValue.objects.all().delete()
    ValuesCard.objects.update(dedup_status=ValuesCard.DedupStatus.PENDING)
    barrier = threading.Barrier(2)
    errors = []

    def place(card_id):
        try:
            barrier.wait(timeout=10)
            dedup_place_card(card_id=card_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(card.pk,)) for card in cards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert CanonicalValue.objects.filter(round=round_).count() == 1
    assert CardMerge.objects.filter(undone_at__isnull=True).count() == 2
