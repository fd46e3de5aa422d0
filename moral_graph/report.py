"""The ranked report of a round, assembled from its current snapshot (a selector: reads only)."""
from typing import Any

from cards.models import CanonicalValue
from deliberation.models import Round
from moral_graph import selectors


def report_build(*, round_: Round) -> dict[str, Any]:
    """Per question and context: the ranked values with their card text, intervals, support and edges."""
    run = selectors.current_run(round_=round_)
    report: dict[str, Any] = {
        "round": {"slug": round_.slug, "title": round_.title, "stage": round_.stage},
        "ranking": None,
        "questions": [],
    }
    if run is None:
        return report
    report["ranking"] = {
        "method": run.method,
        "watermark": run.watermark,
        "publishedAt": run.published_at.isoformat() if run.published_at else None,
        "parameters": run.parameters,
        "softwareVersion": run.software_version,
    }
    snapshots = selectors.snapshots_of(run=run)
    value_ids = {v["valueId"] for s in snapshots for v in s.results.get("values", [])}
    values = {v.pk: v for v in CanonicalValue.objects.filter(pk__in=value_ids)}
    questions: dict[int, dict[str, Any]] = {}
    for snapshot in snapshots:
        question = questions.setdefault(
            snapshot.question_id,
            {"id": snapshot.question_id, "text": snapshot.question.text, "contexts": []},
        )
        result = snapshot.results
        ranked = []
        for entry in result.get("values", []):
            value = values.get(entry["valueId"])
            if value is None:
                continue
            incoming = [e for e in result.get("edges", []) if e["wiserValueId"] == value.pk]
            ranked.append(
                {
                    **entry,
                    "title": value.title,
                    "description": value.description,
                    "policies": value.policies,
                    "externalId": value.external_id,
                    "incomingEdges": [
                        {**e, "sourceTitle": values[e["sourceValueId"]].title}
                        for e in incoming
                        if e["sourceValueId"] in values
                    ],
                }
            )
        question["contexts"].append(
            {
                "id": snapshot.context_id,
                "name": snapshot.context.name if snapshot.context else "All contexts",
                "support": result.get("support"),
                "pTop": result.get("pTop"),
                "nVotes": result.get("nVotes", 0),
                "nVoters": result.get("nVoters", 0),
                "bridging": result.get("bridging", {}),
                "values": ranked,
            }
        )
    report["questions"] = list(questions.values())
    return report
