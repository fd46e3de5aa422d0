"""Deduplicate a file of values cards with the placement code of live cards, and write the assignment as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cards import dedup
from cards.services import dedup_scratch_run

SHAPES = (
    "Wiser's {id, title, description, policies, question?} or MAI's values_cards.json "
    "{id, title, instructionsShort, evaluationCriteria}"
)


def read_cards(path: Path) -> list[tuple[str, dedup.CardText, str | None]]:
    """The cards of a JSON list, in file order: (id as text, card, question or None). Raises CommandError naming
    the card and what is wrong with it."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as missing:
        raise CommandError(f"{path}: no such file") from missing
    except (OSError, UnicodeDecodeError) as unreadable:
        raise CommandError(f"{path}: cannot read it ({unreadable})") from unreadable
    except json.JSONDecodeError as bad:
        raise CommandError(f"{path}: not valid JSON ({bad.msg}, line {bad.lineno})") from bad
    if not isinstance(items, list):
        raise CommandError(f"{path}: expected a JSON list of cards, {SHAPES}")
    if not items:
        raise CommandError(f"{path}: the list holds no cards")
    cards: list[tuple[str, dedup.CardText, str | None]] = []
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        where = f"{path}, card {number}"
        if not isinstance(item, dict):
            raise CommandError(f"{where}: expected an object, {SHAPES}")
        card_id = item.get("id")
        if isinstance(card_id, bool) or not isinstance(card_id, int | str) or not str(card_id).strip():
            raise CommandError(f"{where}: 'id' must be a number or a text")
        card_id = str(card_id).strip()
        where = f"{path}, card {number} (id {card_id})"
        if card_id in seen:
            raise CommandError(f"{where}: the id is used by an earlier card")
        seen.add(card_id)
        if "policies" in item:
            mapping = item
        elif "evaluationCriteria" in item:
            mapping = {
                "title": item.get("title"),
                "description": item.get("instructionsShort", ""),
                "policies": item.get("evaluationCriteria"),
            }
        else:
            raise CommandError(f"{where}: no 'policies' (Wiser's shape) or 'evaluationCriteria' (MAI's shape)")
        try:
            text = dedup.CardText.from_mapping(mapping)
        except ValueError as wrong:
            raise CommandError(f"{where}: {wrong}") from wrong
        question = item.get("question")
        if question is not None and (isinstance(question, bool) or not isinstance(question, int | str)):
            raise CommandError(f"{where}: 'question' must be a number or a text")
        cards.append((card_id, text, None if question is None else str(question)))
    return cards


class Command(BaseCommand):
    help = (
        "Deduplicate a JSON list of values cards (" + SHAPES + ") in file order, through the same placement "
        "code as live cards, in a scratch round created and removed for the run; offline unless a model is "
        'configured. Writes {"assignments": {cardId: valueKey}, "values": N, ...} to --out.'
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="a JSON list of cards")
        parser.add_argument("--out", type=Path, required=True, help="where to write the result (JSON)")
        parser.add_argument(
            "--threshold", type=float, default=0.0, help="a round's dedup_threshold (0: the calibrated default)"
        )

    def handle(self, *args, **options):
        threshold = options["threshold"]
        if not 0 <= threshold <= 1:
            raise CommandError("--threshold must be between 0 and 1")
        out: Path = options["out"]
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such folder for --out")
        cards = read_cards(options["file"])
        result = dedup_scratch_run(cards=cards, threshold=threshold)
        try:
            out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as failed:
            raise CommandError(f"{out}: cannot write it ({failed})") from failed
        self.stdout.write(
            f"{result['cards']} cards placed into {result['values']} values "
            f"({result['review']} waiting for review, {result['judged']} judged by the model); wrote {out}"
        )
