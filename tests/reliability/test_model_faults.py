"""The model server failing, slow or answering garbage during deduplication: cards are placed or wait, never lost."""

import pytest

from cards.models import CardMerge, ValuesCard
from cards.services import card_submit, card_vectors
from cards.tasks import MAX_DEDUP_ATTEMPTS, dedup_card
from llm import offline
from llm.models import LLMCall, Outcome
from operations.tasks import sweep_pending_work
from tests.factories import FAMILIES, join, make_round
from tests.fake_openai import Behaviour, disconnect, error, malformed, slow
from tests.reliability.invariants import assert_cards_kept

pytestmark = pytest.mark.django_db(transaction=True)

FAULTS = {
    "server error": error(500),
    "rate limited": error(429, retry_after=0.01),
    "slower than the timeout": slow(2),
    "cut-off JSON": malformed(),
    "hang-up": disconnect(),
    "too few vectors": Behaviour(raw_body=b'{"object": "list", "data": [], "model": "x"}'),
    "not an embedding": Behaviour(raw_body=b'{"object": "list", "data": [{"index": 0, "embedding": "zz"}]}'),
}


def _submit_three(round_):
    cards = []
    for family, variant in [("honesty", 0), ("honesty", 1), ("safety", 0)]:
        title, description, policies = FAMILIES[family][variant]
        cards.append(
            card_submit(
                participant=join(round_),
                context_id=round_.questions.first().contexts.first().pk,
                title=title,
                description=description,
                policies=policies,
            )
        )
    return cards


@pytest.mark.parametrize("fault", list(FAULTS))
def test_cards_are_placed_with_the_offline_model_when_the_model_server_fails(fault, fake_openai, settings):
    settings.WISER_LLM_TIMEOUT = 0.5
    settings.WISER_LLM_MAX_RETRIES = 1
    fake_openai.always(FAULTS[fault])
    round_ = make_round(slug="model-faults")
    cards = _submit_three(round_)  # placed in-process on commit, as a worker would
    assert fake_openai.requests_to("/embeddings"), "the model server was asked"
    for card in cards:
        card.refresh_from_db()
        assert card.dedup_status in (ValuesCard.DedupStatus.PLACED, ValuesCard.DedupStatus.REVIEW)
        assert card_vectors(card).shape[1] == offline.DIMENSIONS
    assert LLMCall.objects.filter(kind="embed", outcome=Outcome.ERROR).exists()
    assert_cards_kept([c.pk for c in cards])
    assert CardMerge.objects.filter(card__in=cards).count() == 3
    honest_a, honest_b, safety = cards
    # The judge fails as well, so the second honesty card (a doubtful pair, not a copy) is not merged on the
    # embeddings alone: it founds its own value and waits for review (precision over recall, docs/dedup.md).
    assert honest_b.dedup_status == ValuesCard.DedupStatus.REVIEW
    assert CardMerge.objects.get(card=honest_a).value_id != CardMerge.objects.get(card=honest_b).value_id
    assert CardMerge.objects.get(card=safety).value_id != CardMerge.objects.get(card=honest_a).value_id


def test_with_no_model_at_all_a_card_waits_then_goes_to_review_and_is_never_lost(
    fake_openai, settings, monkeypatch
):
    settings.WISER_SWEEP_GRACE_SECONDS = 0
    settings.WISER_SWEEP_LOST_AFTER_SECONDS = 0
    fake_openai.always(error(500))

    def broken(*args, **kwargs):
        raise offline.OfflineModelError("the offline model is missing")

    monkeypatch.setattr(offline, "embed_texts", broken)
    round_ = make_round(slug="no-model")
    title, description, policies = FAMILIES["honesty"][0]
    card = card_submit(  # its task fails in-process on commit; the failure is logged and the card is kept
        participant=join(round_),
        context_id=round_.questions.first().contexts.first().pk,
        title=title,
        description=description,
        policies=policies,
    )
    card.refresh_from_db()
    assert card.dedup_status == ValuesCard.DedupStatus.PENDING and card.dedup_attempts == 1
    for attempt in range(2, MAX_DEDUP_ATTEMPTS + 1):
        with pytest.raises(offline.OfflineModelError):
            sweep_pending_work()
        assert ValuesCard.objects.get(pk=card.pk).dedup_attempts == attempt
    swept = sweep_pending_work()
    assert swept == {"cards": 0, "review": 1, "rounds": 0, "lost_rankings": 0}
    card.refresh_from_db()
    assert card.dedup_status == ValuesCard.DedupStatus.REVIEW
    assert_cards_kept([card.pk])
    monkeypatch.undo()
    fake_openai.always(None)
    dedup_card.apply(args=(card.pk,)).get()
    assert ValuesCard.objects.get(pk=card.pk).dedup_status == ValuesCard.DedupStatus.REVIEW
