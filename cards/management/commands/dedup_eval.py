"""Evaluate deduplication on labelled pairs of values cards: calibrate on one split and report on the other, and
calibrate on all topics but one and report on the one left out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from cards import dedup, judge

DEFAULT_FRACTION = 0.5
EMBED_PURPOSE = "dedup.eval"


def read_pairs(
    path: Path,
) -> tuple[list[tuple[dedup.CardText, dedup.CardText]], np.ndarray, list[str | None]]:
    """The labelled pairs of a JSONL file ({"a": card, "b": card, "same": bool, "topic"?: text} a line; other keys
    ignored), their labels and their topics (None where a line has none)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as missing:
        raise CommandError(f"{path}: no such file") from missing
    except (OSError, UnicodeDecodeError) as unreadable:
        raise CommandError(f"{path}: cannot read it ({unreadable})") from unreadable
    pairs: list[tuple[dedup.CardText, dedup.CardText]] = []
    labels: list[bool] = []
    topics: list[str | None] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as bad:
            raise CommandError(f"{path}, line {number}: not valid JSON ({bad.msg})") from bad
        if not isinstance(item, dict):
            raise CommandError(f"{path}, line {number}: expected an object with a, b and same")
        if not isinstance(item.get("same"), bool):
            raise CommandError(f"{path}, line {number}: 'same' must be true or false")
        if item.get("topic") is not None and not isinstance(item["topic"], str):
            raise CommandError(f"{path}, line {number}: 'topic' must be text")
        cards = []
        for side in ("a", "b"):
            try:
                cards.append(dedup.CardText.from_mapping(item.get(side)))
            except ValueError as wrong:
                raise CommandError(f"{path}, line {number}, card '{side}': {wrong}") from wrong
        pairs.append((cards[0], cards[1]))
        labels.append(item["same"])
        topics.append(item.get("topic") or None)
    if not pairs:
        raise CommandError(f"{path}: no labelled pairs")
    return pairs, np.array(labels, dtype=bool), topics


def embedder(round_id: int | None = None) -> dedup.Embed:
    """The configured embedding provider (the gateway), or the offline model when there is no gateway."""
    try:
        from llm import gateway
    except ImportError:
        from llm.offline import embed_texts

        return embed_texts
    return lambda texts: gateway.embed(texts, purpose=EMBED_PURPOSE, round_id=round_id)


def pair_scores(pairs: list[tuple[dedup.CardText, dedup.CardText]], embed: dedup.Embed) -> np.ndarray:
    """The similarity of each pair, embedding every distinct card once. All the file's cards form the population
    that is centred away, as a question's values are in placement (docs/dedup.md)."""
    distinct = list(dict.fromkeys(card for pair in pairs for card in pair))
    position = {card: i for i, card in enumerate(distinct)}
    vectors = dedup.embed_cards(distinct, embed)
    population = dedup.Population.of(vectors)
    centred = [dedup.centred(v, population) for v in vectors]
    return np.array([dedup.similarity(centred[position[a]], centred[position[b]]) for a, b in pairs])


