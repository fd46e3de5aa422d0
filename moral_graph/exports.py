"""Exports of a round's published ranking that anyone can recompute, and their verification.

`export_build` reads the database (a selector); everything else here is pure: it takes the export's plain
data, so `verify_export` and the MAI conformance bench need no database. The formats are in docs/exports.md.
"""

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from moral_graph import ranking
from moral_graph.graph import pooled_graph

FORMAT_NAME = "wiser.moral-graph"
FORMAT_VERSION = 1
TOLERANCE = 1e-9
ANSWER_CODES = {"wiser": ranking.WISER, "not_wiser": ranking.NOT_WISER, "not_sure": ranking.UNSURE}
COUNT_KEYS = ("markedWiser", "markedNotWiser", "markedUnsure", "markedLessWise", "impressions")
MAI_COUNT_KEYS = ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
METHODOLOGY = {
    "ranking": "Each context is ranked on its own by moral_graph.ranking.rank_context from the per-vote data in "
    "`votes` and `impressions`: scores with bootstrap intervals over voters (bootstrapResamples resamples drawn "
    "with each ranking's parameters.seed: voters drawn with replacement, or in a context of 20,000 voters or more "
    "a normal weight per voter, as its parameters.bootstrap says), competition ranks, the chance of ranking first "
    "(pTop) and a support level.",
    "edges": "W = wiser answers on the story A->B, N = not wiser, U = not sure, L = wiser answers on the reverse "
    "story B->A in the same context; wiserLikelihood = (W - L) / (W + N + U + L). Top-level edges are pooled "
    "over contexts (as MAI's moral graph is); byContext keeps each context's own figures.",
    "voters": "A vote's participant is a pseudonym; participants are listed in the order the ranking sorts "
    "voters, and only their grouping attributes are given.",
    "recompute": "python manage.py verify_export PATH",
}


class ExportError(Exception):
    """The round cannot be exported, or an export file is not in this format."""


def _pooled_edges(
    rankings: list[dict[str, Any]], snapshot_edges: dict[int, list[dict]]
) -> list[dict[str, Any]]:
    """MAI's edge list: one entry per (source, wiser) pair, counts summed over the contexts where it occurs."""
    pooled: dict[tuple[int, int], dict[str, Any]] = {}
    for entry in rankings:
        for edge in snapshot_edges.get(entry["contextId"], []):
            key = (edge["sourceValueId"], edge["wiserValueId"])
            item = pooled.setdefault(
                key,
                {
                    "sourceValueId": key[0],
                    "wiserValueId": key[1],
                    "contexts": [],
                    "contextIds": [],
                    "counts": dict.fromkeys(COUNT_KEYS, 0),
                    "byContext": [],
                },
            )
            item["contexts"].append(entry["context"])
            item["contextIds"].append(entry["contextId"])
            for name in COUNT_KEYS:
                item["counts"][name] += int(edge["counts"][name])
            item["byContext"].append(
                {
                    "contextId": entry["contextId"],
                    "context": entry["context"],
                    "counts": edge["counts"],
                    "summary": edge["summary"],
                    "maiKept": edge.get("maiKept"),
                    "groups": edge.get("groups", {}),
                    "bridging": edge.get("bridging"),
                }
            )
    edges = [pooled[key] for key in sorted(pooled)]
    if edges:
        stats = ranking.edge_statistics(
            *(
                np.asarray([e["counts"][k] for e in edges])
                for k in ("markedWiser", "markedNotWiser", "markedUnsure", "markedLessWise")
            ),
            np.asarray([e["counts"]["impressions"] for e in edges]),
        )
        for i, edge in enumerate(edges):
            edge["summary"] = {
                name: float(stats[name][i])
                for name in ("wiserLikelihood", "entropy", "maiEntropy", "wilsonLower")
            }
            edge["maiKept"] = bool(stats["maiKept"][i])
    return edges


