"""The ranked report of a round, assembled from its current ranking run (a selector: reads only).

`report_build` reads the database; `graph_layout` and `wrap_label` are pure and place a context's moral
graph for the page's interactive view and its printed image. What each figure means is in docs/report.md.
"""

import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext as _

from cards.dedup import thresholds_for
from cards.models import CanonicalValue
from deliberation.models import Context, Question, Round, Stage
from llm.models import LLMCall
from llm.selectors import round_llm_usage
from moral_graph import ranking, selectors
from moral_graph.layered import layout_table, wiser_layout
from moral_graph.models import TransitionStory
from moral_graph.selectors.participation import (
    cached_figures,
    cached_participation_figures,
    refresh_figures_later,
    refresh_lock_key,
)

log = logging.getLogger(__name__)

# rank_context's default: a group counts for bridging only with this many voters.
MIN_GROUP_VOTERS = 5
# The support levels of moral_graph.ranking._support, as the report states them.
SUPPORT_BROAD_P_TOP = 0.9
SUPPORT_SOME_P_TOP = 0.5

METHOD_DESCRIPTIONS = {
    "bt": "Bradley-Terry: each 'wiser' answer counts as the later value beating the earlier one and each 'not "
    "wiser' as the reverse; 'not sure' answers are left out. Scores are the fitted strengths, scaled to add "
    "up to 1 within a context.",
    "bt_acquiescence": "Bradley-Terry with a fitted tendency to answer 'yes' regardless of the story.",
    "bt_unsure_tie": "Bradley-Terry in which 'not sure' counts as half a win for each value.",
    "mai_pagerank": "The Meaning Alignment Institute's method: PageRank over the edges that pass their filter "
    "(at least 2 'wiser' answers, wiser likelihood at least 0.33, entropy at most 1.69 bits).",
}


def _answer_counts(edges: list[dict]) -> dict[int, dict[str, dict[str, int]]]:
    """Per value: the answers on stories moving towards it and on stories moving away from it."""
    totals: dict[int, dict[str, dict[str, int]]] = {}
    for edge in edges:
        counts = edge["counts"]
        answers = {
            "wiser": counts["markedWiser"],
            "notWiser": counts["markedNotWiser"],
            "unsure": counts["markedUnsure"],
        }
        for value_id, direction in ((edge["wiserValueId"], "towards"), (edge["sourceValueId"], "awayFrom")):
            side = totals.setdefault(
                value_id,
                {
                    "towards": {"wiser": 0, "notWiser": 0, "unsure": 0},
                    "awayFrom": {"wiser": 0, "notWiser": 0, "unsure": 0},
                },
            )[direction]
            for key, n in answers.items():
                side[key] += n
    return totals


def _wiser_share(counts: dict[str, int]) -> float | None:
    answered = counts["markedWiser"] + counts["markedNotWiser"] + counts["markedUnsure"]
    return counts["markedWiser"] / answered if answered else None


def _edge_entry(edge: dict, titles: dict[int, str], story: str) -> dict[str, Any]:
    return {
        **edge,
        "sourceTitle": titles.get(edge["sourceValueId"], ""),
        "wiserTitle": titles.get(edge["wiserValueId"], ""),
        "story": story,
        "wiserShare": _wiser_share(edge["counts"]),
    }


def _bridging_summary(bridging: dict[str, Any]) -> list[dict[str, Any]]:
    """Per grouping attribute, the winner's endorsement as a list the page can show in a table."""
    rows = []
    for attribute, item in sorted(bridging.items()):
        groups = [
            {
                "name": name,
                "favour": group["favour"],
                "against": group["against"],
                "voters": group["voters"],
                "share": group["share"],
                "counted": name in item.get("groupsWithEnoughVoters", []),
            }
            for name, group in sorted(item.get("groups", {}).items())
        ]
        rows.append(
            {
                "attribute": attribute,
                "endorsed": item.get("winnerEndorsed", False),
                "minShare": item.get("minShare"),
                "groupsCounted": len(item.get("groupsWithEnoughVoters", [])),
                "groups": groups,
            }
        )
    return rows


