"""Guidance from a round's published ranking: the routing index, the answer to a situation, logging, exports."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.cache import cache

from cards.models import CanonicalValue
from core.errors import Conflict, WrongStage
from core.text import clean_text
from deliberation.models import Round, Stage
from llm import gateway
from moral_graph import guidance, selectors
from moral_graph.models import GuidanceRequest, RankingRun

SITUATION_MAX_LENGTH = 4000
PROFILE_CACHE_SECONDS = 24 * 60 * 60
EMBED_PURPOSE = "guidance"


@dataclass(frozen=True)
class GuidanceIndex:
    """A round's published contexts with their routing profiles in one embedding space."""

    round: Round
    run: RankingRun
    contexts: list[guidance.GuidanceContext]
    profiles: guidance.Profiles
    space: str

    @property
    def threshold(self) -> float:
        return guidance.threshold_for(self.space)


def guidance_available(*, round_: Round) -> bool:
    """Whether the round's ranking may guide anyone: it is published, or the organizer shows it live."""
    return round_.stage == Stage.PUBLISHED or (round_.report_live and round_.stage != Stage.DRAFT)


def guidance_contexts(*, round_: Round) -> tuple[RankingRun, list[guidance.GuidanceContext]]:
    """The contexts of the round's current published ranking with their ranked values (best first)."""
    if not guidance_available(round_=round_):
        raise WrongStage("Guidance is available once the round's results are published.")
    run = selectors.public_run(round_=round_)
    if run is None:
        raise Conflict("No ranking has been published for this round yet.", code="no_ranking")
    snapshots = [s for s in selectors.snapshots_of(run=run) if s.context_id is not None]
    value_ids = {v["valueId"] for s in snapshots for v in s.results.get("values", [])}
    values = {v.pk: v for v in CanonicalValue.objects.filter(pk__in=value_ids)}
    contexts = []
    for snapshot in snapshots:
        result = snapshot.results
        ranked = [
            guidance.GuidanceValue(
                value_id=entry["valueId"],
                title=values[entry["valueId"]].title,
                description=values[entry["valueId"]].description,
                policies=list(values[entry["valueId"]].policies),
                score=entry["score"],
                score_interval=list(entry["scoreInterval"]),
                rank=entry["rank"],
                rank_interval=list(entry["rankInterval"]),
                p_top=entry.get("pTop", 0.0),
                n_votes=entry.get("nVotes", 0),
            )
            for entry in result.get("values", [])
            if entry["valueId"] in values
        ]
        contexts.append(
            guidance.GuidanceContext(
                context_id=snapshot.context_id,
                name=snapshot.context.name,
                description=snapshot.context.description,
                question=snapshot.question.text,
                support=result.get("support") or "contested",
                p_top=result.get("pTop") or 0.0,
                n_votes=result.get("nVotes", 0),
                n_voters=result.get("nVoters", 0),
                values=ranked,
            )
        )
    return run, contexts


def guidance_index(*, round_: Round, space: str | None = None) -> GuidanceIndex:
    """The round's routing index, from the cache when the same texts were embedded in the same space before."""
    run, contexts = guidance_contexts(round_=round_)
    texts = guidance.profile_texts(contexts)
    space = space or gateway.embedding_space(round_.pk)
    cached = cache.get(_profile_key(space, texts))
    if cached is not None:
        return GuidanceIndex(round=round_, run=run, contexts=contexts, profiles=cached, space=space)
    vectors, space = gateway.embed_tagged(texts, purpose=EMBED_PURPOSE, round_id=round_.pk)
    matrix = guidance.profiles(contexts, vectors)
    cache.set(_profile_key(space, texts), matrix, PROFILE_CACHE_SECONDS)
    return GuidanceIndex(round=round_, run=run, contexts=contexts, profiles=matrix, space=space)


def guidance_route(
    *, index: GuidanceIndex, situations: list[str], use_model: bool = True, threshold: float | None = None
) -> list[guidance.Routing]:
    """Route each (already cleaned) situation: the model's classifier when available, else embedding similarity."""
    round_id = index.round.pk
    vectors, space = gateway.embed_tagged(situations, purpose=EMBED_PURPOSE, round_id=round_id)
    if space != index.space:
        index = guidance_index(round_=index.round, space=space)
        if space != index.space:
            # The provider changed between the two calls (budget spent, server down): embed once more.
            vectors, _ = gateway.embed_tagged(situations, purpose=EMBED_PURPOSE, round_id=round_id)
    cut_off = index.threshold if threshold is None else threshold
    ask_model = use_model and gateway.model_available(round_id)
    routings = []
    for situation, vector in zip(situations, vectors, strict=True):
        routing = None
        if ask_model:
            routing = guidance.route_with_model(
                situation, index.contexts, vector, index.profiles, threshold=cut_off, round_id=round_id
            )
        routings.append(routing or guidance.route_by_similarity(vector, index.profiles, threshold=cut_off))
    return routings