def export_build(*, round_, run=None) -> dict[str, Any]:
    """A run of the round (by default the one report readers see) with the per-vote data needed to recompute
    it; ExportError if none."""
    from cards.models import CanonicalValue
    from deliberation.models import Participant
    from moral_graph import selectors

    run = selectors.public_run(round_=round_) if run is None else run
    if run is None:
        raise ExportError(f"The round '{round_.slug}' has no published ranking; rank it first (rank_round).")
    snapshots = [s for s in selectors.snapshots_of(run=run) if s.context_id is not None]
    questions: dict[int, dict[str, Any]] = {}
    rankings = []
    snapshot_edges = {}
    for snapshot in snapshots:
        result = snapshot.results
        question = questions.setdefault(
            snapshot.question_id, {"id": snapshot.question_id, "text": snapshot.question.text, "contexts": []}
        )
        question["contexts"].append({"id": snapshot.context_id, "name": snapshot.context.name})
        snapshot_edges[snapshot.context_id] = result.get("edges", [])
        rankings.append(
            {
                "context": snapshot.context.name,
                "contextId": snapshot.context_id,
                "questionId": snapshot.question_id,
                "method": result.get("method", run.method),
                "values": result.get("values", []),
                "support": result.get("support"),
                "pTop": result.get("pTop"),
                "winnerVoters": result.get("winnerVoters"),
                "minVoters": result.get("minVoters", 0),
                "nVotes": result.get("nVotes", 0),
                "nVoters": result.get("nVoters", 0),
                "parameters": result.get("parameters", {}),
                "bridging": result.get("bridging", {}),
            }
        )
    context_names = {r["contextId"]: r["context"] for r in rankings}

    per_context = selectors.votes_at_watermark(round_id=round_.pk, watermark=run.watermark)
    voter_pks = sorted(
        {int(v) for c, block in per_context.items() if c in context_names for v in block.voter.tolist()}
    )
    grouping = list(round_.attributes.filter(is_grouping=True).values_list("key", flat=True))
    people = {
        pk: (pseudonym, attributes or {})
        for pk, pseudonym, attributes in Participant.objects.filter(pk__in=voter_pks).values_list(
            "pk", "pseudonym", "attributes"
        )
    }
    participants = [
        {"id": people[pk][0], "attributes": {k: people[pk][1][k] for k in grouping if k in people[pk][1]}}
        for pk in voter_pks
    ]
    answers = {code: name for name, code in ANSWER_CODES.items()}
    votes = []
    for entry in rankings:
        block = per_context.get(entry["contextId"])
        if block is None:
            continue
        for voter, src, dst, answer in zip(
            block.voter.tolist(), block.src.tolist(), block.dst.tolist(), block.answer.tolist(), strict=True
        ):
            votes.append(
                {
                    "participant": people[voter][0],
                    "context": entry["context"],
                    "contextId": entry["contextId"],
                    "sourceValueId": src,
                    "wiserValueId": dst,
                    "answer": answers[answer],
                }
            )
    assignment_wm = run.parameters.get("assignmentWatermark")
    if assignment_wm is None:
        assignment_wm = selectors.assignment_watermark(round_id=round_.pk)
    shown = selectors.impressions_at(round_id=round_.pk, assignment_watermark=assignment_wm)
    impressions = [
        {"context": context_names[c], "contextId": c, "sourceValueId": src, "wiserValueId": dst, "count": n}
        for c in sorted(shown)
        if c in context_names
        for src, dst, n in sorted(shown[c])
    ]

    value_ids = {v["valueId"] for r in rankings for v in r["values"]}
    values = [
        {
            "id": v.pk,
            "title": v.title,
            "description": v.description,
            "policies": list(v.policies),
            "externalId": v.external_id,
            "questionId": v.question_id,
            "instructionsShort": v.description,
            "evaluationCriteria": list(v.policies),
        }
        for v in CanonicalValue.objects.filter(pk__in=value_ids).order_by("pk")
    ]
    parameters = {
        **run.parameters,
        "method": run.method,
        "watermark": run.watermark,
        "assignmentWatermark": assignment_wm,
        "bootstrapResamples": run.parameters.get("bootstrapResamples", 200),
        "seed": run.parameters.get("seed", run.watermark),
        "softwareVersion": run.software_version,
        "publishedAt": run.published_at.isoformat() if run.published_at else None,
        "runId": run.pk,
        "groupingAttributes": grouping,
    }
    return {
        "format": FORMAT_NAME,
        "formatVersion": FORMAT_VERSION,
        "round": {"slug": round_.slug, "title": round_.title, "stage": round_.stage},
        "questions": list(questions.values()),
        "parameters": parameters,
        "methodology": METHODOLOGY,
        "values": values,
        "edges": _pooled_edges(rankings, snapshot_edges),
        "rankings": rankings,
        "participants": participants,
        "votes": votes,
        "impressions": impressions,
    }