def rank_label(interval: list[int]) -> str:
    """A rank as readers see it: its 95% range ("1–3"), never a bare number when the range is wider (pure)."""
    low, high = interval
    return str(low) if low == high else f"{low}–{high}"


def _shown(result: dict, limit: int | None) -> list[dict]:
    """The ranked values the report details: the first `limit` in rank order, or all of them."""
    ranked = result.get("values", [])
    return ranked if limit is None else ranked[:limit]


def _context_entry(
    snapshot, values: dict[int, CanonicalValue], stories: dict, labels: dict, limit: int | None
) -> dict:
    """One context of the report, from a snapshot trimmed by `_trimmed_snapshots` (texts read live)."""
    result = snapshot.results
    edges = result.get("edges", [])
    titles = {pk: v.title for pk, v in values.items()}
    answers = result["answers"]
    context_id = snapshot.context_id
    detailed = _shown(result, limit)
    detailed_ids = {entry["valueId"] for entry in detailed}
    # Only the edges into detailed values are shown (in their cards and, among themselves, in the graph).
    edges = [e for e in edges if e["wiserValueId"] in detailed_ids]
    story_of = {
        (e["sourceValueId"], e["wiserValueId"]): stories.get(
            (context_id, e["sourceValueId"], e["wiserValueId"]), ""
        )
        for e in edges
    }
    edges_into: dict[int, list[dict]] = {}
    for e in edges:
        edges_into.setdefault(e["wiserValueId"], []).append(e)
    ranked = []
    for entry in detailed:
        value = values.get(entry["valueId"])
        if value is None:
            continue
        incoming = [
            _edge_entry(e, titles, story_of[(e["sourceValueId"], e["wiserValueId"])])
            for e in edges_into.get(value.pk, [])
            if e["sourceValueId"] in values
        ]
        incoming.sort(key=lambda e: (-e["counts"]["markedWiser"], e["sourceTitle"]))
        empty = {"wiser": 0, "notWiser": 0, "unsure": 0}
        ranked.append(
            {
                **entry,
                "rankLabel": rank_label(entry["rankInterval"]),
                "title": value.title,
                "description": value.description,
                "policies": value.policies,
                "externalId": value.external_id,
                "answers": answers.get(value.pk, {"towards": dict(empty), "awayFrom": dict(empty)}),
                "incomingEdges": incoming,
            }
        )
    # One scale for the whole context (every value, detailed or not), so a bar reads the same whatever the
    # number of values detailed.
    scale = result["barScale"]
    for v in ranked:
        v["bar"] = {
            key: round(min(100.0, 100.0 * x / scale), 1)
            for key, x in (
                ("low", v["scoreInterval"][0]),
                ("high", v["scoreInterval"][1]),
                ("point", v["score"]),
            )
        }
        v["bar"]["width"] = round(v["bar"]["high"] - v["bar"]["low"], 1)
    has_votes = result.get("nVotes", 0) > 0
    winner = ranked[0] if ranked and has_votes and (len(ranked) == 1 or ranked[1]["rank"] > 1) else None
    shown = {v["valueId"] for v in ranked}
    graph_edges = [
        {
            "source": e["sourceValueId"],
            "target": e["wiserValueId"],
            "wiser": e["counts"]["markedWiser"],
            "notWiser": e["counts"]["markedNotWiser"],
            "unsure": e["counts"]["markedUnsure"],
            "reverse": e["counts"]["markedLessWise"],
            "share": _wiser_share(e["counts"]),
            "story": story_of[(e["sourceValueId"], e["wiserValueId"])],
        }
        for e in edges
        if e["sourceValueId"] in shown
        and e["wiserValueId"] in shown
        and e["counts"]["markedWiser"] + e["counts"]["markedNotWiser"] + e["counts"]["markedUnsure"] > 0
    ]
    graph_nodes = [
        {
            "id": v["valueId"],
            "title": v["title"],
            "rank": v["rank"],
            "score": v["score"],
            "pTop": v["pTop"],
            "label": labels.get(v["valueId"], [v["title"]]),
        }
        for v in ranked
    ]
    return {
        "id": context_id,
        "name": snapshot.context.name if snapshot.context else "All contexts",
        "description": snapshot.context.description if snapshot.context else "",
        "support": result.get("support"),
        "pTop": result.get("pTop"),
        # Distinct people on the winner's stories, and the fewest a support level is called from.
        "winnerVoters": result.get("winnerVoters"),
        "minVoters": result.get("minVoters", ranking.MIN_BROAD_VOTERS),
        "nVotes": result.get("nVotes", 0),
        "nVoters": result.get("nVoters", 0),
        "methodParameters": result.get("parameters", {}),
        "bridging": result.get("bridging", {}),
        "bridgingSummary": _bridging_summary(result.get("bridging", {})),
        "winner": None
        if winner is None
        else {"valueId": winner["valueId"], "title": winner["title"], "pTop": winner["pTop"]},
        "values": ranked,
        # How many values the context ranks; `values` details the first ones (report_build's limit).
        "valuesTotal": result["valuesTotal"],
        "graph": {
            "nodes": graph_nodes,
            "edges": graph_edges,
            "layout": graph_layout(graph_nodes, graph_edges),
        },
    }


