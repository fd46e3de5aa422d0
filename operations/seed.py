"""Load the demo round: organizer, participants, cards, template stories and simulated votes."""
import json
import random
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from cards.models import CardMerge
from cards.services import card_submit, dedup_place_card
from deliberation.models import Participant, Round, Stage
from deliberation.services import participant_join, round_create, round_set_stage
from moral_graph.services import assignments_take, ranking_compute, stories_generate, vote_cast

DEMO_FILE = Path(__file__).resolve().parent / "demo" / "demo_round.json"
DEMO_USERNAME = "organizer"
DEMO_REASONS = [
    "The second way still protects the person, but trusts them more.",
    "This feels like growing up rather than giving something up.",
    "I am not sure the first value was wrong in this situation.",
    "The new focus keeps what was good about the old one.",
]


def load_demo_data(path: Path = DEMO_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _answer(rng: random.Random, *, wiser_move: bool) -> str:
    """A simulated, noisy judgement of one transition story."""
    roll = rng.random()
    if wiser_move:
        return "wiser" if roll < 0.78 else ("not_sure" if roll < 0.9 else "not_wiser")
    return "not_wiser" if roll < 0.62 else ("not_sure" if roll < 0.82 else "wiser")


def seed_demo(*, password: str | None = None, seed: int = 7) -> tuple[Round, str]:
    """Create the demo round from the demo file; returns the round and the organizer's password."""
    data = load_demo_data()
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    User = get_user_model()
    password = password or secrets.token_urlsafe(12)
    with transaction.atomic():
        organizer, _ = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"is_staff": False})
        organizer.set_password(password)
        organizer.save()
        round_ = round_create(
            owner=organizer,
            slug=data["slug"],
            title=data["title"],
            description=data.get("description", ""),
            question=data["question"],
            question_translations=data.get("question_translations"),
            translations=data.get("translations"),
            contexts=data["contexts"],
            attributes=data.get("attributes", []),
            stories_per_participant=data.get("stories_per_participant", 8),
            min_votes_per_story=data.get("min_votes_per_story", 5),
            report_visibility="public",
            report_live=True,
        )
        round_ = round_set_stage(round_=round_, actor=organizer, stage=Stage.ARTICULATION)
    contexts = {c.name: c for c in round_.questions.first().contexts.all()}
    card_family: dict[int, str] = {}
    participants: list[Participant] = []
    for entry in data["participants"]:
        participant = participant_join(
            round_=round_, consent=True, attributes=entry.get("attributes", {}), join_token=round_.join_token
        )
        Participant.objects.filter(pk=participant.pk).update(is_simulated=True, external_id=entry["pseudonym"])
        card = entry["card"]
        submitted = card_submit(
            participant=participant,
            context_id=contexts[card["context"]].pk,
            title=card["title"],
            description=card["description"],
            policies=card["policies"],
        )
        dedup_place_card(card_id=submitted.pk)
        card_family[submitted.pk] = card["value"]
        participants.append(participant)
    # Each canonical value stands for the family most of its cards belong to.
    families: dict[int, Counter] = {}
    for merge in CardMerge.objects.filter(card__round=round_, undone_at__isnull=True):
        families.setdefault(merge.value_id, Counter())[card_family.get(merge.card_id, "")] += 1
    value_family = {value_id: counts.most_common(1)[0][0] for value_id, counts in families.items()}
    round_ = round_set_stage(round_=round_, actor=organizer, stage=Stage.VOTING)
    stories_generate(round_id=round_.pk)
    order = {ctx: {key: i for i, key in enumerate(keys)} for ctx, keys in data["wisdom_order"].items()}
    with transaction.atomic():
        for participant in participants:
            participant.refresh_from_db()
            for story in assignments_take(participant=participant):
                ranks = order.get(story.context.name, {})
                a, b = value_family.get(story.from_value_id), value_family.get(story.to_value_id)
                wiser_move = ranks.get(b, 99) < ranks.get(a, 99)
                reason = rng.choice(DEMO_REASONS) if rng.random() < 0.25 else ""
                vote_cast(participant=participant, story_id=story.pk, answer=_answer(rng, wiser_move=wiser_move),
                          reason=reason)
    ranking_compute(round_id=round_.pk)
    round_.refresh_from_db()
    return round_, password