def guidance_answer(*, round_: Round, situation: Any, use_model: bool = True) -> dict[str, Any]:
    """Route a situation and answer with its contexts, winning values and guidance; logs it only if the round asks."""
    text = clean_text(situation, field="situation", max_length=SITUATION_MAX_LENGTH, multiline=True)
    index = guidance_index(round_=round_)
    routing = guidance_route(index=index, situations=[text], use_model=use_model)[0]
    answer = guidance.routing_answer(index.contexts, routing, round_title=round_.title)
    answer["round"] = {"slug": round_.slug, "title": round_.title}
    answer["ranking"] = {
        "method": index.run.method,
        "watermark": index.run.watermark,
        "publishedAt": index.run.published_at.isoformat() if index.run.published_at else None,
    }
    if round_.guidance_logging:
        best = routing.matches[0] if routing.matches else None
        guidance_request_log(
            round_=round_,
            situation=text,
            context_id=index.contexts[best.index].context_id if best else None,
            similarity=best.similarity if best else None,
        )
    return answer


def guidance_request_log(
    *, round_: Round, situation: str, context_id: int | None, similarity: float | None
) -> GuidanceRequest:
    """Store one situation sent for guidance (only for rounds whose organizer switched logging on)."""
    return GuidanceRequest.objects.create(
        round=round_, situation=situation, matched_context_id=context_id, similarity=similarity
    )


def guidance_export(*, round_: Round, out: Path) -> list[Path]:
    """Write per context its winning values and guidance block (JSON, Markdown), and every ranked value as JSONL."""
    run, contexts = guidance_contexts(round_=round_)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    meta = {
        "round": {"slug": round_.slug, "title": round_.title},
        "ranking": {
            "runId": run.pk,
            "method": run.method,
            "watermark": run.watermark,
            "publishedAt": run.published_at.isoformat() if run.published_at else None,
        },
    }
    lines = []
    for position, context in enumerate(contexts, start=1):
        answer = guidance.context_answer(context, round_title=round_.title)
        stem = f"context-{position:02d}-{_file_slug(context.name)}"
        json_path = out / f"{stem}.json"
        json_path.write_text(json.dumps({**meta, "context": answer}, ensure_ascii=False, indent=2) + "\n")
        md_path = out / f"{stem}.md"
        md_path.write_text(_markdown(round_, context, answer), encoding="utf-8")
        written += [json_path, md_path]
        winners = {value["id"] for value in answer["values"]}
        for value in context.values:
            lines.append(
                {
                    "round": round_.slug,
                    "contextId": context.context_id,
                    "context": context.name,
                    "valueId": value.value_id,
                    "title": value.title,
                    "policies": value.policies,
                    "score": value.score,
                    "scoreInterval": value.score_interval,
                    "rank": value.rank,
                    "winning": value.value_id in winners,
                    "support": context.support,
                }
            )
    jsonl_path = out / "values.jsonl"
    jsonl_path.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    written.append(jsonl_path)
    return written


def _markdown(round_: Round, context: guidance.GuidanceContext, answer: dict[str, Any]) -> str:
    parts = [f"# {context.name}", "", f"Round: {round_.title} (`{round_.slug}`)"]
    if context.question:
        parts.append(f"Question: {context.question}")
    parts += [f"Support for the winner: {context.support}", "", "## Winning values", ""]
    for value in answer["values"]:
        low, high = value["scoreInterval"]
        parts.append(
            f"### {value['title']}\n\n{value['description']}\n\n"
            f"Score {value['score']:.3f} (95% interval {low:.3f}–{high:.3f}), rank {value['rank']} "
            f"(interval {value['rankInterval'][0]}–{value['rankInterval'][1]})\n"
        )
        parts += [f"- {policy}" for policy in value["policies"]]
        parts.append("")
    parts += ["## Guidance block", "", "```text", answer["guidance"], "```", ""]
    return "\n".join(parts)


def _file_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "context"


def _profile_key(space: str, texts: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([space, texts], ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"guidance:profiles:{digest}"