def report_participation(*, round_: Round) -> dict[str, Any]:
    """Who took part and how (moral_graph.selectors.participation: the same figures the organizers' console shows)."""
    figures = cached_participation_figures(round_=round_)
    return {key: value for key, value in figures.items() if key not in ("cardsPending", "cardsReview", "coverage")}


def report_version(*, round_: Round, run, public) -> dict[str, Any]:
    """Which version of the result this is: the public one or an earlier or unpublished run; whether and why the
    public result was revised, with the earlier versions it replaced (docs/report.md, "Published means frozen")."""
    revisions = selectors.ranking_revisions(round_=round_)
    frozen = round_.stage == Stage.PUBLISHED and round_.published_ranking_id is not None
    if public is not None and run.pk == public.pk:
        version = "published" if frozen else "live"
    elif run.pk in selectors.once_public_run_ids(round_=round_):
        version = "earlier"
    else:
        version = "unpublished"
    revision = next((r for r in revisions if r["runId"] == run.pk), None)
    return {
        "version": version,
        "frozen": frozen,
        "publicRunId": public.pk if public is not None else None,
        "revised": revision is not None,
        "revision": revision,
        "revisions": revisions,
    }


def methodology_key(round_id: int) -> str:
    return f"wiser:methodology:v1:{round_id}"


def methodology_counts(round_: Round) -> tuple[list, list, dict]:
    """The model calls, story origins and token usage behind the round (counted; cached as figures)."""
    models = list(
        LLMCall.objects.filter(round_id=round_.pk)
        .values("purpose", "kind", "provider", "model", "prompt_version")
        .annotate(calls=Count("id"))
        .order_by("purpose", "model", "prompt_version")
    )
    story_origins = list(
        TransitionStory.objects.filter(round=round_)
        .values("origin", "prompt_version")
        .annotate(stories=Count("id"))
        .order_by("origin", "prompt_version")
    )
    return models, story_origins, round_llm_usage(round_id=round_.pk)