def export_write_json(data: dict[str, Any], path: Path | str) -> Path:
    """Write the export as one JSON file."""
    path = Path(path)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _write_rows(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[_cell(v) for v in row] for row in rows])


def export_write_csv(data: dict[str, Any], directory: Path | str) -> list[Path]:
    """Write the export as a directory of CSV files: values, rankings, edges, votes, participants, impressions."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} exists and is not a directory.")
    directory.mkdir(parents=True, exist_ok=True)
    question_of = {c["id"]: q["id"] for q in data["questions"] for c in q["contexts"]}
    grouping = data["parameters"].get("groupingAttributes", [])
    tables = {
        "values.csv": (
            ["id", "title", "description", "policies", "externalId", "questionId"],
            [
                [v["id"], v["title"], v["description"], v["policies"], v["externalId"], v["questionId"]]
                for v in data["values"]
            ],
        ),
        "rankings.csv": (
            [
                "questionId",
                "contextId",
                "context",
                "method",
                "support",
                "rank",
                "valueId",
                "score",
                "scoreLow",
                "scoreHigh",
                "rankLow",
                "rankHigh",
                "pTop",
                "nVotes",
            ],
            [
                [
                    question_of.get(r["contextId"]),
                    r["contextId"],
                    r["context"],
                    r["method"],
                    r["support"],
                    v["rank"],
                    v["valueId"],
                    v["score"],
                    *v["scoreInterval"],
                    *v["rankInterval"],
                    v["pTop"],
                    v["nVotes"],
                ]
                for r in data["rankings"]
                for v in r["values"]
            ],
        ),
        "edges.csv": (
            [
                "contextId",
                "context",
                "sourceValueId",
                "wiserValueId",
                *COUNT_KEYS,
                "wiserLikelihood",
                "entropy",
                "maiEntropy",
                "wilsonLower",
                "maiKept",
                "bridging",
            ],
            [
                [
                    c["contextId"],
                    c["context"],
                    e["sourceValueId"],
                    e["wiserValueId"],
                    *(c["counts"][k] for k in COUNT_KEYS),
                    *(c["summary"][k] for k in ("wiserLikelihood", "entropy", "maiEntropy", "wilsonLower")),
                    c["maiKept"],
                    c["bridging"],
                ]
                for e in data["edges"]
                for c in e["byContext"]
            ],
        ),
        "votes.csv": (
            ["participant", "contextId", "context", "sourceValueId", "wiserValueId", "answer"],
            [
                [
                    v["participant"],
                    v["contextId"],
                    v["context"],
                    v["sourceValueId"],
                    v["wiserValueId"],
                    v["answer"],
                ]
                for v in data["votes"]
            ],
        ),
        "participants.csv": (
            ["participant", *grouping],
            [[p["id"], *(p["attributes"].get(k, "") for k in grouping)] for p in data["participants"]],
        ),
        "impressions.csv": (
            ["contextId", "context", "sourceValueId", "wiserValueId", "count"],
            [
                [i["contextId"], i["context"], i["sourceValueId"], i["wiserValueId"], i["count"]]
                for i in data["impressions"]
            ],
        ),
    }
    written = []
    for name, (header, rows) in tables.items():
        _write_rows(directory / name, header, rows)
        written.append(directory / name)
    return written


def export_graph(data: dict[str, Any]) -> nx.DiGraph:
    """The pooled moral graph (moral_graph.graph.pooled_graph) with each value's text as node attributes."""
    names = [entry["context"] for entry in data["rankings"]]
    label = {
        entry["contextId"]: entry["context"]
        if names.count(entry["context"]) == 1
        else f"{entry['context']} (context {entry['contextId']})"
        for entry in data["rankings"]
    }
    per_context: dict[str, list[dict]] = {label[entry["contextId"]]: [] for entry in data["rankings"]}
    for edge in data["edges"]:
        for item in edge["byContext"]:
            per_context[label[item["contextId"]]].append(
                {
                    "sourceValueId": edge["sourceValueId"],
                    "wiserValueId": edge["wiserValueId"],
                    "counts": item["counts"],
                }
            )
    graph = pooled_graph(per_context, [v["id"] for v in data["values"]])
    graph.graph.update(
        round=data["round"]["slug"],
        method=data["parameters"]["method"],
        watermark=int(data["parameters"]["watermark"]),
    )
    wins: dict[int, list[str]] = defaultdict(list)
    for entry in data["rankings"]:
        for item in entry["values"]:
            if item["rank"] == 1 and item["nVotes"] > 0:
                wins[item["valueId"]].append(label[entry["contextId"]])
    for value in data["values"]:
        graph.add_node(
            value["id"],
            title=value["title"],
            description=value["description"],
            policies=json.dumps(value["policies"], ensure_ascii=False),
            externalId=value["externalId"],
            questionId=int(value["questionId"]),
            ranksFirstIn=json.dumps(wins.get(value["id"], []), ensure_ascii=False),
        )
    return graph