def leave_one_topic_out(
    scores: np.ndarray, labels: np.ndarray, topics: list[str | None]
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Each topic's pairs predicted with thresholds calibrated on the other topics' pairs: (forced "same" answers,
    automatic merges above the band, topics used); None when the file has fewer than two topics."""
    named = sorted({t for t in topics if t is not None})
    if len(named) < 2:
        return None
    forced = np.zeros(len(scores), dtype=bool)
    automatic = np.zeros(len(scores), dtype=bool)
    group = np.array([t if t is not None else "" for t in topics], dtype=object)
    for topic in {*named, *([""] if None in topics else [])}:
        held = group == topic
        rest = ~held
        if not labels[rest].any() or labels[rest].all():
            raise CommandError(f"leaving out topic '{topic}' leaves no same or no different pairs to calibrate on")
        thresholds = dedup.calibrate(scores[rest], labels[rest])
        forced[held] = scores[held] >= thresholds.threshold
        automatic[held] = scores[held] >= thresholds.review_high
    return forced, automatic, len(named)


class Command(BaseCommand):
    help = (
        'Score labelled pairs of values cards (JSONL: {"a": card, "b": card, "same": bool}), calibrate '
        "the threshold on a fraction of them and report precision, recall and F1 on the held-out rest."
    )

    def add_arguments(self, parser):
        parser.add_argument("pairs", type=Path, help="a JSONL file of labelled pairs")
        parser.add_argument(
            "--calibrate-on",
            type=float,
            default=DEFAULT_FRACTION,
            metavar="FRACTION",
            help="share of pairs used to calibrate (0: use the default thresholds and report on all pairs)",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the calibration split")

    def handle(self, *args, **options):
        fraction = options["calibrate_on"]
        if not 0 <= fraction < 1:
            raise CommandError("--calibrate-on must be at least 0 and below 1")
        pairs, labels, topics = read_pairs(options["pairs"])
        calibration, held_out = dedup.stratified_split(labels, fraction, options["seed"])
        if fraction > 0 and (not labels[calibration].any() or labels[calibration].all()):
            raise CommandError("the calibration split needs both same and different pairs; use more pairs")
        if not held_out.size:
            raise CommandError("no pairs are left to evaluate on; lower --calibrate-on")

        scores = pair_scores(pairs, embedder())
        if fraction > 0:
            thresholds = dedup.calibrate(scores[calibration], labels[calibration])
            origin = f"calibrated on {calibration.size} pairs"
        else:
            thresholds = dedup.DEFAULT_THRESHOLDS
            origin = "default"

        with_model = judge.judge_available()
        predicted = np.array([dedup.is_same(scores[i], thresholds) for i in held_out])
        in_band = judged = 0
        for position, i in enumerate(held_out):
            candidates = [(1, float(scores[i]))]
            if not dedup.doubtful(candidates, thresholds):
                continue
            in_band += 1
            if not with_model:
                continue
            try:
                verdicts = dict(enumerate(judge.judge_candidates(pairs[i][0], [pairs[i][1]]), start=1))
            except dedup.JudgeUnavailable:
                continue
            judged += 1
            placement = dedup.settle(candidates, thresholds, verdicts)
            if placement.decision != "review":
                predicted[position] = placement.decision == "same"
        metrics = dedup.binary_metrics(predicted, labels[held_out])
        automatic = dedup.binary_metrics(scores[held_out] >= thresholds.review_high, labels[held_out])

        out = self.stdout.write
        named = sorted({t for t in topics if t is not None})
        out(
            f"pairs {len(pairs)} ({int(labels.sum())} same), topics {len(named)}, "
            f"provider {'model judge' if with_model else 'offline'}"
        )
        out(
            f"thresholds ({origin}): same at {thresholds.threshold:.3f}, "
            f"review band [{thresholds.review_low:.3f}, {thresholds.review_high:.3f})"
        )
        if labels[held_out].any() and not labels[held_out].all():
            out(
                f"held-out pairs {held_out.size}, AUC {dedup.roc_auc(scores[held_out], labels[held_out]):.3f}"
            )
        else:
            out(f"held-out pairs {held_out.size}")
        out(f"doubtful (a judge would see them) {in_band} ({in_band / held_out.size:.0%}), judged by the model {judged}")
        out(f"model calls per card {judged / held_out.size:.2f}")
        out(
            f"automatic merges (above the band, no judge): precision {automatic.precision:.2f} "
            f"recall {automatic.recall:.2f}"
        )
        loto = leave_one_topic_out(scores, labels, topics)
        if loto is None:
            out("leave-one-topic-out: the file has fewer than two topics")
        else:
            forced, auto, count = loto
            left_out = dedup.binary_metrics(forced, labels)
            merged = dedup.binary_metrics(auto, labels)
            out(
                f"leave-one-topic-out over {count} topics, all {len(pairs)} pairs: precision "
                f"{left_out.precision:.2f} recall {left_out.recall:.2f} F1 {left_out.f1:.2f}; automatic merges "
                f"precision {merged.precision:.2f} recall {merged.recall:.2f}"
            )
        out(f"precision {metrics.precision:.2f}")
        out(f"recall {metrics.recall:.2f}")
        out(f"F1 {metrics.f1:.2f}")