def report_methodology(*, round_: Round, run) -> dict[str, Any]:
    """The parameters, thresholds, models and prompt versions behind the round's current ranking."""
    dedup = thresholds_for(round_.dedup_threshold)
    models, story_origins, usage = cached_figures(
        methodology_key(round_.pk), lambda: methodology_counts(round_), refresh=lambda: refresh_figures_later(round_.pk),
        lock=refresh_lock_key(round_.pk),
    )
    parameters = dict(run.parameters) if run is not None else {}
    method = run.method if run is not None else round_.ranking_method
    return {
        "method": method,
        "methodDescription": METHOD_DESCRIPTIONS.get(method, ""),
        "runId": run.pk if run is not None else None,
        "watermark": run.watermark if run is not None else None,
        "assignmentWatermark": parameters.get("assignmentWatermark"),
        "structureVersion": run.structure_version if run is not None else None,
        "publishedAt": run.published_at.isoformat() if run is not None and run.published_at else None,
        "softwareVersion": run.software_version if run is not None else "",
        "bootstrapResamples": parameters.get("bootstrapResamples"),
        "seed": parameters.get("seed"),
        "storyNeighbours": parameters.get("storyNeighbours"),
        "minVotesPerStory": parameters.get("minVotesPerStory", round_.min_votes_per_story),
        "storiesPerParticipant": round_.stories_per_participant,
        "stale": round_.ranking_dirty_since is not None,
        "thresholds": {
            "supportBroadPTop": SUPPORT_BROAD_P_TOP,
            "supportSomePTop": SUPPORT_SOME_P_TOP,
            "supportMinVoters": ranking.MIN_BROAD_VOTERS,
            "intervals": ranking.DEFAULT_INTERVAL,
            "bridgingMinGroupVoters": MIN_GROUP_VOTERS,
            "maiMinWiser": ranking.MAI_MIN_WISER,
            "maiMinLikelihood": ranking.MAI_MIN_LIKELIHOOD,
            "maiMaxEntropy": ranking.MAI_MAX_ENTROPY,
            "dedupThreshold": dedup.threshold,
            "dedupReviewBand": [dedup.review_low, dedup.review_high],
        },
        "models": models,
        "storyOrigins": story_origins,
        "tokens": {"in": usage["tokens_in"], "out": usage["tokens_out"], "calls": usage["calls"]},
        "recompute": [
            f"python manage.py export_round {round_.slug} --format json --out {round_.slug}.json",
            f"python manage.py verify_export {round_.slug}.json",
        ],
    }


def _first_values(result: dict) -> list[dict]:
    """The values a context ranks first: its winner, or the values tied for first; none before any vote."""
    if not result.get("nVotes"):
        return []
    return [v for v in result.get("values", []) if v["rank"] == 1]


def _summary_questions(*, snapshots, titles: dict[int, str]) -> list[dict[str, Any]]:
    """The summary's part that depends on the run: per context the value(s) ranked first with the ranking's own
    support level, rank range, interval and chance of being first."""
    questions: dict[int, dict[str, Any]] = {}
    for snapshot in snapshots:
        result = snapshot.results
        question = questions.setdefault(
            snapshot.question_id, {"id": snapshot.question_id, "text": snapshot.question.text, "contexts": []}
        )
        first = _first_values(result)
        question["contexts"].append(
            {
                "id": snapshot.context_id,
                "name": snapshot.context.name if snapshot.context else "All contexts",
                "support": result.get("support"),
                "tied": len(first) > 1,
                "winners": [
                    {
                        "valueId": v["valueId"],
                        "title": titles.get(v["valueId"], ""),
                        "score": v["score"],
                        "scoreInterval": v["scoreInterval"],
                        "rankInterval": v["rankInterval"],
                        "rankLabel": rank_label(v["rankInterval"]),
                        "pTop": v["pTop"],
                    }
                    for v in first
                ],
                "winnerVoters": result.get("winnerVoters"),
                "minVoters": result.get("minVoters", ranking.MIN_BROAD_VOTERS),
                "nVotes": result.get("nVotes", 0),
                "nVoters": result.get("nVoters", 0),
                # Trimmed snapshots (`_trimmed_snapshots`) carry the count of every value they ranked.
                "valuesTotal": result.get("valuesTotal", len(result.get("values", []))),
            }
        )
    return list(questions.values())