def export_write_graphml(data: dict[str, Any], path: Path | str) -> Path:
    """Write the pooled moral graph as GraphML."""
    path = Path(path)
    nx.write_graphml(export_graph(data), path)
    return path


def export_load(path: Path | str) -> dict[str, Any]:
    """Read a JSON export and check that it has what recomputation needs; ExportError otherwise."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ExportError(f"{path} does not exist.") from exc
    except OSError as exc:
        raise ExportError(f"{path} is not readable JSON: {exc}") from exc
    return export_parse(raw, name=str(path))


def export_parse(raw: bytes, *, name: str = "The file") -> dict[str, Any]:
    """A JSON export from its bytes (an uploaded file), checked as export_load checks a file; ExportError otherwise."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{name} is not readable JSON: {exc}") from exc
    path = name
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ExportError(f"{path} is not a {FORMAT_NAME} export.")
    missing = [
        k
        for k in ("parameters", "values", "edges", "rankings", "participants", "votes", "impressions")
        if not isinstance(data.get(k), dict if k == "parameters" else list)
    ]
    if missing:
        raise ExportError(f"{path} lacks {', '.join(missing)}.")
    return data


@dataclass
class Verification:
    """The outcome of recomputing an export: one line per value and edge checked, and the mismatches."""

    lines: list[str] = field(default_factory=list)
    mismatches: int = 0
    values_checked: int = 0
    edges_checked: int = 0

    def check(self, ok: bool, line: str) -> None:
        self.lines.append(("match     " if ok else "MISMATCH  ") + line)
        if not ok:
            self.mismatches += 1


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=TOLERANCE)
    return a == b


