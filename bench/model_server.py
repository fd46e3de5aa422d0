"""Wiser against a real local model: calls per card, seconds per chat turn, judge agreement on labelled pairs.

Run from the project root after `make model-server`:
    .venv/bin/python bench/model_server.py [--chats 3] [--pairs 40] [--base-url http://127.0.0.1:8088/v1]
Without --base-url it starts tests/model_server.py (llama-cpp-python's server, SmolLM2-135M-Instruct, one
thread) on a free port and stops it at the end. It uses a throwaway SQLite database. Prints per chat the
calls and seconds, then the judge's agreement with the labels of tests/data/dedup_pairs.jsonl on a balanced
sample (the same pairs every run), and the gateway's structured mode.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

PAIRS = PROJECT_ROOT / "tests" / "data" / "dedup_pairs.jsonl"
CHATS = [
    [
        "When my friend was grieving I had to choose between giving advice and just staying with her.",
        "I paid attention to whether she wanted words at all, and to the moments she went quiet.",
        "What felt meaningful was that she could set the pace, and that I did not rush to fix anything.",
        "Being present mattered more than being useful.",
    ],
    [
        "A student asked me whether to drop out of university to care for her father.",
        "I noticed how much of her answer was about what others expected of her.",
        "It mattered that she found her own reasons, not mine.",
        "I looked for the choices she could live with in five years.",
    ],
    [
        "My neighbour asked me if his business plan was good, and it was not.",
        "I weighed honesty against how much he had already put into it.",
        "I attended to which facts he could still act on, and to his pride.",
        "Saying the hard part kindly and early felt right.",
    ],
]


def start_server() -> tuple[subprocess.Popen, str]:
    from tests.model_server import _free_port, _wait_until_up, model_path

    port = _free_port()
    log = Path(tempfile.mkdtemp()) / "server.log"
    output = log.open("w")
    process = subprocess.Popen(  # noqa: S603 (our own module)
        [sys.executable, "-m", "tests.model_server", "--port", str(port), "--model", str(model_path())],
        cwd=PROJECT_ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    _wait_until_up(base_url, process, log)
    return process, base_url


def chat_to_card(index: int, answers: list[str]) -> dict:
    from cards import articulation
    from llm.models import LLMCall
    from tests.factories import join, make_round

    participant = join(make_round(slug=f"bench-chat-{index}"))
    before = LLMCall.objects.count()
    session = articulation.articulation_start(participant=participant)
    turn_seconds = []
    for answer in answers:
        started = time.monotonic()
        # The reply is a task sent when the turn commits; with WISER_EAGER_SLOW_TASKS_IN_THREAD off (main) it
        # runs inline here, so the time is the participant's wait for the next question.
        articulation.articulation_turn(session=session, message=answer)
        turn_seconds.append(time.monotonic() - started)
        session.refresh_from_db()
        if session.draft or session.fault:
            break
    draft = dict(session.draft or {})
    calls = LLMCall.objects.order_by("id")[before:]
    return {
        "answers": len(turn_seconds),
        "calls": sum(1 for c in calls if c.outcome != "cached"),
        "calls_failed": sum(1 for c in calls if c.outcome == "error"),
        "requests": sum(c.attempts for c in calls),
        "seconds_per_turn": [round(s, 1) for s in turn_seconds],
        "draft": bool(draft),
        "draft_problems": sorted(articulation.draft_problems(draft).keys()) if draft else [],
        "fault": session.fault or "",
    }


def judge_agreement(count: int) -> dict:
    from cards import dedup, judge

    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(2023)
    same = [r for r in rows if r["same"]]
    different = [r for r in rows if not r["same"]]
    sample = rng.sample(same, min(count // 2, len(same))) + rng.sample(
        different, min(count - count // 2, len(different))
    )
    agree = failed = 0
    confusion = {
        "same_judged_same": 0,
        "same_judged_different": 0,
        "different_judged_same": 0,
        "different_judged_different": 0,
    }
    seconds = []
    for row in sample:
        a, b = dedup.CardText.from_mapping(row["a"]), dedup.CardText.from_mapping(row["b"])
        started = time.monotonic()
        try:
            # The judge as placement calls it, with this pair's one candidate (batches hold up to three).
            (verdict,) = judge.judge_candidates(a, [b])
        except dedup.JudgeUnavailable:
            failed += 1
            continue
        finally:
            seconds.append(time.monotonic() - started)
        if verdict is None:
            failed += 1
            continue
        agree += verdict.same == row["same"]
        label = "same" if row["same"] else "different"
        confusion[f"{label}_judged_{'same' if verdict.same else 'different'}"] += 1
    answered = len(sample) - failed
    return {
        "pairs": len(sample),
        "answered": answered,
        "failed": failed,
        "agreement": round(agree / answered, 3) if answered else None,
        "confusion": confusion,
        "seconds_per_pair_median": round(statistics.median(seconds), 1) if seconds else None,
    }


def print_latency(label: str) -> None:
    """Per purpose: calls, median seconds and tokens in/out of the calls made so far (the cache left out)."""
    from llm.models import LLMCall

    rows: dict[str, list] = {}
    for call in LLMCall.objects.exclude(outcome="cached").exclude(provider="offline"):
        rows.setdefault(call.purpose, []).append(call)
    for purpose, calls in sorted(rows.items()):
        print(
            f"  {label} {purpose}: {len(calls)} calls ({sum(c.outcome == 'error' for c in calls)} failed), "
            f"median {statistics.median(c.latency_ms for c in calls) / 1000:.1f} s, "
            f"median tokens in/out {statistics.median(c.tokens_in for c in calls):.0f}/"
            f"{statistics.median(c.tokens_out for c in calls):.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=len(CHATS))
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--base-url", default="")
    args = parser.parse_args()

    workdir = tempfile.TemporaryDirectory()
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir.name}/bench.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    process = None
    try:
        if args.base_url:
            base_url = args.base_url.rstrip("/")
        else:
            process, base_url = start_server()
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from llm import gateway

        call_command("migrate", verbosity=0)
        settings.OPENAI_API_KEY = "local"
        settings.OPENAI_BASE_URL = base_url
        settings.WISER_CHAT_MODEL = "smollm2"
        settings.WISER_EMBEDDINGS = "offline"
        settings.WISER_LLM_STRUCTURED_MODE = "auto"
        settings.WISER_LLM_MAX_RETRIES = 1
        print(f"server: {base_url}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        chats = [chat_to_card(i, CHATS[i % len(CHATS)]) for i in range(args.chats)]
        for i, chat in enumerate(chats):
            print(f"chat {i + 1}: {json.dumps(chat)}")
        turns = [s for chat in chats for s in chat["seconds_per_turn"]]
        print(
            f"chat: {statistics.mean(c['calls'] for c in chats):.1f} model calls per card draft "
            f"(requests {statistics.mean(c['requests'] for c in chats):.1f}); seconds per answer: median "
            f"{statistics.median(turns):.1f}, max {max(turns):.1f}"
        )
        print(f"structured mode found: {gateway.structured_mode()}")
        print_latency("chat")
        if args.pairs:
            judged = judge_agreement(args.pairs)
            print(f"judge: {json.dumps(judged)}")
            print_latency("judge")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        workdir.cleanup()


if __name__ == "__main__":
    main()