def _summary(
    *,
    run,
    participation: dict[str, Any],
    questions: list[dict[str, Any]] | None = None,
    snapshots=None,
    titles: dict[int, str] | None = None,
) -> dict[str, Any]:
    """The answer first (docs/report.md, "The summary"): what was asked, how many took part, and per context the
    value(s) ranked first (`_summary_questions`, given or built from snapshots and titles)."""
    if questions is None:
        questions = _summary_questions(snapshots=snapshots, titles=titles or {})
    return {
        "runId": run.pk,
        "method": run.method,
        "people": {
            "joined": participation["joined"],
            "voted": participation["voters"],
            "finished": participation["finished"],
            "cards": participation["cards"],
            "values": participation["values"],
            "votes": participation["votes"],
        },
        "questions": questions,
    }


# A context's first values are detailed (card text, incoming stories, graph); the rest are counted. At a million
# votes a context can rank hundreds of values: all of them made a 90 MB report. The exports hold everything.
REPORT_VALUES_PER_CONTEXT = 30


def values_per_context_param(raw: str | None) -> int | None:
    """The `values` query parameter of the report: absent for the default, "all", or a whole number from 1."""
    if raw is None or raw == "":
        return REPORT_VALUES_PER_CONTEXT
    if raw == "all":
        return None
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:  # ASCII digits: str.isdigit() also takes "²"
        raise ValidationError({"values": [_("Give a whole number from 1, or 'all'.")]})
    return int(raw)


@dataclass
class _Trimmed:
    """A snapshot cut to what the report shows; its context and question are read live (their texts can change)."""

    question_id: int
    context_id: int | None
    results: dict
    context: Any = None
    question: Any = None


def _trim(result: dict, values_per_context: int | None) -> dict:
    """One snapshot's result cut to the detailed values and the edges into them, with its bar scale and counts."""
    ranked = result.get("values", [])
    detailed = _shown(result, values_per_context)
    ids = {v["valueId"] for v in detailed}
    trimmed = {k: v for k, v in result.items() if k not in ("values", "edges")}
    # The summary names every value ranked first, also when ties put some beyond the limit.
    trimmed["values"] = detailed + [v for v in _first_values(result) if v["valueId"] not in ids]
    trimmed["edges"] = [e for e in result.get("edges", []) if e["wiserValueId"] in ids]
    trimmed["valuesTotal"] = len(ranked)
    # Answers towards and away from each detailed value count every edge, kept or not.
    answers = _answer_counts(result.get("edges", []))
    trimmed["answers"] = {pk: answers[pk] for pk in ids if pk in answers}
    # One scale for the whole context (every value, detailed or not), so a bar reads the same whatever
    # the number of values detailed.
    trimmed["barScale"] = max((v["scoreInterval"][1] for v in ranked if v["nVotes"] > 0), default=0.0) or 1.0
    return trimmed


def _trimmed_snapshots(run, values_per_context: int | None) -> list[_Trimmed]:
    """The run's snapshots cut by `_trim`, each built once per result and limit and kept in the cache under the
    snapshot its result was computed in (a result never changes; a result copied into a later run, its context
    unchanged, is found under the same key, so a new run parses only its changed contexts); the contexts and
    questions are attached fresh on every call."""
    if values_per_context is None:  # "all" at a million votes is tens of megabytes: rebuilt each time
        rows = [
            (snapshot.question_id, snapshot.context_id, _trim(snapshot.results, None))
            for snapshot in selectors.snapshots_of(run=run)
        ]
    else:
        rows = _trimmed_cached(run, values_per_context)
    contexts = {c.pk: c for c in Context.objects.filter(pk__in=[r[1] for r in rows if r[1] is not None])}
    questions = {q.pk: q for q in Question.objects.filter(pk__in=[r[0] for r in rows])}
    return [
        _Trimmed(question_id=q, context_id=c, results=result, context=contexts.get(c), question=questions.get(q))
        for q, c, result in rows
    ]


# A result's trimmed snapshot stays in the cache this long (results never change; old keys simply expire).
REPORT_CACHE_SECONDS = 24 * 3600