def recompute_rankings(data: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Rank every context of an export again from its votes alone; results keyed by context id."""
    parameters = data["parameters"]
    voter_number = {p["id"]: i for i, p in enumerate(data["participants"])}
    attributes = [p.get("attributes", {}) for p in data["participants"]]
    grouping = parameters.get("groupingAttributes", [])
    votes_of: dict[int, list[dict]] = defaultdict(list)
    for vote in data["votes"]:
        votes_of[vote["contextId"]].append(vote)
    shown_of: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for item in data["impressions"]:
        shown_of[item["contextId"]].append((item["sourceValueId"], item["wiserValueId"], item["count"]))
    results = {}
    for entry in data["rankings"]:
        votes = votes_of.get(entry["contextId"], [])
        try:
            voter = np.asarray([voter_number[v["participant"]] for v in votes], dtype=np.int64)
            answer = np.asarray([ANSWER_CODES[v["answer"]] for v in votes], dtype=np.int8)
        except KeyError as exc:
            raise ExportError(f"A vote names an unknown participant or answer: {exc}") from exc
        groups = (
            {
                key: np.asarray([str(attributes[i].get(key, "")) for i in voter], dtype=object)
                for key in grouping
            }
            if grouping and len(voter)
            else {}
        )
        results[entry["contextId"]] = ranking.rank_context(
            value_ids=sorted(v["valueId"] for v in entry["values"]),
            voter=voter,
            src=np.asarray([v["sourceValueId"] for v in votes], dtype=np.int64),
            dst=np.asarray([v["wiserValueId"] for v in votes], dtype=np.int64),
            answer=answer,
            impressions=shown_of.get(entry["contextId"], []),
            method=entry.get("method", parameters["method"]),
            n_boot=int(parameters["bootstrapResamples"]),
            # A result copied from an earlier run (its inputs unchanged, decision 45) keeps that run's seed.
            seed=int(entry.get("parameters", {}).get("seed", parameters["seed"])),
            voter_groups=groups,
            # Runs made before posterior draws joined the intervals name no interval method: the bootstrap alone.
            interval=entry.get("parameters", {}).get("interval", "bootstrap"),
            posterior_root=ranking.posterior_root_of(entry.get("parameters", {})),
            # Large contexts ranked since decision 50 name the multiplier bootstrap; all others resampled voters.
            bootstrap=ranking.bootstrap_of(entry.get("parameters", {})),
            min_broad_voters=int(entry.get("minVoters", 0)),
        )
    return results


def export_verify(data: dict[str, Any]) -> Verification:
    """Recompute rankings and edge statistics from an export and compare them, value by value and edge by edge."""
    report = Verification()
    recomputed = recompute_rankings(data)
    titles = {v["id"]: v["title"] for v in data["values"]}
    for entry in data["rankings"]:
        ours = {v["valueId"]: v for v in recomputed[entry["contextId"]]["values"]}
        for given in entry["values"]:
            label = f"{entry['context']}: value {given['valueId']} {titles.get(given['valueId'], '')!r}"
            again = ours.get(given["valueId"])
            if again is None:
                report.check(False, f"{label}: not in the recomputed ranking")
                continue
            differ = [
                f"{key} {given.get(key)} != {again[key]}"
                for key in ("score", "scoreInterval", "rank", "rankInterval", "pTop")
                if not _close(given.get(key), again[key])
            ]
            report.check(
                not differ,
                f"{label}: "
                + ("; ".join(differ) if differ else f"score {again['score']:.6g}, rank {again['rank']}"),
            )
            report.values_checked += 1
        if entry.get("support") != recomputed[entry["contextId"]]["support"]:
            report.check(
                False,
                f"{entry['context']}: support {entry.get('support')!r} != "
                f"{recomputed[entry['contextId']]['support']!r}",
            )

    rebuilt = {
        (e["sourceValueId"], e["wiserValueId"]): e
        for e in _pooled_edges(data["rankings"], {c: r["edges"] for c, r in recomputed.items()})
    }
    for edge in data["edges"]:
        key = (edge["sourceValueId"], edge["wiserValueId"])
        label = f"edge {key[0]} -> {key[1]}"
        again = rebuilt.pop(key, None)
        if again is None:
            report.check(False, f"{label}: no votes or impressions for it in the export")
            continue
        differ = [
            f"{k} {edge['counts'].get(k)} != {again['counts'][k]}"
            for k in COUNT_KEYS
            if edge["counts"].get(k) != again["counts"][k]
        ]
        if not _close(edge["summary"].get("wiserLikelihood"), again["summary"]["wiserLikelihood"]):
            differ.append(
                f"wiserLikelihood {edge['summary'].get('wiserLikelihood')} != "
                f"{again['summary']['wiserLikelihood']}"
            )
        report.check(
            not differ,
            f"{label}: "
            + ("; ".join(differ) if differ else f"wiserLikelihood {again['summary']['wiserLikelihood']:.6g}"),
        )
        report.edges_checked += 1
    for key in sorted(rebuilt):
        report.check(
            False, f"edge {key[0]} -> {key[1]}: recomputed from the votes but missing from the export"
        )
    return report


@dataclass
class Conformance:
    """An export's edges compared with MAI's published moral graph."""

    compared: int = 0
    matched: int = 0
    differences: list[str] = field(default_factory=list)
    kept: int = 0
    kept_missing: list[str] = field(default_factory=list)
    kept_extra: list[str] = field(default_factory=list)


def _mai_entropy(counts: list[float]) -> float:
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c > 0) if total else 0.0


def _mai_counts(found: list[dict], reverse: list[dict]) -> dict[str, float]:
    """MAI's figures for one pair from our per-context counts; impressions are answers on the pair and its reverse."""
    counts = {k: sum(int(c[k]) for c in found) for k in MAI_COUNT_KEYS}
    counts["impressions"] = sum(
        int(c["markedWiser"]) + int(c["markedNotWiser"]) + int(c["markedUnsure"]) for c in [*found, *reverse]
    )
    w, n, u, lw = (counts[k] for k in ("markedWiser", "markedNotWiser", "markedUnsure", "markedLessWise"))
    counts["wiserLikelihood"] = (w - lw) / (w + n + u + lw) if w + n + u + lw else 0.0
    counts["entropy"] = _mai_entropy([w, n, u, lw, counts["impressions"]])
    counts["kept"] = (
        w >= ranking.MAI_MIN_WISER
        and counts["wiserLikelihood"] >= ranking.MAI_MIN_LIKELIHOOD
        and counts["entropy"] <= ranking.MAI_MAX_ENTROPY
    )
    return counts


def mai_graph_compare(data: dict[str, Any], mai_graph: dict[str, Any]) -> Conformance:
    """Each edge of MAI's graph against ours, keyed by MAI card ids (our externalId) and summed over its contexts.

    Checked per edge: the four answer counts, wiserLikelihood, and MAI's impressions (answers on the story and
    on its reverse) and entropy (over W, N, U, L and those impressions) recomputed from our counts. Then MAI's
    rule (W >= 2, wiserLikelihood >= 0.33, entropy <= 1.69) applied to all our pairs, pooled over contexts,
    must select exactly their edges.
    """
    external = {v["id"]: v["externalId"] for v in data["values"]}
    per_context: dict[tuple[str, str, str], dict[str, int]] = {}
    contexts_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for edge in data["edges"]:
        src, dst = external.get(edge["sourceValueId"], ""), external.get(edge["wiserValueId"], "")
        for item in edge["byContext"]:
            per_context[(item["context"], src, dst)] = item["counts"]
            contexts_of[(src, dst)].append(item["context"])

    def figures(src: str, dst: str, contexts: list[str]) -> tuple[list[dict], dict[str, float]]:
        found = [per_context[(c, src, dst)] for c in contexts if (c, src, dst) in per_context]
        reverse = [per_context[(c, dst, src)] for c in contexts if (c, dst, src) in per_context]
        return found, _mai_counts(found, reverse)

    result = Conformance()
    theirs_keys = set()
    for theirs in mai_graph.get("edges", []):
        result.compared += 1
        src, dst = str(theirs["sourceValueId"]), str(theirs["wiserValueId"])
        theirs_keys.add((src, dst))
        label = f"{src} -> {dst} in {', '.join(theirs['contexts'])}"
        found, ours = figures(src, dst, theirs["contexts"])
        if not found:
            result.differences.append(f"{label}: no such edge in our export")
            continue
        differ = [
            f"{k} ours {ours[k]} theirs {theirs['counts'].get(k)}"
            for k in (*MAI_COUNT_KEYS, "impressions")
            if ours[k] != theirs["counts"].get(k)
        ]
        for name in ("wiserLikelihood", "entropy"):
            if not _close(ours[name], theirs["summary"].get(name)):
                differ.append(f"{name} ours {ours[name]!r} theirs {theirs['summary'].get(name)!r}")
        if len(found) < len(theirs["contexts"]):
            differ.append(f"found in {len(found)} of its {len(theirs['contexts'])} contexts")
        if differ:
            result.differences.append(f"{label}: " + "; ".join(differ))
        else:
            result.matched += 1
    kept = {key for key, contexts in contexts_of.items() if figures(*key, contexts)[1]["kept"]}
    result.kept = len(kept)
    result.kept_missing = [f"{s} -> {d}" for s, d in sorted(theirs_keys - kept)]
    result.kept_extra = [f"{s} -> {d}" for s, d in sorted(kept - theirs_keys)]
    return result