def _trimmed_cached(run, values_per_context: int) -> list[tuple[int, int | None, dict]]:
    origins = selectors.snapshot_origins(run=run)
    keys = {origin: f"wiser:report-snapshot:v3:{origin}:{values_per_context}" for _, origin, _, _ in origins}
    try:
        found = cache.get_many(list(keys.values()))
    except Exception:
        found = {}
    origin_of = {pk: origin for pk, origin, _, _ in origins}
    missing = [pk for pk, origin in origin_of.items() if keys[origin] not in found]
    if missing:
        built = {
            keys[origin_of[snapshot.pk]]: _trim(snapshot.results, values_per_context)
            for snapshot in selectors.snapshots_of(run=run, ids=missing)
        }
        found.update(built)
        try:
            cache.set_many(built, timeout=REPORT_CACHE_SECONDS)
        except Exception:  # served uncached
            log.warning("report of run %s not cached", run.pk, exc_info=True)
    return [(question, context, found[keys[origin]]) for _, origin, question, context in origins]


def report_build(
    *, round_: Round, values_per_context: int | None = REPORT_VALUES_PER_CONTEXT, run=None, questions: bool = True
) -> dict[str, Any]:
    """Per question and context: ranked values with card text, intervals, support, votes, edges and bridging
    (see `_report_build`). With `questions=False` only the frame: round, ranking, participation, methodology and
    the summary's head counts, without its questions or the report's (for a page whose rendered parts are cached)."""
    return _report_build(
        round_=round_, values_per_context=values_per_context, run=run, as_fragment=False, questions=questions
    )


def _report_build(
    *, round_: Round, values_per_context: int | None, run, as_fragment: bool, questions: bool = True
) -> dict[str, Any]:
    """Per question and context: ranked values with card text, intervals, support, votes, edges and bridging.

    `values_per_context` limits the detailed values of each context to the first ones by rank (None: all).
    `run` is the run to show (an earlier version, or an organizer's preview); by default the public one
    (`selectors.public_run`: frozen once the round is published).
    """
    public = selectors.public_run(round_=round_)
    run = public if run is None else run
    report: dict[str, Any] = {
        "round": {
            "slug": round_.slug,
            "title": round_.title,
            "description": round_.description,
            "stage": round_.stage,
            "reportVisibility": round_.report_visibility,
        },
        "ranking": None,
        "summary": None,
        "questions": [],
        "participation": report_participation(round_=round_),
        "methodology": report_methodology(round_=round_, run=run),
    }
    if run is None:
        return report
    report["ranking"] = {
        "runId": run.pk,
        "method": run.method,
        "watermark": run.watermark,
        "publishedAt": run.published_at.isoformat() if run.published_at else None,
        "parameters": run.parameters,
        "softwareVersion": run.software_version,
        **report_version(round_=round_, run=run, public=public),
    }
    report["ranking"]["valuesPerContext"] = values_per_context
    if not questions:
        report["summary"] = _summary(run=run, questions=[], participation=report["participation"])
        return report
    rows, summary = _report_questions_json(round_=round_, run=run, values_per_context=values_per_context)
    report["summary"] = _summary(
        run=run, questions=orjson.loads(summary), participation=report["participation"]
    )
    report["questions"] = orjson.Fragment(rows) if as_fragment else orjson.loads(rows)
    return report


def report_json(*, round_: Round, values_per_context: int | None = REPORT_VALUES_PER_CONTEXT, run=None) -> bytes:
    """`report_build` as JSON bytes: the cached questions are spliced in as they are stored, not decoded and
    encoded again (at a million votes that is most of a report request's time)."""
    try:
        return orjson.dumps(
            _report_build(round_=round_, values_per_context=values_per_context, run=run, as_fragment=True)
        )
    except TypeError:  # an integer orjson cannot hold (`?values=` of 20 digits echoed back): the standard encoder
        import json

        report = _report_build(round_=round_, values_per_context=values_per_context, run=run, as_fragment=False)
        return json.dumps(report, ensure_ascii=False).encode()


def _content_fingerprint(round_: Round) -> str:
    """What the report's texts depend on besides the run: the newest story and value edits (indexed reads) and
    the questions' and contexts' texts. A new run, or any of these changing, is a new cache key."""
    import hashlib

    stories = TransitionStory.objects.filter(round=round_).order_by("-updated_at").values_list("updated_at", flat=True)
    values = CanonicalValue.objects.filter(round=round_).order_by("-updated_at").values_list("updated_at", flat=True)
    texts = list(
        Context.objects.filter(question__round=round_)
        .order_by("id")
        .values_list(
            "id",
            "name",
            "description",
            "translations",
            "question_id",
            "question__text",
            "question__translations",
            "question__order",
            "order",
        )
    )
    digest = hashlib.sha256(repr((stories.first(), values.first(), texts)).encode()).hexdigest()
    return digest[:24]


def report_content_key(*, round_: Round, run_id: int | None, values_per_context: int | None) -> str:
    """What the report's questions depend on: the run, the limit and the content fingerprint (the page caches its
    rendered parts under this key, the reader's language and its layout: `frontend.report_views.page_parts`)."""
    return f"{run_id}:{values_per_context}:{_content_fingerprint(round_)}"


def _report_questions_json(*, round_: Round, run, values_per_context: int | None) -> tuple[bytes, bytes]:
    """The report's questions and contexts, and its summary's, for a run as JSON, built once per run, limit and
    content fingerprint and then served from the cache (the heavy part of the report: snapshots, texts,
    layouts)."""
    key = None
    if values_per_context is not None:
        key = "wiser:report-questions:v3:" + report_content_key(
            round_=round_, run_id=run.pk, values_per_context=values_per_context
        )
        try:
            cached = cache.get(key)
        except Exception:
            cached = None
        if cached is not None:
            return cached
    snapshots = _trimmed_snapshots(run, values_per_context)
    detailed = {v["valueId"] for s in snapshots for v in _shown(s.results, values_per_context)}
    # The detailed values, the summary's winners, and the values the detailed ones' incoming stories come from.
    value_ids = detailed | {v["valueId"] for s in snapshots for v in _first_values(s.results)} | {
        e["sourceValueId"]
        for s in snapshots
        for e in s.results.get("edges", [])
        if e["wiserValueId"] in detailed
    }
    values = {v.pk: v for v in CanonicalValue.objects.filter(pk__in=value_ids)}
    stories = {
        (c, a, b): text
        for c, a, b, text in TransitionStory.objects.filter(
            round=round_, is_hidden=False, to_value_id__in=detailed
        ).values_list("context_id", "from_value_id", "to_value_id", "text")
    }
    labels = {pk: wrap_label(v.title) for pk, v in values.items()}
    summary = _summary_questions(snapshots=snapshots, titles={pk: v.title for pk, v in values.items()})
    questions: dict[int, dict[str, Any]] = {}
    for snapshot in snapshots:
        question = questions.setdefault(
            snapshot.question_id,
            {"id": snapshot.question_id, "text": snapshot.question.text, "contexts": []},
        )
        question["contexts"].append(_context_entry(snapshot, values, stories, labels, values_per_context))
    built = (orjson.dumps(list(questions.values())), orjson.dumps(summary))
    if key is not None:
        try:
            cache.set(key, built, timeout=REPORT_CACHE_SECONDS)
        except Exception:  # served uncached
            log.warning("report of run %s not cached", run.pk, exc_info=True)
    return built


def wrap_label(title: str, width: int = 16, max_lines: int = 3) -> list[str]:
    """A value's title cut into short lines at word boundaries for a graph label; the last line may end in …."""
    lines: list[str] = []
    for word in title.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1 :])[: width - 1] + "…"]
    return lines or [""]


def graph_layout(nodes: list[dict], edges: list[dict]) -> dict[str, Any]:
    """A context's values in layers, wiser above (moral_graph.layered), with the same data as table rows (pure)."""
    layout = wiser_layout(nodes, edges)
    layout["table"] = layout_table(layout, {n["id"]: n["title"] for n in nodes})
    return layout
